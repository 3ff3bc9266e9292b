// Exact softmax attention of one query head over a chosen set of cached
// positions, given as runs within pages. Every policy computes its outputs
// with this one routine, so a policy that selects everything reproduces full
// attention exactly.
#pragma once

#include <span>
#include <vector>

namespace ri {

class KvPagePool;

// Positions [first, first + count) within `page` (slots, not sequence positions).
struct PageRun {
  int page = 0;
  int first = 0;
  int count = 0;
};

// Exact attention of the `num_queries` query heads that share `kv_head`
// (queries contiguous, head_dim floats each) over the runs' positions:
// out[q] = softmax(scale * q.K^T) V, log_sum_exps[q] (if not null) =
// log(sum(exp(scale * q.k))). `scores` must hold num_queries x positions
// floats; on return it holds the attention probabilities, query-major.
void AttendRuns(const KvPagePool& pool, int kv_head, std::span<const PageRun> runs,
                const float* queries, int num_queries, int head_dim, float scale, float* scores,
                float* out, float* log_sum_exps);

// Buffers of AttendPrefixTile, reused across calls.
struct TileScratch {
  std::vector<float> queries;  // the tile's queries, contiguous
  std::vector<float> scores;   // queries x positions; the probabilities on return
};

// Exact attention of a tile of one or more rows whose selections are
// prefixes of `runs` (prompt rows under the causal mask): row k sees the
// first visible[k] positions, through the `group` query heads that share
// `kv_head` (row k's queries at queries + k * query_row_stride, head after
// head); each key and value is loaded once for the whole tile. Query
// q = k * group + g writes out[q * head_dim ...] and log_sum_exps[q]
// (-infinity if it sees nothing); on return scratch.scores holds its
// probabilities at [q * RunPositions(runs) + i]. The results are bit for bit
// those of AttendRuns over each row's own positions.
void AttendPrefixTile(const KvPagePool& pool, int kv_head, std::span<const PageRun> runs,
                      const float* queries, size_t query_row_stride, std::span<const int> visible,
                      int group, int head_dim, float scale, TileScratch& scratch, float* out,
                      float* log_sum_exps);

// Whether the positions of `longer` begin with all those of `shorter`.
bool RunsExtend(std::span<const PageRun> shorter, std::span<const PageRun> longer);

// Positions covered by runs.
int RunPositions(std::span<const PageRun> runs);

// Folds a partial attention result (out_b, lse_b) over other positions into
// (out_a, lse_a) in place: the split-softmax merge, so that the result is the
// attention over the union of both position sets.
void MergeAttention(float* out_a, float* lse_a, const float* out_b, float lse_b, int head_dim);

// Appends the runs covering positions [first, last] of a page table.
void AppendRangeRuns(std::span<const int> page_table, int page_size, int first, int last,
                     std::vector<PageRun>& runs);

// Runs covering positions [0, last] of a page table (a causal prefix).
void CausalPrefixRuns(std::span<const int> page_table, int page_size, int last,
                      std::vector<PageRun>& runs);

}  // namespace ri
