#include "attention/selective_attention.h"

#include <algorithm>
#include <cmath>

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
  BeforeSelect(call, cache, pool);
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

  // Work items: (row, kv head, slice of its runs). Long selections are split
  // into slices of about kSlicePositions whose partial results are merged by
  // log-sum-exp, so a single decode row keeps every thread busy. Slices
  // depend only on the runs, never on the thread count.
  struct Slice {
    int row, kv_head, run_begin, run_end, position_offset, count;
  };
  std::vector<Slice> slices;
  for (int row = 0; row < rows; ++row) {
    for (int kv_head = 0; kv_head < call.num_kv_heads; ++kv_head) {
      const std::vector<PageRun>& selected = runs(row, kv_head);
      int begin = 0, offset = 0, count = 0;
      for (int r = 0; r < static_cast<int>(selected.size()); ++r) {
        count += selected[r].count;
        if (count >= kSlicePositions || r + 1 == static_cast<int>(selected.size())) {
          slices.push_back({row, kv_head, begin, r + 1, offset, count});
          begin = r + 1;
          offset += count;
          count = 0;
        }
      }
    }
  }
  const bool keep = keeps_weights();
  if (keep) {
    weights_.resize(static_cast<size_t>(rows) * call.num_heads);
    for (int row = 0; row < rows; ++row) {
      for (int head = 0; head < call.num_heads; ++head) {
        weights_[static_cast<size_t>(row) * call.num_heads + head].resize(
            RunPositions(runs(row, head / group)));
      }
    }
  }
  const size_t group_width = static_cast<size_t>(group) * call.head_dim;
  partial_outputs_.resize(slices.size() * group_width);
  partial_lse_.resize(slices.size() * group);
  const KvPagePool& pages = cache.pool();
  pool.ParallelFor(slices.size(), [&](size_t begin, size_t end) {
    std::vector<float> scores;
    for (size_t s = begin; s < end; ++s) {
      const Slice& slice = slices[s];
      const std::span<const PageRun> selected =
          std::span(runs(slice.row, slice.kv_head)).subspan(slice.run_begin,
                                                            slice.run_end - slice.run_begin);
      const int count = slice.count;
      scores.resize(static_cast<size_t>(count) * group);
      const size_t first_head = static_cast<size_t>(slice.row) * call.num_heads + slice.kv_head * group;
      AttendRuns(pages, slice.kv_head, selected, call.queries + first_head * call.head_dim, group,
                 call.head_dim, call.scale, scores.data(), partial_outputs_.data() + s * group_width,
                 partial_lse_.data() + s * group);
      if (!keep) continue;
      for (int q = 0; q < group; ++q) {
        std::vector<float>& w = weights_[first_head + q];
        std::copy_n(scores.data() + static_cast<size_t>(q) * count, count,
                    w.data() + slice.position_offset);
      }
    }
  }, 1);

  // Merge the slices of each (row, kv head) in order; slice weights are
  // rescaled from their own softmax to the whole one.
  for (size_t s = 0; s < slices.size();) {
    size_t end = s + 1;
    while (end < slices.size() && slices[end].row == slices[s].row &&
           slices[end].kv_head == slices[s].kv_head) {
      ++end;
    }
    float* out = partial_outputs_.data() + s * group_width;
    float* lse = partial_lse_.data() + s * group;
    for (size_t t = s + 1; t < end; ++t) {
      for (int q = 0; q < group; ++q) {
        MergeAttention(out + q * call.head_dim, lse + q,
                       partial_outputs_.data() + t * group_width + q * call.head_dim,
                       partial_lse_[t * group + q], call.head_dim);
      }
    }
    const size_t first_head =
        static_cast<size_t>(slices[s].row) * call.num_heads + slices[s].kv_head * group;
    std::copy_n(out, group_width, call.outputs + first_head * call.head_dim);
    if (call.log_sum_exps != nullptr) std::copy_n(lse, group, call.log_sum_exps + first_head);
    if (keep && end - s > 1) {
      for (size_t t = s; t < end; ++t) {
        const int count = slices[t].count;
        for (int q = 0; q < group; ++q) {
          const float rescale = std::exp(partial_lse_[t * group + q] - lse[q]);
          float* w = weights_[first_head + q].data() + slices[t].position_offset;
          for (int i = 0; i < count; ++i) w[i] *= rescale;
        }
      }
    }
    s = end;
  }
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
