// Exact attention over every cached position (the quality ceiling).
#pragma once

#include "attention/selective_attention.h"

namespace ri {

class FullAttention : public SelectiveAttention {
 public:
  explicit FullAttention(PromptAttention prompt_attention = PromptAttention::kExact)
      : SelectiveAttention(prompt_attention) {}
  std::string name() const override { return "full"; }

 protected:
  void SelectRuns(const LayerAttention& call, const SequenceKvCache& cache, int row, int kv_head,
                  std::vector<PageRun>& runs) const override;
};

}  // namespace ri
