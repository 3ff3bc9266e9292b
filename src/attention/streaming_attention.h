// StreamingLLM: decode queries attend to the first `sinks` positions plus the
// most recent ones, within the budget; positions that leave the recent window
// are evicted for good (whole pages go back to the pool).
#pragma once

#include <vector>

#include "attention/policy_config.h"
#include "attention/selective_attention.h"

namespace ri {

class StreamingAttention : public SelectiveAttention {
 public:
  explicit StreamingAttention(const PolicyConfig& config)
      : SelectiveAttention(config.prompt), config_(config) {}
  std::string name() const override { return "streaming"; }

 protected:
  void BeforeSelect(const LayerAttention& call, SequenceKvCache& cache, ThreadPool& pool) override;
  void SelectRuns(const LayerAttention& call, const SequenceKvCache& cache, int row, int kv_head,
                  std::vector<PageRun>& runs) const override;

 private:
  // Positions in [sinks, window_start_[layer]) are evicted.
  std::vector<int> window_start_;
  PolicyConfig config_;
};

}  // namespace ri
