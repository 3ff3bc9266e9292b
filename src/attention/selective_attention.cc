#include "attention/selective_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "kv/paged_kv_cache.h"
#include "util/phase_profile.h"
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
  PhaseClock clock;
  clock.Start(Phase::kKvWrite);
  WriteRows(call, cache);
  clock.Start(Phase::kSelection);
  BeforeSelect(call, cache, pool);
  const int rows = RowCount(call);
  num_heads_ = call.num_heads;
  num_kv_heads_ = call.num_kv_heads;
  const int group = call.num_heads / call.num_kv_heads;
  runs_.resize(static_cast<size_t>(rows) * call.num_kv_heads);
  selected_positions_.resize(runs_.size());
  pool.ParallelFor(runs_.size(), [&](size_t begin, size_t end) {
    for (size_t item = begin; item < end; ++item) {
      SelectRuns(call, cache, static_cast<int>(item / call.num_kv_heads),
                 static_cast<int>(item % call.num_kv_heads), runs_[item]);
      selected_positions_[item] = RunPositions(runs_[item]);
    }
  });
  clock.Stop();
  const auto positions_of = [&](int row, int kv_head) {
    return selected_positions_[static_cast<size_t>(row) * call.num_kv_heads + kv_head];
  };

  // Work items: (tile of rows, kv head, slice of the runs). Consecutive
  // prompt rows whose selections nest (the causal mask) form tiles of up to
  // kTileRows rows computed together (each key and value loaded once for
  // all their queries); every other row is a tile of its own. Long
  // selections are split into slices of about kSlicePositions whose partial
  // results are merged by log-sum-exp, so that a single decode row keeps
  // every thread busy. Tiles and slices depend only on the rows and runs,
  // never on the thread count.
  struct Slice {
    int first_row, rows, kv_head, run_begin, run_end, position_offset, count;
    size_t first_query;  // of its partial results
  };
  std::vector<Slice> slices;
  size_t partial_queries = 0;
  // BF16 prompt tiles do not promise a decode row's bits, so nothing asks
  // them to split as decode rows do; a whole tile is less work than its
  // slices and their merges.
  const bool bf16_prompt =
      prompt_attention_ == PromptAttention::kBf16 && Bf16TileAttentionAvailable(call.head_dim);
  const auto bf16_tile = [&](int first_row) {
    return bf16_prompt && call.roles[first_row] == RowRole::kPrefill;
  };
  for (int kv_head = 0; kv_head < call.num_kv_heads; ++kv_head) {
    for (int first_row = 0; first_row < rows;) {
      int end_row = first_row + 1;
      if (call.roles[first_row] == RowRole::kPrefill) {
        while (end_row < rows && end_row - first_row < kTileRows &&
               call.roles[end_row] == RowRole::kPrefill &&
               RunsExtend(runs(end_row - 1, kv_head), runs(end_row, kv_head))) {
          ++end_row;
        }
      }
      const int tile_rows = end_row - first_row;
      const std::vector<PageRun>& selected = runs(end_row - 1, kv_head);
      const int slice_positions =
          bf16_tile(first_row) ? std::numeric_limits<int>::max() : kSlicePositions;
      int begin = 0, offset = 0, count = 0;
      for (int r = 0; r < static_cast<int>(selected.size()); ++r) {
        count += selected[r].count;
        if (count >= slice_positions || r + 1 == static_cast<int>(selected.size())) {
          slices.push_back({first_row, tile_rows, kv_head, begin, r + 1, offset, count,
                            partial_queries});
          partial_queries += static_cast<size_t>(tile_rows) * group;
          begin = r + 1;
          offset += count;
          count = 0;
        }
      }
      first_row = end_row;
    }
  }
  const bool keep = keeps_weights();
  if (keep) {
    weights_.resize(static_cast<size_t>(rows) * call.num_heads);
    for (int row = 0; row < rows; ++row) {
      for (int head = 0; head < call.num_heads; ++head) {
        weights_[static_cast<size_t>(row) * call.num_heads + head].resize(
            positions_of(row, head / group));
      }
    }
  }
  // The positions of the slice that a row of its tile sees.
  const auto visible_in = [&](const Slice& slice, int row) {
    const int seen = positions_of(row, slice.kv_head) - slice.position_offset;
    return std::clamp(seen, 0, slice.count);
  };
  const auto first_head = [&](int row, int kv_head) {
    return static_cast<size_t>(row) * call.num_heads + kv_head * group;
  };
  const int head_dim = call.head_dim;
  partial_outputs_.resize(partial_queries * head_dim);
  partial_lse_.resize(partial_queries);
  const KvPagePool& pages = cache.pool();
  clock.Start(Phase::kAttentionTiles);
  // The calling thread's: a call needs them only while it runs (and
  // sequences' calls follow one another), so no sequence keeps them.
  thread_local Bf16PromptTiles calling_thread_tiles;
  Bf16PromptTiles& bf16_tiles = calling_thread_tiles;
  if (bf16_prompt) {
    // The last prompt row sees the most (a decode step has none: nothing
    // to prepare).
    int last_prompt_row = rows - 1;
    while (last_prompt_row >= 0 && call.roles[last_prompt_row] != RowRole::kPrefill) {
      --last_prompt_row;
    }
    if (last_prompt_row >= 0) {
      std::vector<std::vector<PageRun>> longest(call.num_kv_heads);
      for (int kv_head = 0; kv_head < call.num_kv_heads; ++kv_head) {
        longest[kv_head] = runs(last_prompt_row, kv_head);
      }
      bf16_tiles.Prepare(pages, longest, pool);
    }
  }
  // Slices differ in size (a prompt chunk's later tiles see more positions)
  // and so, on a shared machine, do the threads' speeds.
  pool.ParallelForDynamic(slices.size(), [&](size_t begin, size_t end) {
    thread_local TileScratch tile;
    thread_local std::vector<int> visible;
    for (size_t s = begin; s < end; ++s) {
      const Slice& slice = slices[s];
      const std::span<const PageRun> selected =
          std::span(runs(slice.first_row + slice.rows - 1, slice.kv_head))
              .subspan(slice.run_begin, slice.run_end - slice.run_begin);
      const float* queries = call.queries + first_head(slice.first_row, slice.kv_head) * head_dim;
      float* out = partial_outputs_.data() + slice.first_query * head_dim;
      float* lse = partial_lse_.data() + slice.first_query;
      visible.resize(slice.rows);
      for (int k = 0; k < slice.rows; ++k) visible[k] = visible_in(slice, slice.first_row + k);
      const size_t query_row_stride = static_cast<size_t>(call.num_heads) * head_dim;
      const float* probabilities;
      size_t probability_stride;
      if (bf16_tile(slice.first_row) && bf16_tiles.Covers(slice.kv_head, selected)) {
        thread_local Bf16TileScratch bf16_scratch;
        bf16_tiles.Attend(slice.kv_head, selected, queries, query_row_stride, visible, group,
                          call.scale, keep, bf16_scratch, out, lse);
        probabilities = bf16_scratch.probabilities.data();
        probability_stride = bf16_scratch.probability_stride;
      } else {
        AttendPrefixTile(pages, slice.kv_head, selected, queries, query_row_stride, visible, group,
                         head_dim, call.scale, tile, out, lse);
        probabilities = tile.scores.data();
        probability_stride = slice.count;
      }
      if (!keep) continue;
      for (int k = 0; k < slice.rows; ++k) {
        for (int g = 0; g < group; ++g) {
          std::copy_n(probabilities + (k * group + g) * probability_stride, visible[k],
                      weights_[first_head(slice.first_row + k, slice.kv_head) + g].data() +
                          slice.position_offset);
        }
      }
    }
  }, 1);

  // Merge the slices of each (tile, kv head) in order, row by row; slice
  // weights are rescaled from their own softmax to the whole one. Tiles
  // write disjoint outputs and weights: a prompt's merge in parallel, a
  // decode step's few on this thread (another parallel section would cost
  // more than they do).
  std::vector<std::pair<size_t, size_t>> tiles;  // [first slice, end)
  for (size_t s = 0; s < slices.size();) {
    size_t end = s + 1;
    while (end < slices.size() && slices[end].first_row == slices[s].first_row &&
           slices[end].kv_head == slices[s].kv_head) {
      ++end;
    }
    tiles.emplace_back(s, end);
    s = end;
  }
  clock.Start(Phase::kSliceMerge);
  pool.ParallelFor(tiles.size(), [&](size_t begin, size_t end_tile) {
    std::vector<float> merged_lse;
    for (size_t tile = begin; tile < end_tile; ++tile) {
      const auto [s, end] = tiles[tile];
      for (int k = 0; k < slices[s].rows; ++k) {
        const size_t tile_query = static_cast<size_t>(k) * group;
        const int row = slices[s].first_row + k;
        const size_t head = first_head(row, slices[s].kv_head);
        // Merged into the call's outputs; every slice keeps its own lse for
        // the rescaling below.
        float* out = call.outputs + head * head_dim;
        const size_t first = slices[s].first_query + tile_query;
        std::copy_n(partial_outputs_.data() + first * head_dim, group * head_dim, out);
        merged_lse.assign(partial_lse_.begin() + first, partial_lse_.begin() + first + group);
        for (size_t t = s + 1; t < end; ++t) {
          for (int g = 0; g < group; ++g) {
            const size_t other = slices[t].first_query + tile_query + g;
            MergeAttention(out + g * head_dim, &merged_lse[g],
                           partial_outputs_.data() + other * head_dim, partial_lse_[other],
                           head_dim);
          }
        }
        if (call.log_sum_exps != nullptr) {
          std::copy_n(merged_lse.data(), group, call.log_sum_exps + head);
        }
        if (!keep || end - s == 1) continue;
        for (size_t t = s; t < end; ++t) {
          const int seen = visible_in(slices[t], row);
          for (int g = 0; g < group; ++g) {
            const float rescale =
                std::exp(partial_lse_[slices[t].first_query + tile_query + g] - merged_lse[g]);
            float* w = weights_[head + g].data() + slices[t].position_offset;
            for (int i = 0; i < seen; ++i) w[i] *= rescale;
          }
        }
      }
    }
  }, kMergeTilesPerTask);
  clock.Stop();
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
