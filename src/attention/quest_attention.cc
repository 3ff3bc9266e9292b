#include "attention/quest_attention.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/attention_kernels.h"
#include "kv/paged_kv_cache.h"

namespace ri {

void SelectPages(const KvPagePool& pool, std::span<const int> page_table, int position,
                 int kv_head, const float* group_queries, int group_size, int head_dim,
                 int budget_pages, std::vector<float>& scores, std::vector<int>& selected) {
  const int page_size = pool.geometry().page_size;
  const int newest = position / page_size;
  const int pages = newest + 1;
  selected.resize(pages);
  std::iota(selected.begin(), selected.end(), 0);
  if (budget_pages >= pages) return;
  scores.resize(newest);
  for (int j = 0; j < newest; ++j) {
    const int page = page_table[j];
    if (j + 1 < newest) {  // bounds of scattered pages: fetch the next one early
      const float* next = pool.key_min(page_table[j + 1], kv_head);  // min, then max
      for (int f = 0; f < 2 * head_dim; f += 16) __builtin_prefetch(next + f);
    }
    scores[j] = PageUpperBound(group_queries, group_size, pool.key_min(page, kv_head),
                               pool.key_max(page, kv_head), head_dim);
  }
  // The newest page is always read; the others compete for the rest.
  const int others = std::max(0, budget_pages - 1);
  selected.resize(newest);
  std::partial_sort(selected.begin(), selected.begin() + others, selected.end(),
                    [&](int a, int b) { return scores[a] != scores[b] ? scores[a] > scores[b] : a > b; });
  selected.resize(others);
  selected.push_back(newest);
  std::sort(selected.begin(), selected.end());
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
  const int position = call.positions[row];
  const int budget_pages = BudgetPages(call, cache, row);
  const int group = call.num_heads / call.num_kv_heads;
  const float* group_queries =
      call.queries + (static_cast<size_t>(row) * call.num_heads + kv_head * group) * call.head_dim;
  thread_local std::vector<float> scores;
  SelectPages(cache.pool(), cache.page_table(call.layer), position, kv_head, group_queries, group,
              call.head_dim, budget_pages, scores, selected);
}

void QuestAttention::BeforeSelect(const LayerAttention& call, SequenceKvCache& cache) {
  num_kv_heads_ = call.num_kv_heads;
  selected_pages_.resize(static_cast<size_t>(RowCount(call)) * call.num_kv_heads);
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
