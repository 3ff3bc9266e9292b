#include "attention/exact_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/attention_kernels.h"
#include "kv/paged_kv_cache.h"

namespace ri {

namespace {

// Runs are small (a page) and scattered in memory, beyond what the hardware
// prefetcher follows: ask for the rows of the run kRunsAhead on while one is
// used (a page of one kv head, 2 KB at head_dim 64, streams in less time than
// a memory access takes, so the next run alone would arrive late).
constexpr size_t kRunsAhead = 6;

template <class RowsOf>
void PrefetchRun(std::span<const PageRun> runs, size_t r, int head_dim, RowsOf rows_of) {
  if (r >= runs.size()) return;
  const char* bytes = reinterpret_cast<const char*>(rows_of(runs[r]));
  const size_t size = static_cast<size_t>(runs[r].count) * head_dim * sizeof(uint16_t);
  for (size_t offset = 0; offset < size; offset += 64) __builtin_prefetch(bytes + offset);
}

}  // namespace

int RunPositions(std::span<const PageRun> runs) {
  int total = 0;
  for (const PageRun& run : runs) total += run.count;
  return total;
}

void AttendRuns(const KvPagePool& pool, int kv_head, std::span<const PageRun> runs,
                const float* queries, int num_queries, int head_dim, float scale, float* scores,
                float* out, float* log_sum_exps) {
  const int total = RunPositions(runs);
  const auto keys_of = [&](const PageRun& run) {
    return pool.keys(run.page, kv_head) + run.first * head_dim;
  };
  const auto values_of = [&](const PageRun& run) {
    return pool.values(run.page, kv_head) + run.first * head_dim;
  };
  for (size_t r = 0; r < kRunsAhead; ++r) PrefetchRun(runs, r, head_dim, keys_of);
  int offset = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    const PageRun& run = runs[r];
    PrefetchRun(runs, r + kRunsAhead, head_dim, keys_of);
    ScoreKeysF16(queries, num_queries, keys_of(run), run.count, head_dim, scale, scores + offset,
                 total);
    offset += run.count;
  }
  SoftmaxRows(scores, num_queries, total, total, log_sum_exps);
  std::fill(out, out + static_cast<size_t>(num_queries) * head_dim, 0.0f);
  for (size_t r = 0; r < kRunsAhead; ++r) PrefetchRun(runs, r, head_dim, values_of);
  offset = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    const PageRun& run = runs[r];
    PrefetchRun(runs, r + kRunsAhead, head_dim, values_of);
    AccumulateValuesF16(scores + offset, total, num_queries, values_of(run), run.count, head_dim,
                        out);
    offset += run.count;
  }
}

void MergeAttention(float* out_a, float* lse_a, const float* out_b, float lse_b, int head_dim) {
  const float lse = std::max(*lse_a, lse_b) + std::log1p(std::exp(-std::fabs(*lse_a - lse_b)));
  const float weight_a = std::exp(*lse_a - lse);
  const float weight_b = std::exp(lse_b - lse);
  for (int d = 0; d < head_dim; ++d) out_a[d] = weight_a * out_a[d] + weight_b * out_b[d];
  *lse_a = lse;
}

void AppendRangeRuns(std::span<const int> page_table, int page_size, int first, int last,
                     std::vector<PageRun>& runs) {
  for (int position = first; position <= last;) {
    const int j = position / page_size;
    const int slot = position % page_size;
    const int count = std::min(page_size - slot, last - position + 1);
    runs.push_back({page_table[j], slot, count});
    position += count;
  }
}

void CausalPrefixRuns(std::span<const int> page_table, int page_size, int last,
                      std::vector<PageRun>& runs) {
  runs.clear();
  AppendRangeRuns(page_table, page_size, 0, last, runs);
}

}  // namespace ri
