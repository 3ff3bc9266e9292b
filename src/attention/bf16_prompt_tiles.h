// The BF16 arithmetic for prompt tiles (PromptAttention::kBf16): each layer
// call converts, once per kv head, the keys and values its longest prompt
// selection reads to BF16, and every prompt tile of the call whose
// selection begins them attends over a prefix of them on AMX tiles
// (AttendTileBf16).
#pragma once

#include <span>
#include <vector>

#include "attention/exact_attention.h"
#include "kernels/attention_kernels.h"

namespace ri {

class KvPagePool;
class ThreadPool;

// How prompt tiles compute their attention: exactly (kExact, bit for bit
// what each row's own AttendRuns gives, so a prompt and the same tokens
// decoded one by one agree exactly), or in BF16 on AMX tiles where the CPU
// has them (kBf16: faster prompts; BF16 keeps 8 significant bits, so scores
// and outputs carry relative errors of a few parts in a thousand). Decode
// rows are always exact.
enum class PromptAttention { kExact, kBf16 };

class Bf16PromptTiles {
 public:
  // Converts, for each kv head, the positions of longest[kv_head], in
  // parallel.
  void Prepare(const KvPagePool& pages, std::span<const std::vector<PageRun>> longest,
               ThreadPool& threads);

  // Whether `runs` through `kv_head` begin the prepared positions. Tiles
  // that do not (a selection that is not a prefix of the longest, as a
  // sliding window's) are left to the exact kernels: converting their own
  // keys and values would cost more than the tiles save.
  bool Covers(int kv_head, std::span<const PageRun> runs) const;

  // AttendTileBf16 of a tile whose selection is `runs` through `kv_head`,
  // which Covers (queries and outputs as AttendPrefixTile takes them).
  // scratch.probabilities then holds the probabilities, if wanted.
  void Attend(int kv_head, std::span<const PageRun> runs, const float* queries,
              size_t query_row_stride, std::span<const int> visible, int group, float scale,
              bool want_probabilities, Bf16TileScratch& scratch, float* out,
              float* log_sum_exps) const;

 private:
  std::vector<std::vector<PageRun>> prepared_runs_;  // per kv head
  std::vector<Bf16KeysValues> prepared_;             // per kv head
};

}  // namespace ri
