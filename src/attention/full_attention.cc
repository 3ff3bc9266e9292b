#include "attention/full_attention.h"

#include "kv/paged_kv_cache.h"

namespace ri {

void FullAttention::SelectRuns(const LayerAttention& call, const SequenceKvCache& cache, int row,
                               int kv_head, std::vector<PageRun>& runs) const {
  CausalPrefixRuns(cache.page_table(call.layer), cache.geometry().page_size, call.positions[row],
                   runs);
}

}  // namespace ri
