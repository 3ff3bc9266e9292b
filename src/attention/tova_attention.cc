#include "attention/tova_attention.h"

#include <algorithm>
#include <numeric>

#include "kv/paged_kv_cache.h"

namespace ri {

void TovaAttention::BeforeSelect(const LayerAttention& call, SequenceKvCache& cache,
                                 ThreadPool& /*pool*/) {
  retained_.resize(cache.geometry().num_layers);
  std::vector<int>& retained = retained_[call.layer];
  if (retained.empty()) {
    // A policy that takes over a filled cache (Session::Fork) starts from all of it.
    for (int p = 0; p < call.positions[0]; ++p) retained.push_back(p);
  }
  for (const int position : call.positions) {
    if (retained.empty() || retained.back() < position) retained.push_back(position);
  }
}

void TovaAttention::SelectRuns(const LayerAttention& call, const SequenceKvCache& cache, int row,
                               int kv_head, std::vector<PageRun>& runs) const {
  const auto page_table = cache.page_table(call.layer);
  const int page_size = cache.geometry().page_size;
  const int position = call.positions[row];
  runs.clear();
  for (const int p : retained_[call.layer]) {
    if (p > position) break;
    PageRun* last = runs.empty() ? nullptr : &runs.back();
    if (last != nullptr && last->page == page_table[p / page_size] &&
        last->first + last->count == p % page_size) {
      ++last->count;
    } else {
      runs.push_back({page_table[p / page_size], p % page_size, 1});
    }
  }
}

void TovaAttention::AfterAttend(const LayerAttention& call, SequenceKvCache& cache) {
  std::vector<int>& retained = retained_[call.layer];
  for (int row = 0; row < RowCount(call); ++row) {
    if (call.roles[row] != RowRole::kDecode) continue;
    const int position = call.positions[row];
    const int budget = config_.budget.TokensFor(position + 1);
    const int size = static_cast<int>(retained.size());
    if (size <= budget) continue;
    // The query saw exactly the retained positions, in order.
    std::vector<float> weight_sum(size, 0.0f);
    for (int head = 0; head < call.num_heads; ++head) {
      const std::vector<float>& w = weights(row, head);
      for (int i = 0; i < size; ++i) weight_sum[i] += w[i];
    }
    std::vector<int> order(size);
    std::iota(order.begin(), order.end(), 0);
    // Lowest weight first; on ties the older position goes first.
    std::partial_sort(order.begin(), order.begin() + (size - budget), order.end(),
                      [&](int a, int b) { return weight_sum[a] != weight_sum[b] ? weight_sum[a] < weight_sum[b] : a < b; });
    std::vector<bool> evict(size, false);
    for (int i = 0; i < size - budget; ++i) evict[order[i]] = true;
    std::vector<int> kept;
    kept.reserve(budget);
    for (int i = 0; i < size; ++i) {
      if (!evict[i]) kept.push_back(retained[i]);
    }
    // Pages with no retained position left, except the one being filled, are freed.
    const int page_size = cache.geometry().page_size;
    const int newest_page = position / page_size;
    std::vector<bool> occupied(newest_page + 1, false);
    for (const int p : kept) occupied[p / page_size] = true;
    for (int j = 0; j < newest_page; ++j) {
      if (!occupied[j]) cache.ReleasePage(call.layer, j);
    }
    retained.swap(kept);
  }
}

}  // namespace ri
