// The shared frame of every policy: write the rows' K/V, let the policy pick
// for each (row, kv head) the cached positions to read (as page runs), run
// exact attention over them, and count what was read. Policies differ only
// in SelectRuns (and the hooks around it).
#pragma once

#include <cstdint>
#include <vector>

#include "attention/attention_policy.h"
#include "attention/bf16_prompt_tiles.h"
#include "attention/exact_attention.h"

namespace ri {

class SelectiveAttention : public AttentionPolicy {
 public:
  explicit SelectiveAttention(PromptAttention prompt_attention = PromptAttention::kExact)
      : prompt_attention_(prompt_attention) {}
  void Attend(const LayerAttention& call, SequenceKvCache& cache, ThreadPool& pool) override;

 protected:
  // Fills `runs` with what the query of `row` reads through `kv_head`; only
  // positions up to the row's own may be chosen. Called concurrently for
  // different (row, kv head) pairs.
  virtual void SelectRuns(const LayerAttention& call, const SequenceKvCache& cache, int row,
                          int kv_head, std::vector<PageRun>& runs) const = 0;
  // Before selection, after the rows' K/V were written (eviction
  // bookkeeping, or work for SelectRuns that splits better over `pool`'s
  // threads than by (row, kv head)).
  virtual void BeforeSelect(const LayerAttention& call, SequenceKvCache& cache,
                            ThreadPool& pool) {}
  // After attention; with keeps_weights(), weights(row, head)[i] is the
  // attention probability of the i-th selected position.
  virtual void AfterAttend(const LayerAttention& call, SequenceKvCache& cache) {}
  virtual bool keeps_weights() const { return false; }
  // Bytes read to make the selection for one decode (row, kv head), besides K/V.
  virtual uint64_t SelectionBytes(const LayerAttention& call, const SequenceKvCache& cache,
                                  int row) const {
    return 0;
  }

  const std::vector<PageRun>& runs(int row, int kv_head) const {
    return runs_[static_cast<size_t>(row) * num_kv_heads_ + kv_head];
  }
  const std::vector<float>& weights(int row, int head) const {
    return weights_[static_cast<size_t>(row) * num_heads_ + head];
  }

 private:
  void CountReads(const LayerAttention& call, const SequenceKvCache& cache);

  // Positions per work item when a long selection is split across threads.
  static constexpr int kSlicePositions = 512;
  // Prompt rows attended together, each key and value loaded once for them.
  static constexpr int kTileRows = 16;
  // Tiles per work item of the merge: a prompt chunk's dozens split, the
  // few of a decode step (with RetroAttention's window rows) do not.
  static constexpr size_t kMergeTilesPerTask = 32;

  const PromptAttention prompt_attention_;  // of prompt rows' tiles
  int num_heads_ = 0;
  int num_kv_heads_ = 0;
  std::vector<std::vector<PageRun>> runs_;    // [row * num_kv_heads + kv_head]
  std::vector<int> selected_positions_;       // positions in each of runs_
  std::vector<std::vector<float>> weights_;   // [row * num_heads + head]
  std::vector<float> partial_outputs_;        // per slice: its rows x group x head_dim
  std::vector<float> partial_lse_;            // per slice: its rows x group
};

// Writes every row's K/V into the cache in row order.
void WriteRows(const LayerAttention& call, SequenceKvCache& cache);

inline int RowCount(const LayerAttention& call) { return static_cast<int>(call.positions.size()); }

}  // namespace ri
