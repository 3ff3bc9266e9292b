#include "attention/exact_attention.h"

#include <algorithm>
#include <array>
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

// A run's F16 keys or values: where its first position starts, and the
// bytes to prefetch for it.
struct RunData {
  const uint16_t* start;
  const char* prefetch_begin;
  size_t prefetch_bytes;
};

template <class DataOf>
void PrefetchRun(std::span<const PageRun> runs, size_t r, DataOf data_of) {
  if (r >= runs.size()) return;
  const RunData data = data_of(runs[r]);
  for (size_t offset = 0; offset < data.prefetch_bytes; offset += 64) {
    __builtin_prefetch(data.prefetch_begin + offset);
  }
}

// A page's keys are dimension-major, so a run's keys spread over all of them
// (consecutive positions are neighbours within each dimension's row).
auto keys_of(const KvPagePool& pool, int kv_head) {
  return [&pool, kv_head](const PageRun& run) {
    const uint16_t* page_keys = pool.keys(run.page, kv_head);
    const KvGeometry& g = pool.geometry();
    return RunData{page_keys + run.first, reinterpret_cast<const char*>(page_keys),
                   static_cast<size_t>(g.page_size) * g.head_dim * sizeof(uint16_t)};
  };
}
auto values_of(const KvPagePool& pool, int kv_head) {
  return [&pool, kv_head](const PageRun& run) {
    const int head_dim = pool.geometry().head_dim;
    const uint16_t* start = pool.values(run.page, kv_head) + run.first * head_dim;
    return RunData{start, reinterpret_cast<const char*>(start),
                   static_cast<size_t>(run.count) * head_dim * sizeof(uint16_t)};
  };
}

// Calls use(group, offset) for each group of up to kGroup consecutive runs,
// in order, with its first position's index among all runs' positions.
template <size_t kGroup, class DataOf, class Use>
void ForEachRunGroup(std::span<const PageRun> runs, DataOf data_of, Use use) {
  for (size_t r = 0; r < kRunsAhead; ++r) PrefetchRun(runs, r, data_of);
  int offset = 0;
  for (size_t r = 0; r < runs.size(); r += kGroup) {
    const std::span<const PageRun> group = runs.subspan(r, std::min(kGroup, runs.size() - r));
    for (size_t g = 0; g < group.size(); ++g) PrefetchRun(runs, r + g + kRunsAhead, data_of);
    use(group, offset);
    offset += RunPositions(group);
  }
}

// Exact attention of `num_queries` contiguous queries over the runs'
// positions, query q seeing the first seen(q) of them (the rest get
// probability 0): scores, then probabilities, at [q * positions + i].
template <class Seen>
void AttendQueries(const KvPagePool& pool, int kv_head, std::span<const PageRun> runs,
                   const float* queries, int num_queries, int head_dim, float scale, float* scores,
                   float* out, float* log_sum_exps, Seen seen) {
  const int total = RunPositions(runs);
  // Two runs at a time: the kernel scores two pages' keys per pass.
  const auto keys = keys_of(pool, kv_head);
  ForEachRunGroup<2>(runs, keys, [&](std::span<const PageRun> group, int offset) {
    std::array<F16KeyRun, 2> key_runs;
    for (size_t g = 0; g < group.size(); ++g) key_runs[g] = {keys(group[g]).start, group[g].count};
    ScoreKeysF16(queries, num_queries, std::span(key_runs).first(group.size()),
                 pool.geometry().page_size, head_dim, scale, scores + offset, total);
  });
  for (int q = 0; q < num_queries; ++q) {
    const int visible = std::min(seen(q), total);
    float* row = scores + static_cast<size_t>(q) * total;
    SoftmaxRows(row, 1, visible, total, log_sum_exps == nullptr ? nullptr : log_sum_exps + q);
    std::fill(row + visible, row + total, 0.0f);
  }
  std::fill(out, out + static_cast<size_t>(num_queries) * head_dim, 0.0f);
  const auto values = values_of(pool, kv_head);
  ForEachRunGroup<1>(runs, values, [&](std::span<const PageRun> group, int offset) {
    AccumulateValuesF16(scores + offset, total, num_queries, values(group[0]).start, group[0].count,
                        head_dim, out);
  });
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
  AttendQueries(pool, kv_head, runs, queries, num_queries, head_dim, scale, scores, out,
                log_sum_exps, [](int) { return std::numeric_limits<int>::max(); });
}

void AttendPrefixTile(const KvPagePool& pool, int kv_head, std::span<const PageRun> runs,
                      const float* queries, size_t query_row_stride, std::span<const int> visible,
                      int group, int head_dim, float scale, TileScratch& scratch, float* out,
                      float* log_sum_exps) {
  const int rows = static_cast<int>(visible.size());
  const int num_queries = rows * group;
  const size_t group_width = static_cast<size_t>(group) * head_dim;
  scratch.queries.resize(num_queries * static_cast<size_t>(head_dim));
  for (int k = 0; k < rows; ++k) {
    std::copy_n(queries + k * query_row_stride, group_width,
                scratch.queries.data() + k * group_width);
  }
  scratch.scores.resize(num_queries * static_cast<size_t>(RunPositions(runs)));
  // Every query scores every position of the tile (those past a row's own
  // are a few at most); the softmax then covers only what the row sees.
  AttendQueries(pool, kv_head, runs, scratch.queries.data(), num_queries, head_dim, scale,
                scratch.scores.data(), out, log_sum_exps,
                [&](int q) { return visible[q / group]; });
}

bool RunsExtend(std::span<const PageRun> shorter, std::span<const PageRun> longer) {
  if (shorter.empty()) return true;
  if (longer.size() < shorter.size()) return false;
  const size_t last = shorter.size() - 1;
  for (size_t j = 0; j < last; ++j) {
    if (shorter[j].page != longer[j].page || shorter[j].first != longer[j].first ||
        shorter[j].count != longer[j].count) {
      return false;
    }
  }
  return shorter[last].page == longer[last].page && shorter[last].first == longer[last].first &&
         shorter[last].count <= longer[last].count;
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
  // One division for the first page; every later run starts a page.
  for (int position = first, j = first / page_size, slot = first % page_size; position <= last;
       ++j, slot = 0) {
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
