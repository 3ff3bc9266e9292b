#include "attention/bf16_prompt_tiles.h"

#include "kv/paged_kv_cache.h"
#include "util/thread_pool.h"

namespace ri {

namespace {

// What converting one selection needs besides its result.
struct RunLists {
  std::vector<F16KeyRun> keys;
  std::vector<F16ValueRun> values;
};

}  // namespace

void Bf16PromptTiles::Prepare(const KvPagePool& pages,
                              std::span<const std::vector<PageRun>> longest, ThreadPool& threads) {
  prepared_runs_.assign(longest.begin(), longest.end());
  prepared_.resize(longest.size());
  const int head_dim = pages.geometry().head_dim;
  threads.ParallelForDynamic(longest.size(), [&](size_t begin, size_t end) {
    thread_local RunLists lists;
    for (size_t kv_head = begin; kv_head < end; ++kv_head) {
      const int h = static_cast<int>(kv_head);
      lists.keys.clear();
      lists.values.clear();
      for (const PageRun& run : longest[kv_head]) {
        lists.keys.push_back({pages.keys(run.page, h) + run.first, run.count});
        lists.values.push_back({pages.values(run.page, h) + run.first * head_dim, run.count});
      }
      PrepareBf16KeysValues(lists.keys, pages.geometry().page_size, lists.values, head_dim,
                            prepared_[kv_head]);
    }
  }, 1);
}

bool Bf16PromptTiles::Covers(int kv_head, std::span<const PageRun> runs) const {
  return static_cast<size_t>(kv_head) < prepared_runs_.size() &&
         RunsExtend(runs, prepared_runs_[kv_head]);
}

void Bf16PromptTiles::Attend(int kv_head, std::span<const PageRun> runs, const float* queries,
                             size_t query_row_stride, std::span<const int> visible, int group,
                             float scale, bool want_probabilities, Bf16TileScratch& scratch,
                             float* out, float* log_sum_exps) const {
  AttendTileBf16(queries, query_row_stride, static_cast<int>(visible.size()), group, visible,
                 prepared_[kv_head], RunPositions(runs), scale, want_probabilities, scratch, out,
                 log_sum_exps);
}

}  // namespace ri
