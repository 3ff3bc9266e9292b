#include "attention/quest_attention.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/attention_kernels.h"
#include "kv/paged_kv_cache.h"
#include "util/thread_pool.h"

namespace ri {

void ScorePages(const KvPagePool& pool, std::span<const int> page_table, int kv_head,
                const float* group_queries, int group_size, int head_dim, int first, int end,
                float* scores) {
  for (int j = first; j < end; ++j) {
    const int page = page_table[j];
    if (j + 1 < end) {  // bounds of scattered pages: fetch the next one early
      const float* next = pool.key_min(page_table[j + 1], kv_head);  // min, then max
      for (int f = 0; f < 2 * head_dim; f += 16) __builtin_prefetch(next + f);
    }
    scores[j] = PageUpperBound(group_queries, group_size, pool.key_min(page, kv_head),
                               pool.key_max(page, kv_head), head_dim);
  }
}

void ChoosePages(std::span<const float> scores, int newest, int budget_pages,
                 std::vector<int>& selected) {
  selected.resize(newest);
  std::iota(selected.begin(), selected.end(), 0);
  if (budget_pages > newest) {
    selected.push_back(newest);
    return;
  }
  // The newest page is always read; the others compete for the rest.
  const int others = std::max(0, budget_pages - 1);
  std::partial_sort(selected.begin(), selected.begin() + others, selected.end(),
                    [&](int a, int b) { return scores[a] != scores[b] ? scores[a] > scores[b] : a > b; });
  selected.resize(others);
  selected.push_back(newest);
  std::sort(selected.begin(), selected.end());
}

void SelectPages(const KvPagePool& pool, std::span<const int> page_table, int position,
                 int kv_head, const float* group_queries, int group_size, int head_dim,
                 int budget_pages, std::vector<float>& scores, std::vector<int>& selected) {
  const int newest = position / pool.geometry().page_size;
  if (budget_pages <= newest) {
    scores.resize(newest);
    ScorePages(pool, page_table, kv_head, group_queries, group_size, head_dim, 0, newest,
               scores.data());
  }
  ChoosePages(scores, newest, budget_pages, selected);
}

void RunsForPages(std::span<const int> page_table, std::span<const int> page_indices,
                  int page_size, int last, std::vector<PageRun>& runs) {
  runs.clear();
  for (const int j : page_indices) {
    const int count = std::min(page_size, last - j * page_size + 1);
    if (count > 0) runs.push_back({page_table[j], 0, count});
  }
}

bool QuestAttention::IsSparse(const LayerAttention& call, int row) const {
  return call.roles[row] != RowRole::kPrefill && call.layer >= config_.dense_layers;
}

int QuestAttention::BudgetPages(const LayerAttention& call, const SequenceKvCache& cache,
                                int row) const {
  const int position = call.positions[row];
  const int page_size = cache.geometry().page_size;
  const int pages = position / page_size + 1;
  if (!IsSparse(call, row)) return pages;
  return std::min(pages, (config_.budget.TokensFor(position + 1) + page_size - 1) / page_size);
}

void QuestAttention::SelectPageIndices(const LayerAttention& call, const SequenceKvCache& cache,
                                       int row, int kv_head, std::vector<int>& selected) const {
  ChoosePages(page_scores_[static_cast<size_t>(row) * num_kv_heads_ + kv_head],
              call.positions[row] / cache.geometry().page_size, BudgetPages(call, cache, row),
              selected);
}

void QuestAttention::BeforeSelect(const LayerAttention& call, SequenceKvCache& cache,
                                  ThreadPool& pool) {
  num_kv_heads_ = call.num_kv_heads;
  const size_t items = static_cast<size_t>(RowCount(call)) * call.num_kv_heads;
  selected_pages_.resize(items);
  page_scores_.resize(items);
  // The pages of every sparse (row, kv head) are scored here, in work units
  // of up to kScorePages pages: a decode row's few kv heads alone would split
  // unevenly over the threads.
  struct Unit {
    int row, kv_head, first, end;
  };
  std::vector<Unit> units;
  const int page_size = cache.geometry().page_size;
  for (int row = 0; row < RowCount(call); ++row) {
    const int newest = call.positions[row] / page_size;
    if (BudgetPages(call, cache, row) > newest) continue;  // reads every page
    for (int kv_head = 0; kv_head < call.num_kv_heads; ++kv_head) {
      page_scores_[static_cast<size_t>(row) * call.num_kv_heads + kv_head].resize(newest);
      for (int first = 0; first < newest; first += kScorePages) {
        units.push_back({row, kv_head, first, std::min(newest, first + kScorePages)});
      }
    }
  }
  const int group = call.num_heads / call.num_kv_heads;
  pool.ParallelFor(units.size(), [&](size_t begin, size_t end) {
    for (size_t u = begin; u < end; ++u) {
      const Unit& unit = units[u];
      const size_t item = static_cast<size_t>(unit.row) * call.num_kv_heads + unit.kv_head;
      const float* group_queries = call.queries + item * group * call.head_dim;
      ScorePages(cache.pool(), cache.page_table(call.layer), unit.kv_head, group_queries, group,
                 call.head_dim, unit.first, unit.end, page_scores_[item].data());
    }
  });
}

void QuestAttention::SelectRuns(const LayerAttention& call, const SequenceKvCache& cache, int row,
                                int kv_head, std::vector<PageRun>& runs) const {
  std::vector<int>& selected = selected_pages_[static_cast<size_t>(row) * num_kv_heads_ + kv_head];
  SelectPageIndices(call, cache, row, kv_head, selected);
  RunsForPages(cache.page_table(call.layer), selected, cache.geometry().page_size,
               call.positions[row], runs);
}

uint64_t QuestAttention::SelectionBytes(const LayerAttention& call, const SequenceKvCache& cache,
                                        int row) const {
  const int pages = call.positions[row] / cache.geometry().page_size + 1;
  if (BudgetPages(call, cache, row) >= pages) return 0;
  // Scoring reads the min and max of every page.
  return static_cast<uint64_t>(pages) * 2 * call.head_dim * sizeof(float);
}

}  // namespace ri
