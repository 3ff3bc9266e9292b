// Element-wise and per-row operations of the transformer, in float.
#pragma once

#include <initializer_list>
#include <span>
#include <vector>

#include "model/config.h"

namespace ri {

// Rotary position embedding of one head's vector, in place.
class Rope {
 public:
  // `factors` (may be empty) divide the frequencies (llama 3.1 rope_freqs).
  Rope(const ModelConfig& config, std::span<const float> factors);
  // Consecutive heads, `head_stride` floats apart.
  struct Heads {
    float* data;
    int count;
  };
  // Rotates every head of `head_sets` (a row's queries and keys) for
  // `position`, computing the angles once.
  void Apply(int position, int head_stride, std::initializer_list<Heads> head_sets) const;

 private:
  RopeLayout layout_;
  int rope_dims_;
  float position_scale_;
  std::vector<float> inverse_frequencies_;  // rope_dims / 2
};

}  // namespace ri
