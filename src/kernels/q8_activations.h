// Activation rows rounded to 8-bit integers, one float scale per block of 32
// values, for the integer matmul kernels (ActivationPrecision::kQ8).
//
// Block b of a row holds codes q[0..31] in [-127, 127] and a scale s with
// value ~ q * s: s = (largest |value| of the block) / 127, q = the value / s
// rounded to nearest (ties to even), so each value is off by at most s / 2.
// An all-zero block has s = 0 and zero codes. The quantization is SSE2, or
// AVX-512 where the level allows, with identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ri {

class ThreadPool;

class Q8Activations {
 public:
  // Quantizes `num_rows` rows of `cols` floats (a multiple of 32), `stride`
  // floats apart, on `pool`'s threads if given. Reuses the storage of
  // earlier calls.
  void Quantize(const float* x, int num_rows, size_t stride, int64_t cols,
                ThreadPool* pool = nullptr);

  int num_rows() const { return num_rows_; }
  // Unique to each Quantize call (0 before the first): kernels that lay the
  // rows out anew can tell whether their copy is still current.
  uint64_t version() const { return version_; }
  int64_t num_blocks() const { return num_blocks_; }

  // The 32 codes of block `block` of row `row` (32-byte aligned).
  const int8_t* codes(int row, int64_t block) const {
    return codes_ + (static_cast<size_t>(row) * num_blocks_ + block) * 32;
  }
  // Per block of row `row`: the scale, the sum of the codes, and
  // scale * (float) sum, which a per-block weight offset m multiplies
  // (sum_i (d u_i + m) q_i s = d s sum u_i q_i + m s sum q_i).
  const float* scales(int row) const { return &scales_[Index(row, 0)]; }
  const int32_t* code_sums(int row) const { return &code_sums_[Index(row, 0)]; }
  const float* scaled_sums(int row) const { return &scaled_sums_[Index(row, 0)]; }
  // Per block of row `row`: the sum of its first 16 codes (Q6_K weights
  // have a scale and a bias per 16 weights).
  const int32_t* half_code_sums(int row) const { return &half_code_sums_[Index(row, 0)]; }

 private:
  // Rows a thread quantizes at a time: a prompt's rows split, a decode
  // step's few stay on the calling thread.
  static constexpr size_t kRowsPerTask = 16;

  size_t Index(int row, int64_t block) const {
    return static_cast<size_t>(row) * num_blocks_ + block;
  }
  int num_rows_ = 0;
  int64_t num_blocks_ = 0;
  uint64_t version_ = 0;
  std::vector<int8_t> storage_;  // codes_ points 64-byte aligned into it
  int8_t* codes_ = nullptr;
  std::vector<float> scales_;
  std::vector<int32_t> code_sums_;
  std::vector<float> scaled_sums_;
  std::vector<int32_t> half_code_sums_;
};

}  // namespace ri
