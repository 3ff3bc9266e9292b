// Attention arithmetic over F16 keys and values stored in the KV cache, for
// the group of query heads that share one kv head (GQA): every key and value
// is loaded once for all queries of the group. SIMD path chosen at run time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ri {

// A run of `count` F16 keys stored dimension-major, as a KV page holds them:
// dimension d of key i at keys[d * key_stride + i].
struct F16KeyRun {
  const uint16_t* keys;
  int count;
};

// scores[q * score_stride + i] = scale * dot(queries[q], key i) for the
// `num_queries` queries (each `dim` floats, contiguous) and the keys of
// `runs`, numbered on from run to run. Every score sums its even and its odd
// dimensions in two fused multiply-add chains, each in ascending order, and
// scales their sum: the same bits at every SIMD level, whatever the other
// queries and keys.
void ScoreKeysF16(const float* queries, int num_queries, std::span<const F16KeyRun> runs,
                  size_t key_stride, int dim, float scale, float* scores, size_t score_stride);

// Quest's upper bound of q.k over a page for a group of queries:
// sum over queries and dims of max(q[d] * key_min[d], q[d] * key_max[d]).
float PageUpperBound(const float* queries, int num_queries, const float* key_min,
                     const float* key_max, int dim);

// Softmax of each of `rows` rows of `count` scores (rows `stride` apart), in
// place; log_sum_exps[r] (if not null) receives log(sum(exp(row))).
void SoftmaxRows(float* scores, int rows, int count, size_t stride, float* log_sum_exps);

// out[q][d] += sum_i weights[q * weight_stride + i] * values[i][d].
void AccumulateValuesF16(const float* weights, size_t weight_stride, int num_queries,
                         const uint16_t* values, int count, int dim, float* out);

// to[i] = from[i] rounded to F16, nearest even (as FloatToFp16): how keys and
// values enter the cache.
void FloatsToF16(const float* from, int count, uint16_t* to);

// Widens Quest's page bounds by `count` F16 keys of `dim` values:
// lo[d] = min(lo[d], key[d]) and hi[d] = max(hi[d], key[d]) in float, as
// std::min / std::max do (a NaN key leaves a bound as it is).
void WidenKeyBounds(const uint16_t* keys, int count, int dim, float* lo, float* hi);

}  // namespace ri
