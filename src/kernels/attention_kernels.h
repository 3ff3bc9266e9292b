// Attention arithmetic over F16 keys and values stored in the KV cache, for
// the group of query heads that share one kv head (GQA): every key and value
// is loaded once for all queries of the group. SIMD path chosen at run time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

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

// A run of `count` F16 values stored position-major, as a KV page holds them:
// dimension d of value i at values[i * dim + d].
struct F16ValueRun {
  const uint16_t* values;
  int count;
};

// Keys and values of a sequence of positions rounded to BF16, in the layouts
// AMX tiles take (PrepareBf16KeysValues); a tile may read any prefix of them.
struct Bf16KeysValues {
  int dim = 0;
  std::vector<uint32_t> key_pairs, value_pairs;
  std::vector<const uint16_t*> value_rows;  // where each position's values start
  std::vector<uint16_t> zeros;              // the values of padding positions
};

// Converts the positions of the runs (keys and values of the same positions
// in the same order; keys `key_stride` apart per dimension).
void PrepareBf16KeysValues(std::span<const F16KeyRun> key_runs, size_t key_stride,
                           std::span<const F16ValueRun> value_runs, int dim,
                           Bf16KeysValues& prepared);

// Buffers of AttendTileBf16, reused across calls.
struct Bf16TileScratch {
  std::vector<uint16_t> queries, bf16_probabilities;
  std::vector<float> probabilities, outputs, inverse_sums;
  size_t probability_stride = 0;  // of `probabilities`, after a call
};

// Whether AttendTileBf16 runs here: AMX tiles with BF16 products that the OS
// lets this process use, the AVX-512 level active, and a head size that is a
// multiple of 64.
bool Bf16TileAttentionAvailable(int dim);

// Softmax attention of a tile of `rows` rows, each with `queries_per_row`
// queries (row k's at queries + k * query_row_stride, prepared.dim floats
// each, contiguous), over the first `positions` prepared positions, of which
// row k sees the first visible[k]; with queries, keys, values and
// probabilities rounded to BF16 (8 significant bits) and every sum in float,
// on AMX tiles: relative errors of a few parts in a thousand per score and
// output, for 2-3.5 times the speed of the exact kernels on prompt tiles. Query q = k *
// queries_per_row + g writes out[q * dim ...] and log_sum_exps[q] (if not
// null; -infinity for a query that sees nothing); if want_probabilities,
// scratch.probabilities then holds its probabilities (in float) at
// [q * scratch.probability_stride + i].
void AttendTileBf16(const float* queries, size_t query_row_stride, int rows, int queries_per_row,
                    std::span<const int> visible, const Bf16KeysValues& prepared, int positions,
                    float scale, bool want_probabilities, Bf16TileScratch& scratch, float* out,
                    float* log_sum_exps);

// to[i] = from[i] rounded to F16, nearest even (as FloatToFp16): how keys and
// values enter the cache.
void FloatsToF16(const float* from, int count, uint16_t* to);

// Widens Quest's page bounds by `count` F16 keys of `dim` values:
// lo[d] = min(lo[d], key[d]) and hi[d] = max(hi[d], key[d]) in float, as
// std::min / std::max do (a NaN key leaves a bound as it is).
void WidenKeyBounds(const uint16_t* keys, int count, int dim, float* lo, float* hi);

}  // namespace ri
