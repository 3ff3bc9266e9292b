#include "model/ops.h"

#include <cmath>

#include "kernels/row_kernels.h"

namespace ri {

Rope::Rope(const ModelConfig& config, std::span<const float> factors)
    : layout_(config.rope_layout),
      rope_dims_(config.rope_dims),
      position_scale_(1.0f / config.rope_linear_scale),
      inverse_frequencies_(config.rope_dims / 2) {
  // Same float32 arithmetic as the reference implementations:
  // inv_freq[i] = 1 / base^(2i / dims).
  for (int i = 0; i < rope_dims_ / 2; ++i) {
    float inverse = 1.0f / std::pow(config.rope_theta, static_cast<float>(2 * i) /
                                                           static_cast<float>(rope_dims_));
    if (!factors.empty()) inverse /= factors[i];
    inverse_frequencies_[i] = inverse;
  }
}

void Rope::Angles(int position, float* table) const {
  const float scaled_position = static_cast<float>(position) * position_scale_;
  const int half = rope_dims_ / 2;
  for (int i = 0; i < half; ++i) {
    const float angle = scaled_position * inverse_frequencies_[i];
    table[i] = std::cos(angle);
    table[half + i] = std::sin(angle);
  }
}

void Rope::Apply(const float* table, int head_stride,
                 std::initializer_list<Heads> head_sets) const {
  const int half = rope_dims_ / 2;
  for (const Heads& set : head_sets) {
    for (int h = 0; h < set.count; ++h) {
      RotateHead(set.data + static_cast<size_t>(h) * head_stride, table, table + half, half,
                 layout_ == RopeLayout::kAdjacentPairs);
    }
  }
}

}  // namespace ri
