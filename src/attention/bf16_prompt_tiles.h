// The BF16 arithmetic for prompt tiles (PromptAttention::kBf16): each layer
// call converts, once per kv head, the keys and values its longest prompt
// selection reads to BF16, and every prompt tile of the call attends over a
// prefix of them on AMX tiles (AttendTileBf16).
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
// has them (kBf16: faster prompts, about three significant digits per score
// and output). Decode rows are always exact.
enum class PromptAttention { kExact, kBf16 };

class Bf16PromptTiles {
 public:
  // What a thread needs to attend tiles.
  struct Buffers {
    Bf16TileScratch tile;  // probabilities of the last tile (if wanted)
    Bf16KeysValues own;    // a tile's own keys and values
    std::vector<F16KeyRun> key_runs;
    std::vector<F16ValueRun> value_runs;
  };

  // Converts, for each kv head, the positions of longest[kv_head], in
  // parallel.
  void Prepare(const KvPagePool& pages, std::span<const std::vector<PageRun>> longest,
               ThreadPool& threads);

  // AttendTileBf16 of a tile whose selection is `runs` through `kv_head`
  // (queries and outputs as AttendPrefixTile takes them): over the prepared
  // positions if `runs` begins them, else over its own, converted for it
  // alone. buffers.tile.probabilities then holds the probabilities, if
  // wanted.
  void Attend(const KvPagePool& pages, int kv_head, std::span<const PageRun> runs,
              const float* queries, size_t query_row_stride, std::span<const int> visible,
              int group, float scale, bool want_probabilities, Buffers& buffers, float* out,
              float* log_sum_exps) const;

 private:
  std::vector<std::vector<PageRun>> prepared_runs_;  // per kv head
  std::vector<Bf16KeysValues> prepared_;             // per kv head
};

}  // namespace ri
