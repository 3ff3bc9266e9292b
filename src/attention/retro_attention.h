// RetroAttention (docs: ../shared/docs/retroattention.md, section 3): Quest
// selection for the current query, plus retrospective correction of the last
// w-1 decode positions. Each window query attends, with its fresh query, to
// the pages of this step it has never seen (causally masked), and the result
// is merged into its cached attention output by the log-sum-exp merge. The
// window rows are re-run through every sparse layer with the current token,
// and their new keys and values overwrite their cache entries (and page
// bounds) from the layer after the first sparse one on; layer 0 entries and
// prompt positions never change.
#pragma once

#include <deque>
#include <vector>

#include "attention/quest_attention.h"

namespace ri {

class RetroAttention : public QuestAttention {
 public:
  explicit RetroAttention(const PolicyConfig& config) : QuestAttention(config) {}
  std::string name() const override { return "retro"; }

  DecodePlan PlanDecodeStep(int position, int hidden_size) override;
  void Attend(const LayerAttention& call, SequenceKvCache& cache, ThreadPool& pool) override;

  // Window rows start here: below it every layer is dense, so their states
  // there never change.
  int first_sparse_layer() const { return config_.dense_layers; }

 private:
  // A decode position in the retrospective window.
  struct WindowEntry {
    int position = 0;
    int budget_tokens = 0;
    std::vector<float> residual;       // entering the first sparse layer
    std::vector<float> outputs;        // [sparse layer][head][head_dim]
    std::vector<float> log_sum_exps;   // [sparse layer][head]
    std::vector<uint32_t> exposure;    // [sparse layer][kv head]: positions attended so far
  };

  WindowEntry* Find(int position);
  void Retire(const WindowEntry& entry);
  // The current query's Quest attention; its outputs start its window entry.
  void AttendCurrent(const LayerAttention& call, int first_current, SequenceKvCache& cache,
                     ThreadPool& pool);
  // Supplementary attention of the window rows [0, num_window) merged into their entries.
  void Supplement(const LayerAttention& call, int num_window, int current_row,
                  const SequenceKvCache& cache, ThreadPool& pool);
  uint32_t& LastLoaded(int layer, int kv_head, int page_index);

  std::deque<WindowEntry> window_;  // oldest first; the newest is the current step's
  std::vector<ReplayRow> replays_;
  // last_loaded_[layer * kv_heads + kv_head][page index]: the latest decode
  // position whose query read the page, plus one (0: never).
  std::vector<std::vector<uint32_t>> last_loaded_;
  int num_kv_heads_ = 0;
  std::vector<float> current_lse_;
};

}  // namespace ri
