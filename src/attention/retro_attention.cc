#include "attention/retro_attention.h"

#include <algorithm>

#include "kv/paged_kv_cache.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace ri {

DecodePlan RetroAttention::PlanDecodeStep(int position, int hidden_size) {
  // The window holds the decode positions p with position - w < p < position.
  while (!window_.empty() && window_.front().position <= position - config_.window) {
    Retire(window_.front());
    window_.pop_front();
  }
  replays_.clear();
  for (const WindowEntry& entry : window_) {
    replays_.push_back({entry.position, first_sparse_layer(), entry.residual.data()});
  }
  WindowEntry& current = window_.emplace_back();
  current.position = position;
  current.budget_tokens = config_.budget.TokensFor(position + 1);
  current.residual.resize(hidden_size);
  return {replays_, first_sparse_layer(), current.residual.data()};
}

RetroAttention::WindowEntry* RetroAttention::Find(int position) {
  for (WindowEntry& entry : window_) {
    if (entry.position == position) return &entry;
  }
  return nullptr;
}

void RetroAttention::Retire(const WindowEntry& entry) {
  for (const uint32_t positions : entry.exposure) {
    stats_.exposure_sum += static_cast<double>(positions) / entry.budget_tokens;
    ++stats_.exposure_count;
  }
}

uint32_t& RetroAttention::LastLoaded(int layer, int kv_head, int page_index) {
  std::vector<uint32_t>& pages = last_loaded_[static_cast<size_t>(layer) * num_kv_heads_ + kv_head];
  if (pages.size() <= static_cast<size_t>(page_index)) pages.resize(page_index + 1, 0);
  return pages[page_index];
}

void RetroAttention::Attend(const LayerAttention& call, SequenceKvCache& cache,
                            ThreadPool& pool) {
  const int rows = RowCount(call);
  if (std::find(call.roles.begin(), call.roles.end(), RowRole::kPrefill) != call.roles.end()) {
    window_.clear();  // a new prompt part: only decode positions after it may be corrected
  }
  int num_window = 0;
  while (num_window < rows && call.roles[num_window] == RowRole::kRetro) ++num_window;
  if (num_window > 0 && call.layer < first_sparse_layer()) {
    Fail("window rows reached dense layer {}", call.layer);
  }
  num_kv_heads_ = call.num_kv_heads;
  last_loaded_.resize(static_cast<size_t>(cache.geometry().num_layers) * call.num_kv_heads);

  // Corrected hidden states give the window positions new keys and values.
  // At the first sparse layer their input has not changed, so neither have they.
  if (call.layer > first_sparse_layer()) {
    cache.Overwrite(call.layer, call.positions.first(num_window), call.keys, call.values);
  }
  AttendCurrent(call, num_window, cache, pool);
  if (call.layer < first_sparse_layer() || rows == num_window) return;
  const int current_row = rows - 1;
  if (call.roles[current_row] != RowRole::kDecode) return;
  Supplement(call, num_window, current_row, cache, pool);
  // Pages read this step are now seen by every query of the window.
  const int position = call.positions[current_row];
  for (int kv_head = 0; kv_head < call.num_kv_heads; ++kv_head) {
    for (const int j : selected_pages(current_row - num_window, kv_head)) {
      LastLoaded(call.layer, kv_head, j) = static_cast<uint32_t>(position) + 1;
    }
  }
}

void RetroAttention::AttendCurrent(const LayerAttention& call, int first_current,
                                   SequenceKvCache& cache, ThreadPool& pool) {
  const int rows = RowCount(call) - first_current;
  if (rows == 0) return;
  const size_t q_offset = static_cast<size_t>(first_current) * call.num_heads * call.head_dim;
  const size_t kv_offset = static_cast<size_t>(first_current) * call.num_kv_heads * call.head_dim;
  current_lse_.resize(static_cast<size_t>(rows) * call.num_heads);
  LayerAttention current = call;
  current.positions = call.positions.subspan(first_current);
  current.roles = call.roles.subspan(first_current);
  current.queries = call.queries + q_offset;
  current.keys = call.keys + kv_offset;
  current.values = call.values + kv_offset;
  current.outputs = call.outputs + q_offset;
  current.log_sum_exps = current_lse_.data();
  QuestAttention::Attend(current, cache, pool);
  if (call.log_sum_exps != nullptr) {
    std::copy(current_lse_.begin(), current_lse_.end(),
              call.log_sum_exps + static_cast<size_t>(first_current) * call.num_heads);
  }

  // The decode row's output and log-sum-exp start its window entry.
  const int last = rows - 1;
  WindowEntry* entry = Find(current.positions[last]);
  if (current.roles[last] != RowRole::kDecode || entry == nullptr ||
      call.layer < first_sparse_layer()) {
    return;
  }
  const int sparse_layers = cache.geometry().num_layers - first_sparse_layer();
  const size_t head_width = static_cast<size_t>(call.num_heads) * call.head_dim;
  entry->outputs.resize(sparse_layers * head_width);
  entry->log_sum_exps.resize(static_cast<size_t>(sparse_layers) * call.num_heads);
  entry->exposure.resize(static_cast<size_t>(sparse_layers) * call.num_kv_heads);
  const int sparse_layer = call.layer - first_sparse_layer();
  std::copy_n(current.outputs + last * head_width, head_width,
              entry->outputs.begin() + sparse_layer * head_width);
  std::copy_n(current_lse_.begin() + last * call.num_heads, call.num_heads,
              entry->log_sum_exps.begin() + sparse_layer * call.num_heads);
  for (int kv_head = 0; kv_head < call.num_kv_heads; ++kv_head) {
    uint32_t positions = 0;
    for (const PageRun& run : runs(last, kv_head)) positions += run.count;
    entry->exposure[sparse_layer * call.num_kv_heads + kv_head] = positions;
  }
}

void RetroAttention::Supplement(const LayerAttention& call, int num_window, int current_row,
                                const SequenceKvCache& cache, ThreadPool& pool) {
  const int group = call.num_heads / call.num_kv_heads;
  const int head_dim = call.head_dim;
  const int page_size = cache.geometry().page_size;
  const int sparse_layer = call.layer - first_sparse_layer();
  const auto page_table = cache.page_table(call.layer);
  const KvPagePool& pages = cache.pool();
  const size_t items = static_cast<size_t>(num_window) * call.num_kv_heads;
  std::vector<uint32_t> added_pages(items), added_positions(items);
  std::vector<WindowEntry*> entries(num_window);
  for (int r = 0; r < num_window; ++r) {
    entries[r] = Find(call.positions[r]);
    if (entries[r] == nullptr || entries[r]->outputs.empty()) {
      Fail("no cached attention output for window position {}", call.positions[r]);
    }
  }
  // Unseen pages of this step per (window row, kv head), computed serially:
  // LastLoaded may grow its table.
  std::vector<std::vector<int>> unseen(items);
  for (size_t item = 0; item < items; ++item) {
    const int row = static_cast<int>(item / call.num_kv_heads);
    const int kv_head = static_cast<int>(item % call.num_kv_heads);
    const int position = call.positions[row];
    for (const int j : selected_pages(current_row - num_window, kv_head)) {
      // Causal: pages after the query's own hold nothing it may see. Unseen:
      // not read by any step from `position` on.
      if (j * page_size <= position && LastLoaded(call.layer, kv_head, j) <= static_cast<uint32_t>(position)) {
        unseen[item].push_back(j);
      }
    }
  }
  pool.ParallelFor(items, [&](size_t begin, size_t end) {
    std::vector<PageRun> supplement;
    std::vector<float> scores, partial(static_cast<size_t>(group) * head_dim), partial_lse(group);
    for (size_t item = begin; item < end; ++item) {
      const int row = static_cast<int>(item / call.num_kv_heads);
      const int kv_head = static_cast<int>(item % call.num_kv_heads);
      const int position = call.positions[row];
      WindowEntry& entry = *entries[row];
      RunsForPages(page_table, unseen[item], page_size, position, supplement);
      const uint32_t count = RunPositions(supplement);
      const size_t first_head = static_cast<size_t>(row) * call.num_heads + kv_head * group;
      if (count > 0) {
        scores.resize(static_cast<size_t>(count) * group);
        AttendRuns(pages, kv_head, supplement, call.queries + first_head * head_dim, group,
                   head_dim, call.scale, scores.data(), partial.data(), partial_lse.data());
      }
      for (int q = 0; q < group; ++q) {
        const int head = kv_head * group + q;
        float* cached = entry.outputs.data() +
                        (static_cast<size_t>(sparse_layer) * call.num_heads + head) * head_dim;
        float* cached_lse =
            &entry.log_sum_exps[static_cast<size_t>(sparse_layer) * call.num_heads + head];
        if (count > 0) {
          MergeAttention(cached, cached_lse, partial.data() + q * head_dim, partial_lse[q],
                         head_dim);
        }
        std::copy_n(cached, head_dim, call.outputs + (first_head + q) * head_dim);
        if (call.log_sum_exps != nullptr) call.log_sum_exps[first_head + q] = *cached_lse;
      }
      entry.exposure[sparse_layer * call.num_kv_heads + kv_head] += count;
      added_pages[item] = static_cast<uint32_t>(unseen[item].size());
      added_positions[item] = count;
    }
  });
  stats_.window_queries += items;
  for (size_t item = 0; item < items; ++item) {
    stats_.supplementary_pages += added_pages[item];
    stats_.supplementary_positions += added_positions[item];
  }
}

}  // namespace ri
