// Activation rows rounded to 8-bit integers, one float scale per block of 32
// values, for the integer matmul kernels (ActivationPrecision::kQ8).
//
// Block b of a row holds codes q[0..31] in [-127, 127] and a scale s with
// value ~ q * s: s = (largest |value| of the block) / 127, q = the value / s
// rounded to nearest (ties to even), so each value is off by at most s / 2.
// An all-zero block has s = 0 and zero codes. The quantization is plain SSE2
// and identical at every SIMD level.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ri {

class Q8Activations {
 public:
  // Quantizes `num_rows` rows of `cols` floats (a multiple of 32), `stride`
  // floats apart. Reuses the storage of earlier calls.
  void Quantize(const float* x, int num_rows, size_t stride, int64_t cols);

  int num_rows() const { return num_rows_; }
  int64_t num_blocks() const { return num_blocks_; }
  // Blocks per stored row: num_blocks rounded up to a multiple of 16, so that
  // kernels can take blocks in pairs and sums 16 at a time; padding blocks
  // have zero codes, scales and sums.
  int64_t padded_blocks() const { return padded_blocks_; }

  // The 32 codes of block `block` of row `row` (64-byte aligned for even
  // blocks).
  const int8_t* codes(int row, int64_t block) const {
    return codes_ + (static_cast<size_t>(row) * padded_blocks_ + block) * 32;
  }
  // Scales of row `row`, padded_blocks of them.
  const float* scales(int row) const { return &scales_[static_cast<size_t>(row) * padded_blocks_]; }
  // Per block: scale * (sum of the codes), what a per-block weight offset m
  // multiplies (sum_i (d u_i + m) q_i s = d s sum u_i q_i + m s sum q_i).
  const float* scaled_sums(int row) const {
    return &scaled_sums_[static_cast<size_t>(row) * padded_blocks_];
  }

 private:
  int num_rows_ = 0;
  int64_t num_blocks_ = 0;
  int64_t padded_blocks_ = 0;
  std::vector<int8_t> storage_;  // codes_ points 64-byte aligned into it
  int8_t* codes_ = nullptr;
  std::vector<float> scales_;
  std::vector<float> scaled_sums_;
};

}  // namespace ri
