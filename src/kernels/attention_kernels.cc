#include "kernels/attention_kernels.h"

// GCC 12 reports the deliberately undefined pass-through operand inside the
// AVX-512 conversion and reduction intrinsics as uninitialized (a false
// positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu_features.h"
#include "kernels/simd_exp.h"
#include "util/fp16.h"

namespace ri {

namespace {

// Grouped-query attention has at most this many query heads per kv head in
// the fast paths (accumulators stay in registers); larger groups loop.
constexpr int kMaxGroup = 8;

// One score in the order every path keeps: the even and the odd dimensions
// in two fused multiply-add chains, each in ascending order, then their sum
// times the scale.
float ScoreScalar(const float* query, const uint16_t* key, size_t key_stride, int dim,
                  float scale) {
  float chains[2] = {0.0f, 0.0f};
  for (int d = 0; d < dim; ++d) {
    chains[d % 2] = std::fma(query[d], Fp16ToFloat(key[d * key_stride]), chains[d % 2]);
  }
  return (chains[0] + chains[1]) * scale;
}

void ScoreRunScalar(const float* queries, int num_queries, const uint16_t* keys, size_t key_stride,
                    int count, int dim, float scale, float* scores, size_t score_stride) {
  for (int q = 0; q < num_queries; ++q) {
    for (int i = 0; i < count; ++i) {
      scores[q * score_stride + i] =
          ScoreScalar(queries + q * dim, keys + i, key_stride, dim, scale);
    }
  }
}

void AccumulateValuesScalar(const float* weights, size_t weight_stride, int num_queries,
                            const uint16_t* values, int count, int dim, float* out) {
  for (int i = 0; i < count; ++i) {
    const uint16_t* value = values + static_cast<size_t>(i) * dim;
    for (int q = 0; q < num_queries; ++q) {
      const float w = weights[q * weight_stride + i];
      for (int d = 0; d < dim; ++d) out[q * dim + d] += w * Fp16ToFloat(value[d]);
    }
  }
}

float SoftmaxRowScalar(float* row, int count) {
  float max_score = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < count; ++i) max_score = std::max(max_score, row[i]);
  float sum = 0.0f;
  for (int i = 0; i < count; ++i) sum += (row[i] = std::exp(row[i] - max_score));
  const float inverse = 1.0f / sum;
  for (int i = 0; i < count; ++i) row[i] *= inverse;
  return max_score + std::log(sum);
}

float PageUpperBoundScalar(const float* queries, int num_queries, const float* key_min,
                           const float* key_max, int dim) {
  float bound = 0.0f;
  for (int q = 0; q < num_queries; ++q) {
    for (int d = 0; d < dim; ++d) {
      const float x = queries[q * dim + d];
      bound += std::max(x * key_min[d], x * key_max[d]);
    }
  }
  return bound;
}

void FloatsToF16Scalar(const float* from, int count, uint16_t* to) {
  for (int i = 0; i < count; ++i) to[i] = FloatToFp16(from[i]);
}

void WidenKeyBoundsScalar(const uint16_t* keys, int count, int dim, float* lo, float* hi) {
  for (int i = 0; i < count; ++i) {
    for (int d = 0; d < dim; ++d) {
      const float k = Fp16ToFloat(keys[static_cast<size_t>(i) * dim + d]);
      lo[d] = std::min(lo[d], k);
      hi[d] = std::max(hi[d], k);
    }
  }
}

// ---------------------------------------------------------------- AVX-512

// Masked 16-bit loads need AVX512BW, which the AVX-512 level requires.
#define RI_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c")))

RI_AVX512 __m512 LoadHalf16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

RI_AVX512 float SoftmaxRowAvx512(float* row, int count) {
  __m512 max_vector = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int i = 0;
  for (; i + 16 <= count; i += 16) max_vector = _mm512_max_ps(max_vector, _mm512_loadu_ps(row + i));
  float max_score = _mm512_reduce_max_ps(max_vector);
  for (; i < count; ++i) max_score = std::max(max_score, row[i]);
  const __m512 shift = _mm512_set1_ps(max_score);
  __m512 sum_vector = _mm512_setzero_ps();
  for (i = 0; i + 16 <= count; i += 16) {
    const __m512 e = simd_exp::Exp512(_mm512_sub_ps(_mm512_loadu_ps(row + i), shift));
    _mm512_storeu_ps(row + i, e);
    sum_vector = _mm512_add_ps(sum_vector, e);
  }
  if (i < count) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (count - i)) - 1);
    const __m512 e = simd_exp::Exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, row + i), shift));
    _mm512_mask_storeu_ps(row + i, tail, e);
    sum_vector = _mm512_add_ps(sum_vector, _mm512_maskz_mov_ps(tail, e));
  }
  const float sum = _mm512_reduce_add_ps(sum_vector);
  const __m512 inverse = _mm512_set1_ps(1.0f / sum);
  for (i = 0; i + 16 <= count; i += 16) {
    _mm512_storeu_ps(row + i, _mm512_mul_ps(_mm512_loadu_ps(row + i), inverse));
  }
  for (; i < count; ++i) row[i] *= 1.0f / sum;
  return max_score + std::log(sum);
}

RI_AVX512 float PageUpperBoundAvx512(const float* queries, int num_queries, const float* key_min,
                                     const float* key_max, int dim) {
  __m512 acc = _mm512_setzero_ps();
  for (int d = 0; d < dim; d += 16) {
    const __m512 lo = _mm512_loadu_ps(key_min + d);
    const __m512 hi = _mm512_loadu_ps(key_max + d);
    for (int q = 0; q < num_queries; ++q) {
      const __m512 x = _mm512_loadu_ps(queries + q * dim + d);
      acc = _mm512_add_ps(acc, _mm512_max_ps(_mm512_mul_ps(x, lo), _mm512_mul_ps(x, hi)));
    }
  }
  return _mm512_reduce_add_ps(acc);
}

// Up to this head size a chunk of keys or values is converted to float once
// for all the queries of a prompt tile (16 KB of stack at most).
constexpr int kMaxConvertedDim = 256;

// Up to 16 keys of one run, one per lane.
struct KeyChunk {
  const uint16_t* keys;  // dimension d at keys[d * key_stride]
  __mmask16 lanes;       // the keys present
  float* scores;         // of the first query
};

// Scores of kQueries queries against kChunks chunks of keys, one key per
// lane: key_at(d, c) gives dimension d of chunk c. Each query element is
// broadcast once for all the chunks.
template <int kQueries, int kChunks, class KeyAt>
RI_AVX512 void ScoreChunksAvx512(const float* queries, int dim, KeyAt key_at, __m512 scale,
                                 const KeyChunk* chunks, size_t score_stride) {
  __m512 even[kQueries][kChunks], odd[kQueries][kChunks];
#pragma GCC unroll 16
  for (int q = 0; q < kQueries; ++q) {
#pragma GCC unroll 16
    for (int c = 0; c < kChunks; ++c) even[q][c] = odd[q][c] = _mm512_setzero_ps();
  }
  for (int d = 0; d < dim; d += 2) {
    __m512 key_even[kChunks], key_odd[kChunks];
#pragma GCC unroll 16
    for (int c = 0; c < kChunks; ++c) {
      key_even[c] = key_at(d, c);
      key_odd[c] = key_at(d + 1, c);
    }
#pragma GCC unroll 16
    for (int q = 0; q < kQueries; ++q) {
      const __m512 query_even = _mm512_set1_ps(queries[q * dim + d]);
      const __m512 query_odd = _mm512_set1_ps(queries[q * dim + d + 1]);
#pragma GCC unroll 16
      for (int c = 0; c < kChunks; ++c) {
        even[q][c] = _mm512_fmadd_ps(query_even, key_even[c], even[q][c]);
        odd[q][c] = _mm512_fmadd_ps(query_odd, key_odd[c], odd[q][c]);
      }
    }
  }
#pragma GCC unroll 16
  for (int q = 0; q < kQueries; ++q) {
#pragma GCC unroll 16
    for (int c = 0; c < kChunks; ++c) {
      _mm512_mask_storeu_ps(chunks[c].scores + q * score_stride, chunks[c].lanes,
                            _mm512_mul_ps(_mm512_add_ps(even[q][c], odd[q][c]), scale));
    }
  }
}

// All the queries against kChunks chunks: six at a time against two chunks
// (24 accumulators), or twelve against one.
template <int kChunks, class KeyAt>
RI_AVX512 void ScoreAllQueriesAvx512(const float* queries, int num_queries, int dim, KeyAt key_at,
                                     __m512 scale, KeyChunk* chunks, size_t score_stride) {
  constexpr int kBlock = kChunks == 1 ? 12 : 6;
  const auto advance = [&](int by) {
    queries += by * dim;
    num_queries -= by;
    for (int c = 0; c < kChunks; ++c) chunks[c].scores += by * score_stride;
  };
  for (; num_queries >= kBlock; advance(kBlock)) {
    ScoreChunksAvx512<kBlock, kChunks>(queries, dim, key_at, scale, chunks, score_stride);
  }
  for (; num_queries >= 3; advance(3)) {
    ScoreChunksAvx512<3, kChunks>(queries, dim, key_at, scale, chunks, score_stride);
  }
  for (; num_queries > 0; advance(1)) {
    ScoreChunksAvx512<1, kChunks>(queries, dim, key_at, scale, chunks, score_stride);
  }
}

// kChunks chunks of keys against all the queries; a prompt tile's queries
// read the chunks converted once.
template <int kChunks>
RI_AVX512 void ScoreChunksAllQueriesAvx512(const float* queries, int num_queries, int dim,
                                           size_t key_stride, __m512 scale, KeyChunk* chunks,
                                           size_t score_stride) {
  const auto convert = [&](int d, int c) RI_AVX512 {
    return _mm512_cvtph_ps(
        _mm256_maskz_loadu_epi16(chunks[c].lanes, chunks[c].keys + d * key_stride));
  };
  if (num_queries <= 3 || dim > kMaxConvertedDim) {
    return ScoreAllQueriesAvx512<kChunks>(queries, num_queries, dim, convert, scale, chunks,
                                          score_stride);
  }
  alignas(64) float converted[kMaxConvertedDim * 16 * kChunks];
  for (int d = 0; d < dim; ++d) {
    for (int c = 0; c < kChunks; ++c)
      _mm512_store_ps(converted + (d * kChunks + c) * 16, convert(d, c));
  }
  ScoreAllQueriesAvx512<kChunks>(
      queries, num_queries, dim,
      [&](int d, int c) RI_AVX512 { return _mm512_load_ps(converted + (d * kChunks + c) * 16); },
      scale, chunks, score_stride);
}

// Keys 16 at a time, one per lane, so that no sum crosses lanes; chunks are
// taken two at a time, across runs.
RI_AVX512 void ScoreKeysAvx512(const float* queries, int num_queries,
                               std::span<const F16KeyRun> runs, size_t key_stride, int dim,
                               float scale, float* scores, size_t score_stride) {
  const __m512 scale_vector = _mm512_set1_ps(scale);
  KeyChunk pair[2];
  int pending = 0;
  for (const F16KeyRun& run : runs) {
    for (int i = 0; i < run.count; i += 16) {
      pair[pending++] = {run.keys + i,
                         static_cast<__mmask16>((1u << std::min(run.count - i, 16)) - 1),
                         scores + i};
      if (pending == 2) {
        ScoreChunksAllQueriesAvx512<2>(queries, num_queries, dim, key_stride, scale_vector, pair,
                                       score_stride);
        pending = 0;
      }
    }
    scores += run.count;
  }
  if (pending == 1) {
    ScoreChunksAllQueriesAvx512<1>(queries, num_queries, dim, key_stride, scale_vector, pair,
                                   score_stride);
  }
}

// Accumulators for kQueries queries x kChunks vectors stay in registers
// while the values stream by: value_at(i, c) gives vector c of value i.
template <int kChunks, int kQueries, class ValueAt>
RI_AVX512 void AccumulateBlockAvx512(const float* weights, size_t weight_stride, ValueAt value_at,
                                     int count, int dim, float* out) {
  __m512 acc[kQueries][kChunks];
#pragma GCC unroll 16
  for (int q = 0; q < kQueries; ++q) {
#pragma GCC unroll 16
    for (int c = 0; c < kChunks; ++c) acc[q][c] = _mm512_loadu_ps(out + q * dim + c * 16);
  }
  for (int i = 0; i < count; ++i) {
    __m512 v[kChunks];
#pragma GCC unroll 16
    for (int c = 0; c < kChunks; ++c) v[c] = value_at(i, c);
#pragma GCC unroll 16
    for (int q = 0; q < kQueries; ++q) {
      const __m512 w = _mm512_set1_ps(weights[q * weight_stride + i]);
#pragma GCC unroll 16
      for (int c = 0; c < kChunks; ++c) acc[q][c] = _mm512_fmadd_ps(w, v[c], acc[q][c]);
    }
  }
#pragma GCC unroll 16
  for (int q = 0; q < kQueries; ++q) {
#pragma GCC unroll 16
    for (int c = 0; c < kChunks; ++c) _mm512_storeu_ps(out + q * dim + c * 16, acc[q][c]);
  }
}

template <int kChunks, class ValueAt>
RI_AVX512 void AccumulateAllQueriesAvx512(const float* weights, size_t weight_stride,
                                          int num_queries, ValueAt value_at, int count, int dim,
                                          float* out) {
  int q = 0;
  if constexpr (kChunks <= 4) {
    // Six queries (two prompt rows of a three-head group) or three at a time.
    for (; q + 6 <= num_queries; q += 6) {
      AccumulateBlockAvx512<kChunks, 6>(weights + q * weight_stride, weight_stride, value_at, count,
                                        dim, out + q * dim);
    }
    for (; q + 3 <= num_queries; q += 3) {
      AccumulateBlockAvx512<kChunks, 3>(weights + q * weight_stride, weight_stride, value_at, count,
                                        dim, out + q * dim);
    }
  }
  for (; q < num_queries; ++q) {
    AccumulateBlockAvx512<kChunks, 1>(weights + q * weight_stride, weight_stride, value_at, count,
                                      dim, out + q * dim);
  }
}

// A prompt tile's queries read each chunk of 16 values converted once; each
// output element still sums its terms in position order.
template <int kChunks>
RI_AVX512 void AccumulateChunksAvx512(const float* weights, size_t weight_stride, int num_queries,
                                      const uint16_t* values, int count, int dim, float* out) {
  if (num_queries <= 6) {
    return AccumulateAllQueriesAvx512<kChunks>(
        weights, weight_stride, num_queries,
        [&](int i, int c)
            RI_AVX512 { return LoadHalf16(values + static_cast<size_t>(i) * dim + c * 16); },
        count, dim, out);
  }
  constexpr int kDim = kChunks * 16;
  alignas(64) float converted[16 * kDim];
  for (int first = 0; first < count; first += 16) {
    const int chunk = std::min(count - first, 16);
    const uint16_t* chunk_values = values + static_cast<size_t>(first) * kDim;
    for (int v = 0; v < chunk * kChunks; ++v) {
      _mm512_store_ps(converted + v * 16, LoadHalf16(chunk_values + v * 16));
    }
    AccumulateAllQueriesAvx512<kChunks>(
        weights + first, weight_stride, num_queries,
        [&](int i, int c) RI_AVX512 { return _mm512_load_ps(converted + i * kDim + c * 16); },
        chunk, dim, out);
  }
}

RI_AVX512 void AccumulateValuesAvx512(const float* weights, size_t weight_stride, int num_queries,
                                      const uint16_t* values, int count, int dim, float* out) {
  switch (dim) {
    case 64:
      return AccumulateChunksAvx512<4>(weights, weight_stride, num_queries, values, count, dim,
                                       out);
    case 128:
      return AccumulateChunksAvx512<8>(weights, weight_stride, num_queries, values, count, dim,
                                       out);
  }
  for (int d = 0; d < dim; d += 16) {
    for (int q = 0; q < num_queries; ++q) {
      __m512 acc = _mm512_loadu_ps(out + q * dim + d);
      for (int i = 0; i < count; ++i) {
        acc = _mm512_fmadd_ps(_mm512_set1_ps(weights[q * weight_stride + i]),
                              LoadHalf16(values + static_cast<size_t>(i) * dim + d), acc);
      }
      _mm512_storeu_ps(out + q * dim + d, acc);
    }
  }
}

// ---------------------------------------------------------------- AVX2

#define RI_AVX2 RI_AVX2_FLOAT

RI_AVX2 __m256 LoadHalf8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// F16C converts with the current rounding mode (nearest even by default, as
// FloatToFp16), quiets NaNs as it does and keeps subnormals; the wider
// AVX-512 registers would not pay off on a few hundred values per call.
RI_AVX2 void FloatsToF16F16c(const float* from, int count, uint16_t* to) {
  int i = 0;
  for (; i + 8 <= count; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(to + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(from + i), _MM_FROUND_TO_NEAREST_INT));
  }
  FloatsToF16Scalar(from + i, count - i, to + i);
}

// MINPS returns its second operand when either is NaN, as std::min(lo, k)
// keeps lo; the same for MAXPS.
RI_AVX2 void WidenKeyBoundsF16c(const uint16_t* keys, int count, int dim, float* lo, float* hi) {
  for (int d = 0; d < dim; d += 8) {
    __m256 low = _mm256_loadu_ps(lo + d);
    __m256 high = _mm256_loadu_ps(hi + d);
    for (int i = 0; i < count; ++i) {
      const __m256 k = LoadHalf8(keys + static_cast<size_t>(i) * dim + d);
      low = _mm256_min_ps(k, low);
      high = _mm256_max_ps(k, high);
    }
    _mm256_storeu_ps(lo + d, low);
    _mm256_storeu_ps(hi + d, high);
  }
}

RI_AVX2 float HorizontalSum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

RI_AVX2 float SoftmaxRowAvx2(float* row, int count) {
  float max_score = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < count; ++i) max_score = std::max(max_score, row[i]);
  const __m256 shift = _mm256_set1_ps(max_score);
  __m256 sum_vector = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256 e = simd_exp::Exp256(_mm256_sub_ps(_mm256_loadu_ps(row + i), shift));
    _mm256_storeu_ps(row + i, e);
    sum_vector = _mm256_add_ps(sum_vector, e);
  }
  float sum = HorizontalSum(sum_vector);
  for (; i < count; ++i) sum += (row[i] = std::exp(row[i] - max_score));
  const float inverse = 1.0f / sum;
  for (i = 0; i < count; ++i) row[i] *= inverse;
  return max_score + std::log(sum);
}

RI_AVX2 float PageUpperBoundAvx2(const float* queries, int num_queries, const float* key_min,
                                 const float* key_max, int dim) {
  __m256 acc = _mm256_setzero_ps();
  for (int d = 0; d < dim; d += 8) {
    const __m256 lo = _mm256_loadu_ps(key_min + d);
    const __m256 hi = _mm256_loadu_ps(key_max + d);
    for (int q = 0; q < num_queries; ++q) {
      const __m256 x = _mm256_loadu_ps(queries + q * dim + d);
      acc = _mm256_add_ps(acc, _mm256_max_ps(_mm256_mul_ps(x, lo), _mm256_mul_ps(x, hi)));
    }
  }
  return HorizontalSum(acc);
}

// kQueries queries against 8 keys, one per lane, in ScoreScalar's order.
template <int kQueries>
RI_AVX2 void ScoreChunkAvx2(const float* queries, const uint16_t* chunk, size_t key_stride, int dim,
                            float scale, float* scores, size_t score_stride) {
  __m256 even[kQueries], odd[kQueries];
  for (int q = 0; q < kQueries; ++q) even[q] = odd[q] = _mm256_setzero_ps();
  for (int d = 0; d < dim; d += 2) {
    const __m256 key_even = LoadHalf8(chunk + d * key_stride);
    const __m256 key_odd = LoadHalf8(chunk + (d + 1) * key_stride);
    for (int q = 0; q < kQueries; ++q) {
      even[q] = _mm256_fmadd_ps(_mm256_set1_ps(queries[q * dim + d]), key_even, even[q]);
      odd[q] = _mm256_fmadd_ps(_mm256_set1_ps(queries[q * dim + d + 1]), key_odd, odd[q]);
    }
  }
  for (int q = 0; q < kQueries; ++q) {
    _mm256_storeu_ps(scores + q * score_stride,
                     _mm256_mul_ps(_mm256_add_ps(even[q], odd[q]), _mm256_set1_ps(scale)));
  }
}

// Whole chunks of 8 keys; the last few keys take the scalar path, whose
// order is the same.
RI_AVX2 void ScoreRunAvx2(const float* queries, int num_queries, const uint16_t* keys,
                          size_t key_stride, int count, int dim, float scale, float* scores,
                          size_t score_stride) {
  const int whole = count / 8 * 8;
  for (int i = 0; i < whole; i += 8) {
    int q = 0;
    for (; q + 3 <= num_queries; q += 3) {
      ScoreChunkAvx2<3>(queries + q * dim, keys + i, key_stride, dim, scale,
                        scores + q * score_stride + i, score_stride);
    }
    for (; q < num_queries; ++q) {
      ScoreChunkAvx2<1>(queries + q * dim, keys + i, key_stride, dim, scale,
                        scores + q * score_stride + i, score_stride);
    }
  }
  ScoreRunScalar(queries, num_queries, keys + whole, key_stride, count - whole, dim, scale,
                 scores + whole, score_stride);
}

RI_AVX2 void AccumulateValuesAvx2(const float* weights, size_t weight_stride, int num_queries,
                                  const uint16_t* values, int count, int dim, float* out) {
  for (int d = 0; d < dim; d += 8) {
    for (int q0 = 0; q0 < num_queries; q0 += kMaxGroup) {
      const int queries = num_queries - q0 < kMaxGroup ? num_queries - q0 : kMaxGroup;
      __m256 acc[kMaxGroup];
      for (int q = 0; q < queries; ++q) acc[q] = _mm256_loadu_ps(out + (q0 + q) * dim + d);
      for (int i = 0; i < count; ++i) {
        const __m256 v = LoadHalf8(values + static_cast<size_t>(i) * dim + d);
        for (int q = 0; q < queries; ++q) {
          acc[q] =
              _mm256_fmadd_ps(_mm256_set1_ps(weights[(q0 + q) * weight_stride + i]), v, acc[q]);
        }
      }
      for (int q = 0; q < queries; ++q) _mm256_storeu_ps(out + (q0 + q) * dim + d, acc[q]);
    }
  }
}

}  // namespace

// The SIMD paths need the head size to be a whole number of vectors (64,
// 128, ... in every supported model); other sizes take the scalar path.
void ScoreKeysF16(const float* queries, int num_queries, std::span<const F16KeyRun> runs,
                  size_t key_stride, int dim, float scale, float* scores, size_t score_stride) {
  const SimdLevel level = ActiveSimdLevel();
  if (level == SimdLevel::kAvx512 && dim % 16 == 0) {
    return ScoreKeysAvx512(queries, num_queries, runs, key_stride, dim, scale, scores,
                           score_stride);
  }
  const auto score_run = level >= SimdLevel::kAvx2 && dim % 8 == 0 ? ScoreRunAvx2 : ScoreRunScalar;
  for (const F16KeyRun& run : runs) {
    score_run(queries, num_queries, run.keys, key_stride, run.count, dim, scale, scores,
              score_stride);
    scores += run.count;
  }
}

float PageUpperBound(const float* queries, int num_queries, const float* key_min,
                     const float* key_max, int dim) {
  const SimdLevel level = ActiveSimdLevel();
  if (level == SimdLevel::kAvx512 && dim % 16 == 0) {
    return PageUpperBoundAvx512(queries, num_queries, key_min, key_max, dim);
  }
  if (level >= SimdLevel::kAvx2 && dim % 8 == 0) {
    return PageUpperBoundAvx2(queries, num_queries, key_min, key_max, dim);
  }
  return PageUpperBoundScalar(queries, num_queries, key_min, key_max, dim);
}

void SoftmaxRows(float* scores, int rows, int count, size_t stride, float* log_sum_exps) {
  const SimdLevel level = ActiveSimdLevel();
  for (int r = 0; r < rows; ++r) {
    float* row = scores + r * stride;
    const float lse = level == SimdLevel::kAvx512 ? SoftmaxRowAvx512(row, count)
                      : level == SimdLevel::kAvx2 ? SoftmaxRowAvx2(row, count)
                                                  : SoftmaxRowScalar(row, count);
    if (log_sum_exps != nullptr) log_sum_exps[r] = lse;
  }
}

void AccumulateValuesF16(const float* weights, size_t weight_stride, int num_queries,
                         const uint16_t* values, int count, int dim, float* out) {
  const SimdLevel level = ActiveSimdLevel();
  if (level == SimdLevel::kAvx512 && dim % 16 == 0) {
    AccumulateValuesAvx512(weights, weight_stride, num_queries, values, count, dim, out);
  } else if (level >= SimdLevel::kAvx2 && dim % 8 == 0) {
    AccumulateValuesAvx2(weights, weight_stride, num_queries, values, count, dim, out);
  } else {
    AccumulateValuesScalar(weights, weight_stride, num_queries, values, count, dim, out);
  }
}

void FloatsToF16(const float* from, int count, uint16_t* to) {
  if (ActiveSimdLevel() >= SimdLevel::kAvx2) return FloatsToF16F16c(from, count, to);
  FloatsToF16Scalar(from, count, to);
}

void WidenKeyBounds(const uint16_t* keys, int count, int dim, float* lo, float* hi) {
  if (ActiveSimdLevel() >= SimdLevel::kAvx2 && dim % 8 == 0) {
    return WidenKeyBoundsF16c(keys, count, dim, lo, hi);
  }
  WidenKeyBoundsScalar(keys, count, dim, lo, hi);
}

}  // namespace ri
