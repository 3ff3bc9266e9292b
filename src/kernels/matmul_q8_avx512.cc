// AVX-512 VNNI integer matmul kernel (Q8 activations) over weight strips
// (weight_strips.h); this file alone is compiled with VNNI and runs only on
// CPUs that have it.
//
// A block of a strip is decoded once (Q4: four loads, two nibble masks
// each; Q5: a shift and a select more per vector; Q8_0: eight loads) for up
// to 4 activation rows; per row, eight vpdpbusd with the activation codes
// broadcast from memory give the block's dot products with the 16 weight
// rows, lane i for row i, and the float steps of matmul_q8_simd.h run on
// all 16 lanes at once. Three or four rows pass over two strips at a time,
// each broadcast serving both. Blocks come in partial-sum order, so one
// accumulator per activation row suffices: partial sum j is complete before
// j + 1 starts.
//
// Q4_0's and Q5_0's codes enter without their bias 8 or 16, Q8_0's as
// code + 128; the bias times the block's sum of activation codes is
// subtracted from the integer dot product.
//
// The K formats (Q4_K, Q5_K, Q6_K) go one strip at a time through their
// 32-weight sub-blocks in storage order, one accumulator per activation row
// (KStripTimesRows): a sub-block's codes are a nibble mask, and Q5_K's fifth
// bit or Q6_K's two high bits one shift and one select away (weight_strips.h
// keeps their stored bytes for these kernels).
#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/matmul_q8_simd.h"
#include "kernels/strip_lanes_avx512.h"
#include "kernels/weight_strips.h"
#include "kernels/x86_intrinsics.h"

namespace ri::simd {

namespace {

// Activation rows per pass over a strip: their accumulators and dot
// products stay in registers. 8 rows in one pass measured 1.4x slower than
// two passes of 4 (hot, one thread, 1536 x 576: 36.9 against 26.3 us).
constexpr int kMaxRows = 4;

// The 4 signed codes at s8 in every lane.
[[gnu::always_inline]] inline __m512i Broadcast(const int8_t* s8) {
  int32_t codes;
  std::memcpy(&codes, s8, sizeof codes);
  return _mm512_set1_epi32(codes);
}

// acc + the dot products of u8 (4 unsigned codes a lane) with the 4 signed
// codes at s8 in every lane.
[[gnu::always_inline]] inline __m512i DotBroadcast(__m512i acc, __m512i u8, const int8_t* s8) {
  return _mm512_dpbusd_epi32(acc, u8, Broadcast(s8));
}

// R quantized activation rows laid out for the kernel: the 4-code word k
// of block b of row r at codes + ((8 b + k) R + r) 4, and the block's scale,
// code sum and scaled sum at [b R + r]. What a block step reads then lies at
// a few offsets from one address (separate row pointers ran out of
// registers). A single row is its Q8Activations row as it is.
struct RowGroup {
  const int8_t* codes;
  const float* scales;
  const int32_t* code_sums;
  const float* scaled_sums;
  const int32_t* half_code_sums;
};

// Storage for the interleaved groups (a thread's own, reused across calls).
struct GroupStorage {
  std::vector<int32_t> words;
  std::vector<float> scales;
  std::vector<int32_t> code_sums;
  std::vector<float> scaled_sums;
  std::vector<int32_t> half_code_sums;
};

// Block b's 4-code words of rows m0 .. m0 + 3, word k of row r to
// words[4 k + r]: two 4 x 4 transposes of 32-bit words.
void InterleaveFourRows(const Q8Activations& x, int m0, int64_t b, int32_t* words) {
  for (int half = 0; half < 2; ++half) {
    __m128 row[4];
    for (int r = 0; r < 4; ++r) {
      row[r] = _mm_castsi128_ps(
          _mm_load_si128(reinterpret_cast<const __m128i*>(x.codes(m0 + r, b) + 16 * half)));
    }
    _MM_TRANSPOSE4_PS(row[0], row[1], row[2], row[3]);
    for (int k = 0; k < 4; ++k) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(words + 16 * half + 4 * k),
                       _mm_castps_si128(row[k]));
    }
  }
}

// The rows of x from first_row on in groups of up to kMaxRows, each
// interleaved into `storage` (a single row is left where it is).
void GroupRows(const Q8Activations& x, int first_row, GroupStorage& storage,
               std::vector<RowGroup>& groups) {
  const int64_t blocks = x.num_blocks();
  const size_t fields = static_cast<size_t>(x.num_rows()) * blocks;
  storage.words.resize(fields * 8);
  storage.scales.resize(fields);
  storage.code_sums.resize(fields);
  storage.scaled_sums.resize(fields);
  storage.half_code_sums.resize(fields);
  groups.clear();
  for (int m0 = first_row; m0 < x.num_rows(); m0 += kMaxRows) {
    const int rows = std::min(kMaxRows, x.num_rows() - m0);
    if (rows == 1) {
      groups.push_back(
          {x.codes(m0, 0), x.scales(m0), x.code_sums(m0), x.scaled_sums(m0), x.half_code_sums(m0)});
      continue;
    }
    const size_t first = static_cast<size_t>(m0) * blocks;  // fields before the group
    int32_t* words = storage.words.data() + first * 8;
    float* scales = storage.scales.data() + first;
    int32_t* code_sums = storage.code_sums.data() + first;
    float* scaled_sums = storage.scaled_sums.data() + first;
    int32_t* half_code_sums = storage.half_code_sums.data() + first;
    for (int64_t b = 0; b < blocks; ++b) {
      if (rows == 4) {
        InterleaveFourRows(x, m0, b, words + b * 32);
      } else {
        for (int r = 0; r < rows; ++r) {
          for (int k = 0; k < 8; ++k) {
            std::memcpy(&words[(b * 8 + k) * rows + r], x.codes(m0 + r, b) + 4 * k, 4);
          }
        }
      }
    }
    for (int r = 0; r < rows; ++r) {
      for (int64_t b = 0; b < blocks; ++b) {
        scales[b * rows + r] = x.scales(m0 + r)[b];
        code_sums[b * rows + r] = x.code_sums(m0 + r)[b];
        scaled_sums[b * rows + r] = x.scaled_sums(m0 + r)[b];
        half_code_sums[b * rows + r] = x.half_code_sums(m0 + r)[b];
      }
    }
    groups.push_back(
        {reinterpret_cast<const int8_t*>(words), scales, code_sums, scaled_sums, half_code_sums});
  }
}

// Y of S (1 or 2) consecutive strips' 16 weight rows each for the R rows of
// g: sums[t][r], lane i for weight row i of strip t. With two strips, each
// broadcast activation word serves both: the broadcasts, one per vpdpbusd
// otherwise, took about half the time of a 4-row pass.
template <class Format, int R, int S>
[[gnu::always_inline]] inline void StripsTimesRows(const uint8_t* first_strip, size_t strip_bytes,
                                                   const RowGroup& g, int64_t num_blocks,
                                                   __m512 (&sums)[2][kMaxRows]) {
  constexpr size_t kBlockBytes = WeightStrips::BlockBytes(Format::kType, ActivationPrecision::kQ8);
  const auto word = [&](int64_t b, int k, int r) { return g.codes + ((b * 8 + k) * R + r) * 4; };
  __m512 partial[kPartialSums][S][R];
  const uint8_t* block = first_strip;
  for (int j = 0; j < kPartialSums; ++j) {
    __m512 acc[S][R];
#pragma GCC unroll 2
    for (int t = 0; t < S; ++t) {
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[t][r] = _mm512_setzero_ps();
    }
    for (int64_t b = j; b < num_blocks; b += kPartialSums, block += kBlockBytes) {
      // Strips lie one after the other: keep the memory busy ahead of the
      // compute.
      WeightStrips::PrefetchAhead<kBlockBytes, S>(block, strip_bytes);
      // Vector k of strip t: codes 4k .. 4k + 3 of each of its weight rows.
      __m512i codes[S][8];
#pragma GCC unroll 2
      for (int t = 0; t < S; ++t) {
        const uint8_t* strip_block = block + t * strip_bytes;
        if constexpr (kIsQ8_0<Format>) {
#pragma GCC unroll 8
          for (int k = 0; k < 8; ++k) codes[t][k] = _mm512_loadu_si512(strip_block + 64 * k);
        } else {
#pragma GCC unroll 8
          for (int k = 0; k < 8; ++k) codes[t][k] = NibbleCodes<Format>(strip_block, k);
        }
      }
      // The integer dot products: one chain of vpdpbusd per (strip, row),
      // the chains interleaved so that consecutive instructions are
      // independent; with one or two rows of one strip, a second chain per
      // row (codes 16 ..) for parallelism.
      __m512i dot[S][R];
      if constexpr (S == 1 && R <= 2) {
#pragma GCC unroll 2
        for (int r = 0; r < R; ++r) {
          __m512i low = _mm512_setzero_si512(), high = _mm512_setzero_si512();
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k) {
            low = DotBroadcast(low, codes[0][k], word(b, k, r));
            high = DotBroadcast(high, codes[0][4 + k], word(b, 4 + k, r));
          }
          dot[0][r] = _mm512_add_epi32(low, high);
        }
      } else {
#pragma GCC unroll 2
        for (int t = 0; t < S; ++t) {
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r) dot[t][r] = _mm512_setzero_si512();
        }
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r) {
            const __m512i broadcast = Broadcast(word(b, k, r));
#pragma GCC unroll 2
            for (int t = 0; t < S; ++t) {
              dot[t][r] = _mm512_dpbusd_epi32(dot[t][r], codes[t][k], broadcast);
            }
          }
        }
      }
      __m512 d[S], m[S];
#pragma GCC unroll 2
      for (int t = 0; t < S; ++t) {
        const uint8_t* fields = block + t * strip_bytes +
                                WeightStrips::LaneBytes(Format::kType, ActivationPrecision::kQ8);
        d[t] = LoadFields(fields);
        if constexpr (Format::kHasOffset) m[t] = LoadFields(fields + WeightStrips::kFieldBytes);
      }
      // A row's block fields, broadcast once for the strips.
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m512 scale = _mm512_set1_ps(g.scales[b * R + r]);
        [[maybe_unused]] const __m512i bias =
            _mm512_set1_epi32(g.code_sums[b * R + r] << kBiasShift<Format>);
        [[maybe_unused]] const __m512 scaled_sum = _mm512_set1_ps(g.scaled_sums[b * R + r]);
#pragma GCC unroll 2
        for (int t = 0; t < S; ++t) {
          __m512i dot_r = dot[t][r];
          if constexpr (kBiasShift<Format> != 0) dot_r = _mm512_sub_epi32(dot_r, bias);
          acc[t][r] =
              _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_r), _mm512_mul_ps(d[t], scale), acc[t][r]);
          if constexpr (Format::kHasOffset) {
            acc[t][r] = _mm512_fmadd_ps(m[t], scaled_sum, acc[t][r]);
          }
        }
      }
    }
#pragma GCC unroll 2
    for (int t = 0; t < S; ++t) {
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) partial[j][t][r] = acc[t][r];
    }
  }
  for (int t = 0; t < S; ++t) {
    for (int r = 0; r < R; ++r) {
      sums[t][r] = SumPartials([&](int j) { return partial[j][t][r]; });
    }
  }
}

// Y of one strip of a K format for the R rows of g (sums[0][r]), in the
// order of matmul_q8_simd.h: the block's eight sub-blocks in turn, each
// decoded once for the R rows, one accumulator per row.
template <class Format, int R>
[[gnu::always_inline]] inline void KStripTimesRows(const uint8_t* strip, const RowGroup& g,
                                                   int64_t num_blocks,
                                                   __m512 (&sums)[2][kMaxRows]) {
  constexpr TensorType kT = Format::kType;
  constexpr size_t kBlockBytes = WeightStrips::BlockBytes(kT, ActivationPrecision::kQ8);
  const auto word = [&](int64_t b, int k, int r) { return g.codes + ((b * 8 + k) * R + r) * 4; };
  __m512 acc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const uint8_t* block = strip;
  for (int64_t b0 = 0; b0 < num_blocks; b0 += 8, block += kBlockBytes) {
    WeightStrips::PrefetchAhead<kBlockBytes, 1>(block, 0);
    const uint8_t* fields = block + WeightStrips::LaneBytes(kT, ActivationPrecision::kQ8);
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const int64_t b = b0 + k;
      __m512i codes[8];
#pragma GCC unroll 8
      for (int v = 0; v < 8; ++v) codes[v] = KCodes<Format>(block, k, v);
      __m512 d, m;
      [[maybe_unused]] __m512i first_scale, second_scale;
      if constexpr (kT == TensorType::Q6_K) {
        d = LoadFields(fields);
        first_scale = SignedLaneByte(block, Format::kScalesAt + 2 * k);
        second_scale = SignedLaneByte(block, Format::kScalesAt + 2 * k + 1);
      } else {
        KScales(block, fields, k, &d, &m);
      }
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        // Codes 0-15 and 16-31 in two chains: Q6_K scales them apart.
        __m512i low = _mm512_setzero_si512(), high = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) {
          low = DotBroadcast(low, codes[v], word(b, v, r));
          high = DotBroadcast(high, codes[4 + v], word(b, 4 + v, r));
        }
        const __m512 scale = _mm512_set1_ps(g.scales[b * R + r]);
        if constexpr (kT == TensorType::Q6_K) {
          const int32_t first_sum = g.half_code_sums[b * R + r];
          const int32_t second_sum = g.code_sums[b * R + r] - first_sum;
          low = _mm512_sub_epi32(low, _mm512_set1_epi32(first_sum * Format::kCodeBias));
          high = _mm512_sub_epi32(high, _mm512_set1_epi32(second_sum * Format::kCodeBias));
          const __m512i dot = _mm512_add_epi32(_mm512_mullo_epi32(low, first_scale),
                                               _mm512_mullo_epi32(high, second_scale));
          acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(d, scale), acc[r]);
        } else {
          const __m512i dot = _mm512_add_epi32(low, high);
          acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(d, scale), acc[r]);
          acc[r] = _mm512_fmadd_ps(m, _mm512_set1_ps(g.scaled_sums[b * R + r]), acc[r]);
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) sums[0][r] = acc[r];
}

template <class Format>
void RunStrips(const WeightMatrix& w, const Q8Activations& x, int first_row, float* y,
               size_t y_stride, int64_t row_begin, int64_t row_end) {
  const WeightStrips& strips = *w.strips;
  const size_t strip_bytes = strips.strip_bytes();
  constexpr bool kIsK = Format::kSubBlocks > 1;
  // Matrices that share their input (q, k, v; gate, up) share the layout.
  thread_local GroupStorage storage;
  thread_local std::vector<RowGroup> groups;
  thread_local uint64_t grouped_version = 0;
  thread_local int grouped_first_row = 0;
  if (grouped_version != x.version() || grouped_first_row != first_row) {
    GroupRows(x, first_row, storage, groups);
    grouped_version = x.version();
    grouped_first_row = first_row;
  }
  WeightStrips::ForEachChunk(row_begin, row_end, [&](int64_t chunk, int64_t chunk_last) {
    for (int m0 = first_row; m0 < x.num_rows(); m0 += kMaxRows) {
      const int rows = std::min(kMaxRows, x.num_rows() - m0);
      const RowGroup& group = groups[(m0 - first_row) / kMaxRows];
      // Two strips at a time for several rows (see StripsTimesRows), once
      // the first group brought the chunk into the cache: from memory, one
      // strip at a time streams faster (cold, 4 rows of 1536 x 576 on two
      // threads: 14 us, against 17-20 us for pairs).
      for (int64_t s = chunk; s <= chunk_last;) {
        const int pair = !kIsK && m0 > first_row && rows >= 3 && s + 1 <= chunk_last ? 2 : 1;
        __m512 sums[2][kMaxRows];
        const auto strips_times_rows = [&]<int kR>() {
          if constexpr (kIsK) {
            KStripTimesRows<Format, kR>(strips.strip(s), group, x.num_blocks(), sums);
          } else if (pair == 2) {
            StripsTimesRows<Format, kR, 2>(strips.strip(s), strip_bytes, group, x.num_blocks(),
                                           sums);
          } else {
            StripsTimesRows<Format, kR, 1>(strips.strip(s), strip_bytes, group, x.num_blocks(),
                                           sums);
          }
        };
        [&]<int... kR>(std::integer_sequence<int, kR...>) {
          ((rows == kR + 1 && (strips_times_rows.template operator()<kR + 1>(), true)) || ...);
        }
        (std::make_integer_sequence<int, kMaxRows>{});
        WeightStrips::StoreSums(sums, s, pair, rows, row_begin, row_end, y + m0 * y_stride,
                                y_stride);
        s += pair;
      }
    }
  });
}

}  // namespace

void MatMulQ8StripsAvx512Vnni(const WeightMatrix& w, const Q8Activations& x, int first_row,
                              float* y, size_t y_stride, int64_t row_begin, int64_t row_end) {
  WithFormat(w.type, [&]<class Format>(Format) {
    RunStrips<Format>(w, x, first_row, y, y_stride, row_begin, row_end);
  });
}

}  // namespace ri::simd
