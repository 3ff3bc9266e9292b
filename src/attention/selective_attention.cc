#include "attention/selective_attention.h"

#include "kv/paged_kv_cache.h"
#include "util/thread_pool.h"

namespace ri {

void WriteRows(const LayerAttention& call, SequenceKvCache& cache) {
  const size_t kv_stride = static_cast<size_t>(call.num_kv_heads) * call.head_dim;
  for (int r = 0; r < RowCount(call); ++r) {
    cache.Write(call.layer, call.positions[r], call.keys + r * kv_stride,
                call.values + r * kv_stride);
  }
}

void SelectiveAttention::Attend(const LayerAttention& call, SequenceKvCache& cache,
                                ThreadPool& pool) {
  WriteRows(call, cache);
  BeforeSelect(call, cache);
  const int rows = RowCount(call);
  num_heads_ = call.num_heads;
  num_kv_heads_ = call.num_kv_heads;
  const int group = call.num_heads / call.num_kv_heads;
  runs_.resize(static_cast<size_t>(rows) * call.num_kv_heads);
  pool.ParallelFor(runs_.size(), [&](size_t begin, size_t end) {
    for (size_t item = begin; item < end; ++item) {
      SelectRuns(call, cache, static_cast<int>(item / call.num_kv_heads),
                 static_cast<int>(item % call.num_kv_heads), runs_[item]);
    }
  });

  const bool keep = keeps_weights();
  if (keep) weights_.resize(static_cast<size_t>(rows) * call.num_heads);
  const KvPagePool& pages = cache.pool();
  pool.ParallelFor(static_cast<size_t>(rows) * call.num_heads, [&](size_t begin, size_t end) {
    std::vector<float> local_scores;
    for (size_t item = begin; item < end; ++item) {
      const int row = static_cast<int>(item / call.num_heads);
      const int kv_head = static_cast<int>(item % call.num_heads) / group;
      const std::vector<PageRun>& selected = runs(row, kv_head);
      size_t count = 0;
      for (const PageRun& run : selected) count += run.count;
      std::vector<float>& scores = keep ? weights_[item] : local_scores;
      scores.resize(count);
      const size_t offset = item * call.head_dim;
      AttendRuns(pages, kv_head, selected, call.queries + offset, call.head_dim, call.scale,
                 scores.data(), call.outputs + offset,
                 call.log_sum_exps ? call.log_sum_exps + item : nullptr);
    }
  });
  CountReads(call, cache);
  AfterAttend(call, cache);
}

void SelectiveAttention::CountReads(const LayerAttention& call, const SequenceKvCache& cache) {
  const size_t position_bytes = cache.pool().position_bytes();
  for (int row = 0; row < RowCount(call); ++row) {
    if (call.roles[row] != RowRole::kDecode) continue;
    for (int kv_head = 0; kv_head < call.num_kv_heads; ++kv_head) {
      uint64_t positions = 0;
      int previous_page = -1;
      for (const PageRun& run : runs(row, kv_head)) {
        positions += run.count;
        if (run.page != previous_page) ++stats_.pages_read;
        previous_page = run.page;
      }
      stats_.positions_attended += positions;
      stats_.kv_bytes_read += positions * 2 * position_bytes + SelectionBytes(call, cache, row);
    }
  }
}

}  // namespace ri
