// Quest: query-aware page selection. A decode query reads, per kv head, the
// pages with the highest upper-bound scores (from the pages' key min/max),
// always including the page it is written to; prefill rows and the first
// `dense_layers` layers attend densely.
#pragma once

#include <span>
#include <vector>

#include "attention/selective_attention.h"
#include "attention/policy_config.h"

namespace ri {

class KvPagePool;

// The pages (indices into the page table, ascending) one kv head reads for a
// query at `position`: the page holding `position` plus the `budget_pages`-1
// other pages with the highest score, where a page's score is the sum of
// PageUpperBound over the group's queries. Ties go to the more recent page.
// All pages when the budget covers them. (ScorePages, then ChoosePages.)
void SelectPages(const KvPagePool& pool, std::span<const int> page_table, int position,
                 int kv_head, const float* group_queries, int group_size, int head_dim,
                 int budget_pages, std::vector<float>& scores, std::vector<int>& selected);

// scores[j] = the score above of page index j, for j in [first, end).
void ScorePages(const KvPagePool& pool, std::span<const int> page_table, int kv_head,
                const float* group_queries, int group_size, int head_dim, int first, int end,
                float* scores);

// SelectPages' choice given the scores of the pages before the newest one
// (page index `newest`); the scores are unread when the budget covers every
// page.
void ChoosePages(std::span<const float> scores, int newest, int budget_pages,
                 std::vector<int>& selected);

class QuestAttention : public SelectiveAttention {
 public:
  explicit QuestAttention(const PolicyConfig& config)
      : SelectiveAttention(config.prompt), config_(config) {}
  std::string name() const override { return "quest"; }

 protected:
  // Also scores the pages of every sparse (row, kv head), split over the threads.
  void BeforeSelect(const LayerAttention& call, SequenceKvCache& cache, ThreadPool& pool) override;
  void SelectRuns(const LayerAttention& call, const SequenceKvCache& cache, int row, int kv_head,
                  std::vector<PageRun>& runs) const override;
  uint64_t SelectionBytes(const LayerAttention& call, const SequenceKvCache& cache,
                          int row) const override;
  // Whether the query of `row` attends sparsely (decode rows past the dense layers).
  bool IsSparse(const LayerAttention& call, int row) const;
  // Pages the query of `row` may read: all of its causal prefix when dense.
  int BudgetPages(const LayerAttention& call, const SequenceKvCache& cache, int row) const;
  // The page indices (ascending) the query of `row` reads through `kv_head`.
  void SelectPageIndices(const LayerAttention& call, const SequenceKvCache& cache, int row,
                         int kv_head, std::vector<int>& selected) const;

  // The page indices (ascending) chosen for (row, kv head) in the last call.
  const std::vector<int>& selected_pages(int row, int kv_head) const {
    return selected_pages_[static_cast<size_t>(row) * num_kv_heads_ + kv_head];
  }

  PolicyConfig config_;

 private:
  int num_kv_heads_ = 0;
  // Pages scored per work unit of BeforeSelect.
  static constexpr int kScorePages = 64;
  // Written by SelectRuns, one (row, kv head) entry per concurrent call.
  mutable std::vector<std::vector<int>> selected_pages_;
  // Per sparse (row, kv head): the scores of the pages before the newest.
  std::vector<std::vector<float>> page_scores_;
};

// Runs covering the given page indices, each up to `last` (a causal limit).
void RunsForPages(std::span<const int> page_table, std::span<const int> page_indices,
                  int page_size, int last, std::vector<PageRun>& runs);

}  // namespace ri
