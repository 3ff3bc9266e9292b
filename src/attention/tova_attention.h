// TOVA: once over budget, evict the positions with the lowest attention
// weight of the current query, averaged over the layer's heads, one layer at
// a time. Evicted positions never return; pages left empty go back to the pool.
#pragma once

#include <vector>

#include "attention/policy_config.h"
#include "attention/selective_attention.h"

namespace ri {

class TovaAttention : public SelectiveAttention {
 public:
  explicit TovaAttention(const PolicyConfig& config)
      : SelectiveAttention(config.prompt), config_(config) {}
  std::string name() const override { return "tova"; }

 protected:
  void BeforeSelect(const LayerAttention& call, SequenceKvCache& cache, ThreadPool& pool) override;
  void SelectRuns(const LayerAttention& call, const SequenceKvCache& cache, int row, int kv_head,
                  std::vector<PageRun>& runs) const override;
  void AfterAttend(const LayerAttention& call, SequenceKvCache& cache) override;
  bool keeps_weights() const override { return true; }

 private:
  PolicyConfig config_;
  std::vector<std::vector<int>> retained_;  // [layer]: positions still cached, ascending
};

}  // namespace ri
