// Loop structure shared by the integer (Q8-activation) matmul kernels
// (internal to ri_kernels); the float kernels' counterpart is matmul_simd.h,
// whose notes on internal linkage apply here too.
//
// Every kernel computes Y[m][r] for weight row r and activation row m with
// the same float operations in the same order, in eight independent partial
// sums (so that a single row has parallel work):
//   p[0..7] = 0
//   for each block b, j = b % 8:
//     p[j] = fma((float) dot_b, d_b * s_b, p[j])
//     Q4_1 only: p[j] = fma(m_b, x.scaled_sums(m)[b], p[j])
//   Y = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))
// where d_b (and Q4_1's offset m_b) are the weight block's f16 fields, s_b
// the activation block's scale, and dot_b the exact integer dot product of
// the weight codes (Q4_0: nibble - 8, Q4_1: nibble, Q8_0: the signed code)
// with the activation codes. Integer sums are exact in any order, so the
// results are bitwise identical at every SIMD level, for every batch size,
// tiling and row range.
//
// An `Isa` provides
//   template <class Format> static float Row(const uint8_t* w_row,
//       const Q8Activations& x, int row)
// (the AVX-512 VNNI kernel, over weight strips, has its own loop).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/matmul.h"
#include "kernels/q8_activations.h"
#include "kernels/types.h"

namespace ri::simd {

// Block layouts: bytes per block, where the codes start, and how the codes
// and the offset enter the block's dot product.
struct FormatQ4_0 {
  static constexpr size_t kBlockBytes = 18;
  static constexpr size_t kCodesAt = 2;
  static constexpr int kCodeBias = 8;  // weight = d * (nibble - 8)
  static constexpr bool kHasOffset = false;
};
struct FormatQ4_1 {
  static constexpr size_t kBlockBytes = 20;
  static constexpr size_t kCodesAt = 4;
  static constexpr int kCodeBias = 0;
  static constexpr bool kHasOffset = true;  // weight = d * nibble + m (f16 at byte 2)
};
struct FormatQ8_0 {
  static constexpr size_t kBlockBytes = 34;
  static constexpr size_t kCodesAt = 2;
  static constexpr int kCodeBias = 0;  // signed codes
  static constexpr bool kHasOffset = false;
};

constexpr int kPartialSums = 8;

// What the strip kernels (weight_strips.h) need of a format: its tensor
// type, and the weight bias they subtract as (sum of activation codes) <<
// kBiasShift (Q4_0's nibbles enter without their 8, Q8_0's codes as code +
// 128).
template <class Format>
constexpr bool kIsQ8_0 = std::is_same_v<Format, FormatQ8_0>;
template <class Format>
constexpr TensorType kType = kIsQ8_0<Format>      ? TensorType::Q8_0
                             : Format::kHasOffset ? TensorType::Q4_1
                                                  : TensorType::Q4_0;
template <class Format>
constexpr int kBiasShift = kIsQ8_0<Format>          ? 7
                           : Format::kCodeBias == 8 ? 3
                                                    : 0;

// The final sum of the partial sums p(0) .. p(7), in the order above: of
// floats, or lane by lane of the strip kernels' vectors (GCC's vector +).
// Each caller's own `p` makes each ISA file's instantiation its own.
template <class Partial>
inline auto SumPartials(Partial p) {
  return ((p(0) + p(1)) + (p(2) + p(3))) + ((p(4) + p(5)) + (p(6) + p(7)));
}

// The float steps above for weight row `w_row` against activation row
// `row`, one block at a time: block_dot(block, b) gives the exact integer
// dot_b of block b (at `block`), fp16(p) the f16 value at p as a float. The
// one-row kernels without vector lanes per block share it; each ISA file
// instantiates it with its own callables, so each keeps its own copy.
template <class Format, class BlockDot, class Fp16>
float RowByBlocks(const uint8_t* w_row, const Q8Activations& x, int row, BlockDot block_dot,
                  Fp16 fp16) {
  const float* scales = x.scales(row);
  const float* scaled_sums = x.scaled_sums(row);
  float partial[kPartialSums] = {};
  for (int64_t b = 0; b < x.num_blocks(); ++b) {
    const uint8_t* block = w_row + b * Format::kBlockBytes;
    float& p = partial[b % kPartialSums];
    p = std::fma(static_cast<float>(block_dot(block, b)), fp16(block) * scales[b], p);
    if constexpr (Format::kHasOffset) p = std::fma(fp16(block + 2), scaled_sums[b], p);
  }
  return SumPartials([&](int j) { return partial[j]; });
}

// Weight rows per pass over the x tiles (as kRowChunk in matmul_simd.h).
constexpr int64_t kQ8RowChunk = 64;
constexpr int64_t kPrefetchRowsAhead = 4;

// Activation rows per pass over a chunk of weight rows.
constexpr int kQ8TileRows = 8;

template <class Isa, class Format>
void RunQ8Rows(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
               int64_t row_begin, int64_t row_end) {
  // Results of a chunk go to a local tile first (see RunRows).
  float tile[kQ8TileRows][kQ8RowChunk];
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kQ8RowChunk) {
    const int64_t rows = row_end - r0 < kQ8RowChunk ? row_end - r0 : kQ8RowChunk;
    for (int m0 = 0; m0 < x.num_rows(); m0 += kQ8TileRows) {
      const int m = x.num_rows() - m0 < kQ8TileRows ? x.num_rows() - m0 : kQ8TileRows;
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* w_row = w.data + (r0 + r) * w.row_bytes;
        // A prefetch of a later row hides the memory latency that the
        // hardware prefetcher leaves (on the first pass over the tiles: the
        // others find the chunk's rows in cache).
        if (m0 == 0 && r0 + r + kPrefetchRowsAhead < row_end) {
          const uint8_t* ahead = w_row + kPrefetchRowsAhead * w.row_bytes;
          for (size_t at = 0; at < w.row_bytes; at += 64) __builtin_prefetch(ahead + at);
        }
        for (int i = 0; i < m; ++i) tile[i][r] = Isa::template Row<Format>(w_row, x, m0 + i);
      }
      for (int i = 0; i < m; ++i) {
        float* y_row = y + (m0 + i) * y_stride + r0;
        for (int64_t r = 0; r < rows; ++r) y_row[r] = tile[i][r];
      }
    }
  }
}

// Calls run(Format{}) with the format of `type`: Q4_0, Q4_1 or Q8_0.
template <class Run>
void WithFormat(TensorType type, Run run) {
  switch (type) {
    case TensorType::Q4_0:
      return run(FormatQ4_0{});
    case TensorType::Q4_1:
      return run(FormatQ4_1{});
    default:
      return run(FormatQ8_0{});
  }
}

// Entry point of an ISA file: w.type is Q4_0, Q4_1 or Q8_0.
template <class Isa>
void MatMulQ8Rows(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                  int64_t row_begin, int64_t row_end) {
  WithFormat(w.type, [&]<class Format>(Format) {
    RunQ8Rows<Isa, Format>(w, x, y, y_stride, row_begin, row_end);
  });
}

// The instantiations, compiled with their ISA's flags.
void MatMulQ8RowsScalar(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                        int64_t row_begin, int64_t row_end);
void MatMulQ8RowsAvx2(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                      int64_t row_begin, int64_t row_end);
// w.strips built (weight_strips.h). The VNNI kernel takes the activation
// rows from first_row on (a multiple of kAmxRows); the AMX kernel the first
// num_rows (a multiple of kAmxRows), where AmxActive().
constexpr int kAmxRows = 16;
void MatMulQ8StripsAvx512Vnni(const WeightMatrix& w, const Q8Activations& x, int first_row,
                              float* y, size_t y_stride, int64_t row_begin, int64_t row_end);
void MatMulQ8StripsAmx(const WeightMatrix& w, const Q8Activations& x, int num_rows, float* y,
                       size_t y_stride, int64_t row_begin, int64_t row_end);

}  // namespace ri::simd
