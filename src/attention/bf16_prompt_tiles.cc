#include "attention/bf16_prompt_tiles.h"

#include "kv/paged_kv_cache.h"
#include "util/thread_pool.h"

namespace ri {

namespace {

// The runs' F16 keys and values in the page pool, as the kernels take them.
void ConvertibleRuns(const KvPagePool& pages, int kv_head, std::span<const PageRun> runs,
                     std::vector<F16KeyRun>& keys, std::vector<F16ValueRun>& values) {
  const int head_dim = pages.geometry().head_dim;
  keys.clear();
  values.clear();
  for (const PageRun& run : runs) {
    keys.push_back({pages.keys(run.page, kv_head) + run.first, run.count});
    values.push_back({pages.values(run.page, kv_head) + run.first * head_dim, run.count});
  }
}

void Convert(const KvPagePool& pages, int kv_head, std::span<const PageRun> runs,
             Bf16PromptTiles::Buffers& buffers, Bf16KeysValues& into) {
  ConvertibleRuns(pages, kv_head, runs, buffers.key_runs, buffers.value_runs);
  PrepareBf16KeysValues(buffers.key_runs, pages.geometry().page_size, buffers.value_runs,
                        pages.geometry().head_dim, into);
}

}  // namespace

void Bf16PromptTiles::Prepare(const KvPagePool& pages,
                              std::span<const std::vector<PageRun>> longest, ThreadPool& threads) {
  prepared_runs_.assign(longest.begin(), longest.end());
  prepared_.resize(longest.size());
  threads.ParallelForDynamic(longest.size(), [&](size_t begin, size_t end) {
    thread_local Buffers buffers;
    for (size_t kv_head = begin; kv_head < end; ++kv_head) {
      Convert(pages, static_cast<int>(kv_head), longest[kv_head], buffers, prepared_[kv_head]);
    }
  }, 1);
}

void Bf16PromptTiles::Attend(const KvPagePool& pages, int kv_head, std::span<const PageRun> runs,
                             const float* queries, size_t query_row_stride,
                             std::span<const int> visible, int group, float scale,
                             bool want_probabilities, Buffers& buffers, float* out,
                             float* log_sum_exps) const {
  const bool prepared = static_cast<size_t>(kv_head) < prepared_runs_.size() &&
                        RunsExtend(runs, prepared_runs_[kv_head]);
  if (!prepared) Convert(pages, kv_head, runs, buffers, buffers.own);
  AttendTileBf16(queries, query_row_stride, static_cast<int>(visible.size()), group, visible,
                 prepared ? prepared_[kv_head] : buffers.own, RunPositions(runs), scale,
                 want_probabilities, buffers.tile, out, log_sum_exps);
}

}  // namespace ri
