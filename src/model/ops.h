// Element-wise and per-row operations of the transformer, in float.
#pragma once

#include <initializer_list>
#include <span>
#include <vector>

#include "model/config.h"

namespace ri {

// Rotary position embedding of one head's vector, in place. The angles of a
// position are a table computed once per forward pass and shared by every
// layer (they do not depend on the layer).
class Rope {
 public:
  // `factors` (may be empty) divide the frequencies (llama 3.1 rope_freqs).
  Rope(const ModelConfig& config, std::span<const float> factors);
  // Floats of one position's table: rope_dims / 2 cosines, then as many sines.
  int table_size() const { return rope_dims_; }
  // Fills `table` (table_size() floats) for `position`.
  void Angles(int position, float* table) const;
  // Consecutive heads, `head_stride` floats apart.
  struct Heads {
    float* data;
    int count;
  };
  // Rotates every head of `head_sets` (a row's queries and keys) by the
  // angles in `table` (from Angles).
  void Apply(const float* table, int head_stride, std::initializer_list<Heads> head_sets) const;

 private:
  RopeLayout layout_;
  int rope_dims_;
  float position_scale_;
  std::vector<float> inverse_frequencies_;  // rope_dims / 2
};

}  // namespace ri
