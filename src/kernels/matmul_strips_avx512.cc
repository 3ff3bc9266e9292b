// AVX-512 matmul kernel for float activations over weight strips
// (weight_strips.h); this file alone is compiled with AVX-512 and runs only
// when ActiveSimdLevel() is kAvx512.
//
// Lane i of a strip vector belongs to weight row i, so a weight code is
// decoded for 16 rows at once by a shift and a table lookup, and meets the
// activation broadcast to every lane. Compared with decoding a block of one
// row through a lookup table (matmul_avx512.cc), this needs no shuffles,
// and a block's scales are one load for 16 rows.
//
// A block's scale is factored out of its sum, as the Q8 kernels do, so that
// a code costs one multiply-add per activation row and none for making the
// weight: for weight row i, activation row r and block b,
//   p0, p1 = sums of code * x over the block's even and odd elements
//   acc = fma(d_b, p0 + p1, acc)
//   Q4_1 only: acc = fma(m_b, sum of the block's x, acc)
// blocks in storage order, from acc = 0. Codes are exact small integers
// (Q4_0's already less 8, so its weight is d * code with no offset term).
// Every (weight row, activation row) pair runs these operations in this
// order whatever the batch, the row range and the strips processed
// together.
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

// A block's 16 f16 fields at `fields` (d, and Q4_1's m after them), as floats.
[[gnu::always_inline]] inline __m512 LoadFields(const uint8_t* fields) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(fields)));
}

// Code `e` of a block in every lane, as a float: vector (e % 16) / 4 holds
// code bytes 4k .. 4k + 3, low nibbles for codes 0 .. 15, high ones for
// 16 .. 31. vpermps reads only the low 4 bits of each lane, so once the
// nibble is shifted down it picks its value from a table of the 16 codes
// (less the format's bias): one instruction instead of a mask and a
// conversion. `e` is a constant once the element loop is unrolled.
[[gnu::always_inline]] inline __m512 CodeValue(const __m512i* raw, int e, __m512 code_values) {
  const int shift = 8 * (e % 4) + 4 * (e / 16);
  const __m512i shifted =
      shift == 0 ? raw[(e % 16) / 4] : _mm512_srli_epi32(raw[(e % 16) / 4], shift);
  return _mm512_permutexvar_ps(shifted, code_values);
}

// Y of S consecutive strips' weight rows for R activation rows, given
// interleaved (column c of row r at x[c * R + r], so that the R values an
// element meets are one address) and, for Q4_1, each block's activation
// sums likewise (block b of row r at x_sums[b * R + r]): sums[s][r], lane i
// for weight row i of strip s.
template <class Format, int S, int R>
[[gnu::always_inline]] inline void StripsTimesRows(const uint8_t* first_strip, size_t strip_bytes,
                                                   int64_t num_blocks, const float* x,
                                                   const float* x_sums, __m512 (*sums)[kMaxRows]) {
  constexpr size_t kBlockBytes = WeightStrips::BlockBytes(kType<Format>);
  constexpr size_t kCodeBytes = WeightStrips::CodeBytes(kType<Format>);
  constexpr int kVectors = kCodeBytes / WeightStrips::kVectorBytes;
  __m512 acc[S][R];
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[s][r] = _mm512_setzero_ps();
  }
  const __m512 code_values =
      _mm512_sub_ps(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                    _mm512_set1_ps(Format::kCodeBias));
  const uint8_t* block = first_strip;
  for (int j = 0; j < kPartialSums; ++j) {
    for (int64_t b = j; b < num_blocks; b += kPartialSums, block += kBlockBytes) {
      __m512i raw[S][kVectors];
      WeightStrips::PrefetchAhead<kBlockBytes, S>(block, strip_bytes);
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) {
#pragma GCC unroll 8
        for (int k = 0; k < kVectors; ++k) {
          raw[s][k] = _mm512_loadu_si512(block + s * strip_bytes + 64 * k);
        }
      }
      const float* xb = x + b * 32 * R;
      __m512 part[S][R][2];
#pragma GCC unroll 32
      for (int e = 0; e < 32; ++e) {
#pragma GCC unroll 8
        for (int s = 0; s < S; ++s) {
          const __m512 code = CodeValue(raw[s], e, code_values);
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) {
            const __m512 xe = _mm512_set1_ps(xb[e * R + r]);
            part[s][r][e % 2] =
                e < 2 ? _mm512_mul_ps(code, xe) : _mm512_fmadd_ps(code, xe, part[s][r][e % 2]);
          }
        }
      }
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) {
        const uint8_t* fields = block + s * strip_bytes + kCodeBytes;
        const __m512 d = LoadFields(fields);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          acc[s][r] = _mm512_fmadd_ps(d, _mm512_add_ps(part[s][r][0], part[s][r][1]), acc[s][r]);
        }
        if constexpr (Format::kHasOffset) {
          const __m512 m = LoadFields(fields + WeightStrips::kFieldBytes);
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) {
            acc[s][r] = _mm512_fmadd_ps(m, _mm512_set1_ps(x_sums[b * R + r]), acc[s][r]);
          }
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) sums[s][r] = acc[s][r];
  }
}

// The sums of a row's 32-element blocks, `step` floats apart from `sums`.
void BlockSums(const float* row, int64_t num_blocks, float* sums, size_t step) {
  for (int64_t b = 0; b < num_blocks; ++b) {
    sums[b * step] = _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_loadu_ps(row + 32 * b), _mm512_loadu_ps(row + 32 * b + 16)));
  }
}

template <class Format>
void RunStrips(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
               size_t y_stride, int64_t row_begin, int64_t row_end) {
  const WeightStrips& strips = *w.strips;
  constexpr int64_t kRows = WeightStrips::kRows;
  const int64_t num_blocks = w.cols / 32;
  // Groups of up to kMaxRows activation rows, each interleaved (a single
  // row already is), and for Q4_1 their block sums, interleaved likewise.
  thread_local std::vector<float> interleaved;
  thread_local std::vector<float> block_sums;
  if (num_x > 1) interleaved.resize(static_cast<size_t>(num_x) * w.cols);
  if constexpr (Format::kHasOffset) block_sums.resize(static_cast<size_t>(num_x) * num_blocks);
  for (int m0 = 0; m0 < num_x; m0 += kMaxRows) {
    const int rows = std::min(kMaxRows, num_x - m0);
    float* group = interleaved.data() + static_cast<size_t>(m0) * w.cols;
    for (int r = 0; r < rows; ++r) {
      const float* row = x + (m0 + r) * x_stride;
      if (num_x > 1) {
        for (int64_t c = 0; c < w.cols; ++c) group[c * rows + r] = row[c];
      }
      if constexpr (Format::kHasOffset) {
        BlockSums(row, num_blocks, block_sums.data() + m0 * num_blocks + r, rows);
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
      const float* group_sums =
          Format::kHasOffset ? block_sums.data() + static_cast<size_t>(m0) * num_blocks : nullptr;
      for (int64_t s = chunk; s <= chunk_last;) {
        // One or two activation rows' accumulator chains per strip would
        // wait on the FMA latency; a second strip gives the core
        // independent work.
        const int together = rows <= 2 && s < chunk_last ? 2 : 1;
        __m512 sums[2][kMaxRows];
        if (together == 2 && rows == 1) {
          StripsTimesRows<Format, 2, 1>(strips.strip(s), strips.strip_bytes(), num_blocks, group,
                                        group_sums, sums);
        } else if (together == 2) {
          StripsTimesRows<Format, 2, 2>(strips.strip(s), strips.strip_bytes(), num_blocks, group,
                                        group_sums, sums);
        } else {
          [&]<int... kR>(std::integer_sequence<int, kR...>) {
            ((rows == kR + 1 &&
              (StripsTimesRows<Format, 1, kR + 1>(strips.strip(s), strips.strip_bytes(), num_blocks,
                                                  group, group_sums, sums),
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
