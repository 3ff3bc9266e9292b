// AVX-512 matmul kernel for float activations over weight strips
// (weight_strips.h); this file alone is compiled with AVX-512 and runs only
// when ActiveSimdLevel() is kAvx512.
//
// Lane i of a strip vector belongs to weight row i, so a weight code is
// decoded for 16 rows at once by a shift and a table lookup, and the
// weight is d * code + offset in one fused rounding: exactly the
// DequantizeRow value (d * code is exact in float). Each weight then meets
// the activation broadcast to every lane. Compared with decoding a block of
// one row through a lookup table (matmul_avx512.cc), this needs no shuffles,
// and a block's scales are one load for 16 rows.
//
// Every (weight row, activation row) pair runs the same operations in the
// same order whatever the batch, the row range and the strips processed
// together: two accumulators per pair (even and odd elements of each block),
// blocks in storage order, then their sum.
#include <algorithm>
#include <utility>
#include <vector>

#include "kernels/matmul_q8_simd.h"
#include "kernels/matmul_simd.h"
#include "kernels/weight_strips.h"
#include "kernels/x86_intrinsics.h"

namespace ri::simd {

namespace {

// Activation rows per pass over a strip (accumulators stay in registers).
constexpr int kMaxRows = 8;

template <class Format>
constexpr TensorType kType = Format::kHasOffset ? TensorType::Q4_1 : TensorType::Q4_0;

// The weight added to d * code: Q4_1's offset m, or Q4_0's -8 d (exact: a
// power of two times an f16).
template <class Format>
__m512 Offset(const uint8_t* fields, __m512 d) {
  if constexpr (Format::kHasOffset) {
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(fields + WeightStrips::kFieldBytes)));
  } else {
    return _mm512_mul_ps(d, _mm512_set1_ps(-8.0f));
  }
}

// Code `e` of a block in every lane, as a float: vector (e % 16) / 4 holds
// code bytes 4k .. 4k + 3, low nibbles for codes 0 .. 15, high ones for
// 16 .. 31. vpermps reads only the low 4 bits of each lane, so once the
// nibble is shifted down it picks its value from a table of 0 .. 15: one
// instruction instead of a mask and a conversion. `e` is a constant once
// the element loop is unrolled.
[[gnu::always_inline]] inline __m512 CodeValue(const __m512i* raw, int e, __m512 code_values) {
  const int shift = 8 * (e % 4) + 4 * (e / 16);
  const __m512i shifted =
      shift == 0 ? raw[(e % 16) / 4] : _mm512_srli_epi32(raw[(e % 16) / 4], shift);
  return _mm512_permutexvar_ps(shifted, code_values);
}

// Y of S consecutive strips' weight rows for R activation rows, given
// interleaved (column c of row r at x[c * R + r], so that the R values an
// element meets are one address): sums[s][r], lane i for weight row i of
// strip s.
template <class Format, int S, int R>
[[gnu::always_inline]] inline void StripsTimesRows(const uint8_t* first_strip, size_t strip_bytes,
                                                   int64_t num_blocks, const float* x,
                                                   __m512 (*sums)[kMaxRows]) {
  constexpr size_t kBlockBytes = WeightStrips::BlockBytes(kType<Format>);
  constexpr int kVectors = WeightStrips::CodeBytes(kType<Format>) / WeightStrips::kVectorBytes;
  __m512 acc[S][R][2];
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[s][r][0] = acc[s][r][1] = _mm512_setzero_ps();
  }
  const __m512 code_values = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const uint8_t* block = first_strip;
  for (int j = 0; j < kPartialSums; ++j) {
    for (int64_t b = j; b < num_blocks; b += kPartialSums, block += kBlockBytes) {
      __m512 d[S], offset[S];
      __m512i raw[S][kVectors];
      WeightStrips::PrefetchAhead<kBlockBytes, S>(block, strip_bytes);
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) {
        const uint8_t* strip_block = block + s * strip_bytes;
        const uint8_t* fields = strip_block + WeightStrips::CodeBytes(kType<Format>);
        d[s] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(fields)));
        offset[s] = Offset<Format>(fields, d[s]);
#pragma GCC unroll 8
        for (int k = 0; k < kVectors; ++k) raw[s][k] = _mm512_loadu_si512(strip_block + 64 * k);
      }
      const float* xb = x + b * 32 * R;
#pragma GCC unroll 32
      for (int e = 0; e < 32; ++e) {
#pragma GCC unroll 8
        for (int s = 0; s < S; ++s) {
          const __m512 weight =
              _mm512_fmadd_ps(CodeValue(raw[s], e, code_values), d[s], offset[s]);
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) {
            acc[s][r][e % 2] =
                _mm512_fmadd_ps(weight, _mm512_set1_ps(xb[e * R + r]), acc[s][r][e % 2]);
          }
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) sums[s][r] = _mm512_add_ps(acc[s][r][0], acc[s][r][1]);
  }
}

template <class Format>
void RunStrips(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
               size_t y_stride, int64_t row_begin, int64_t row_end) {
  const WeightStrips& strips = *w.strips;
  constexpr int64_t kRows = WeightStrips::kRows;
  const int64_t num_blocks = w.cols / 32;
  // Groups of up to kMaxRows activation rows, each interleaved (a single
  // row already is).
  thread_local std::vector<float> interleaved;
  if (num_x > 1) {
    interleaved.resize(static_cast<size_t>(num_x) * w.cols);
    for (int m0 = 0; m0 < num_x; m0 += kMaxRows) {
      const int rows = std::min(kMaxRows, num_x - m0);
      float* group = interleaved.data() + static_cast<size_t>(m0) * w.cols;
      for (int r = 0; r < rows; ++r) {
        const float* row = x + (m0 + r) * x_stride;
        for (int64_t c = 0; c < w.cols; ++c) group[c * rows + r] = row[c];
      }
    }
  }
  const int64_t last_strip = (row_end - 1) / kRows;
  for (int64_t chunk = row_begin / kRows; chunk <= last_strip;
       chunk += WeightStrips::kChunkStrips) {
    const int64_t chunk_last = std::min(last_strip, chunk + WeightStrips::kChunkStrips - 1);
    for (int m0 = 0; m0 < num_x; m0 += kMaxRows) {
      const int rows = std::min(kMaxRows, num_x - m0);
      const float* group = num_x == 1 ? x : interleaved.data() + static_cast<size_t>(m0) * w.cols;
      for (int64_t s = chunk; s <= chunk_last;) {
        // A single activation row's two accumulator chains per strip would
        // wait on the FMA latency; a second strip gives the core
        // independent work.
        const int together = num_x == 1 && s < chunk_last ? 2 : 1;
        __m512 sums[2][kMaxRows];
        if (together == 2) {
          StripsTimesRows<Format, 2, 1>(strips.strip(s), strips.strip_bytes(), num_blocks, group,
                                        sums);
        } else {
          [&]<int... kR>(std::integer_sequence<int, kR...>) {
            ((rows == kR + 1 &&
              (StripsTimesRows<Format, 1, kR + 1>(strips.strip(s), strips.strip_bytes(),
                                                  num_blocks, group, sums),
               true)) ||
             ...);
          }(std::make_integer_sequence<int, kMaxRows>{});
        }
        WeightStrips::StoreSums(sums, s, together, rows, row_begin, row_end, y + m0 * y_stride,
                                y_stride);
        s += together;
      }
    }
  }
}

}  // namespace

void MatMulStripsAvx512(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                        size_t y_stride, int64_t row_begin, int64_t row_end) {
  if (w.type == TensorType::Q4_1) {
    RunStrips<FormatQ4_1>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end);
  } else {
    RunStrips<FormatQ4_0>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end);
  }
}

}  // namespace ri::simd
