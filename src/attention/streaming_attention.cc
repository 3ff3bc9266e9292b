#include "attention/streaming_attention.h"

#include <algorithm>

#include "kv/paged_kv_cache.h"

namespace ri {

void StreamingAttention::BeforeSelect(const LayerAttention& call, SequenceKvCache& cache,
                                      ThreadPool& /*pool*/) {
  window_start_.resize(cache.geometry().num_layers, 0);
  int& start = window_start_[call.layer];
  const int sinks = config_.sinks;
  start = std::max(start, sinks);
  for (int row = 0; row < RowCount(call); ++row) {
    if (call.roles[row] != RowRole::kDecode) continue;
    const int position = call.positions[row];
    const int recent = std::max(1, config_.budget.TokensFor(position + 1) - sinks);
    start = std::max(start, position + 1 - recent);
  }
  // Whole pages inside the evicted range go back to the pool.
  const int page_size = cache.geometry().page_size;
  for (int j = (sinks + page_size - 1) / page_size; (j + 1) * page_size <= start; ++j) {
    cache.ReleasePage(call.layer, j);
  }
}

void StreamingAttention::SelectRuns(const LayerAttention& call, const SequenceKvCache& cache,
                                    int row, int kv_head, std::vector<PageRun>& runs) const {
  const auto page_table = cache.page_table(call.layer);
  const int page_size = cache.geometry().page_size;
  const int position = call.positions[row];
  runs.clear();
  AppendRangeRuns(page_table, page_size, 0, std::min(config_.sinks, position + 1) - 1, runs);
  AppendRangeRuns(page_table, page_size, std::max(config_.sinks, window_start_[call.layer]),
                  position, runs);
}

}  // namespace ri
