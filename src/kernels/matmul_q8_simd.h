// Loop structure shared by the integer (Q8-activation) matmul kernels
// (internal to ri_kernels); the float kernels' counterpart is matmul_simd.h,
// whose notes on internal linkage apply here too.
//
// Weight blocks of Q4_0, Q4_1 and Q8_0 are read as unsigned or signed 8-bit
// codes u with a scale d and an offset m per block: a weight is d * u + m
// (Q4_0: u = nibble, m = -8 d; Q4_1: stored d and m; Q8_0: u = the signed
// code, no offset). Against an activation block with codes q and scale s,
//   sum_i w_i q_i s = d s (sum_i u_i q_i) + m (s sum_i q_i),
// where the first sum is an exact integer dot product and the second factor
// is Q8Activations::scaled_sums. A row kernel accumulates the first term per
// block and keeps each block's m in `offsets` (room for padded_blocks); the
// offset terms join the accumulators as one dot product at the end of the
// row.
//
// An `Isa` provides kMaxTile and
//   template <class Format, int M> static void Row(const uint8_t* w_row,
//       const Q8Activations& x, int first_row, float* offsets, float* y,
//       size_t y_stride)
// computing Y[m] for x rows first_row .. first_row + M - 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/q8_activations.h"
#include "kernels/types.h"

namespace ri::simd {

// Block layouts: bytes per block, and whether blocks carry an offset m.
struct FormatQ4_0 {
  static constexpr size_t kBlockBytes = 18;
  static constexpr bool kHasOffsets = true;
};
struct FormatQ4_1 {
  static constexpr size_t kBlockBytes = 20;
  static constexpr bool kHasOffsets = true;
};
struct FormatQ8_0 {
  static constexpr size_t kBlockBytes = 34;
  static constexpr bool kHasOffsets = false;
};

// Weight rows per pass over the x tiles (as kRowChunk in matmul_simd.h).
constexpr int64_t kQ8RowChunk = 64;

template <class Isa, class Format, int M>
void TileRowsQ8(int m, const uint8_t* w_rows, size_t row_bytes, int64_t num_rows,
                const Q8Activations& x, int first_row, float* offsets, float* y, size_t y_stride) {
  if constexpr (M > 1) {
    if (m < M) {
      TileRowsQ8<Isa, Format, M - 1>(m, w_rows, row_bytes, num_rows, x, first_row, offsets, y,
                                     y_stride);
      return;
    }
  }
  for (int64_t r = 0; r < num_rows; ++r) {
    Isa::template Row<Format, M>(w_rows + r * row_bytes, x, first_row, offsets, y + r, y_stride);
  }
}

template <class Isa, class Format>
void RunQ8Rows(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
               int64_t row_begin, int64_t row_end) {
  // Offsets past num_blocks meet zero sums; they must be finite.
  thread_local std::vector<float> offsets;
  offsets.assign(x.padded_blocks(), 0.0f);
  // Results of a chunk go to a local tile first (see RunRows).
  float tile[Isa::kMaxTile][kQ8RowChunk];
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kQ8RowChunk) {
    const int64_t rows = row_end - r0 < kQ8RowChunk ? row_end - r0 : kQ8RowChunk;
    for (int m0 = 0; m0 < x.num_rows(); m0 += Isa::kMaxTile) {
      const int m = x.num_rows() - m0 < Isa::kMaxTile ? x.num_rows() - m0 : Isa::kMaxTile;
      TileRowsQ8<Isa, Format, Isa::kMaxTile>(m, w.data + r0 * w.row_bytes, w.row_bytes, rows, x, m0,
                                             offsets.data(), &tile[0][0], kQ8RowChunk);
      for (int i = 0; i < m; ++i) {
        float* y_row = y + (m0 + i) * y_stride + r0;
        for (int64_t r = 0; r < rows; ++r) y_row[r] = tile[i][r];
      }
    }
  }
}

// Entry point of an ISA file: w.type is Q4_0, Q4_1 or Q8_0.
template <class Isa>
void MatMulQ8Rows(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                  int64_t row_begin, int64_t row_end) {
  switch (w.type) {
    case TensorType::Q4_0:
      return RunQ8Rows<Isa, FormatQ4_0>(w, x, y, y_stride, row_begin, row_end);
    case TensorType::Q4_1:
      return RunQ8Rows<Isa, FormatQ4_1>(w, x, y, y_stride, row_begin, row_end);
    default:
      return RunQ8Rows<Isa, FormatQ8_0>(w, x, y, y_stride, row_begin, row_end);
  }
}

// The instantiations, compiled with their ISA's flags.
void MatMulQ8RowsScalar(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                        int64_t row_begin, int64_t row_end);
void MatMulQ8RowsAvx2(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                      int64_t row_begin, int64_t row_end);
void MatMulQ8RowsAvx512Vnni(const WeightMatrix& w, const Q8Activations& x, float* y,
                            size_t y_stride, int64_t row_begin, int64_t row_end);

}  // namespace ri::simd
