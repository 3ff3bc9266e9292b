// Q4_0 / Q4_1 weights regrouped 16 rows side by side for the AVX-512 VNNI
// kernels with Q8 activations (matmul_q4_strips_avx512.cc): one vector holds
// the same 4 codes of 16 weight rows, one row per 32-bit lane, so vpdpbusd
// against 4 activation codes broadcast to every lane yields the partial dot
// products of 16 rows at once, and the blocks' scaling is one multiply-add
// per activation row for all 16. The weights are decoded once per block for
// up to 8 activation rows, with no activation layout besides the rows.
//
// Strip s holds weight rows 16 s .. 16 s + 15 (rows past the matrix are
// zero). Its blocks are stored in the order of the partial sums they feed
// (matmul_q8_simd.h): blocks j, j + 8, j + 16, ... for j = 0 .. 7. A block:
//   4 x 64 bytes of codes: vector k, lane i = the code bytes 4k .. 4k + 3 of
//     row i's block (low nibbles: codes 4k .., high nibbles: codes 16 + 4k ..)
//   16 f16 d, row i at i; Q4_1 only: 16 f16 m likewise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ri {

struct WeightMatrix;

class Q4Strips {
 public:
  static constexpr int kRows = 16;
  static constexpr size_t kCodeBytes = 256;
  static constexpr size_t kFieldBytes = 32;  // 16 f16

  // `w` is Q4_0 or Q4_1.
  explicit Q4Strips(const WeightMatrix& w);

  int64_t num_strips() const { return num_strips_; }
  // Blocks in storage order, each block_bytes() (64-byte aligned strips).
  const uint8_t* strip(int64_t s) const { return data_ + s * strip_bytes_; }
  size_t block_bytes() const { return block_bytes_; }

 private:
  int64_t num_strips_ = 0;
  size_t block_bytes_ = 0;
  size_t strip_bytes_ = 0;
  std::vector<uint8_t> storage_;  // data_ points 64-byte aligned into it
  uint8_t* data_ = nullptr;
};

}  // namespace ri
