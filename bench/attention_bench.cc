// Attention over the paged KV cache at the default model's shape (head size
// 64, three query heads per kv head): one tile of prompt rows (or one decode
// row) of one kv head over a causal prefix, from cache-resident F16 keys and
// values, exact or in BF16 on AMX tiles (keys and values converted once, as
// a layer call's prompt tiles share them). Reports FLOP/s counting the score
// and value multiply-adds (2 x 2 x queries x positions x head_dim).
//
// Args: rows in the tile (1: a decode row), positions, bf16 (1: the BF16
// prompt arithmetic, skipped where the CPU lacks it).
// Set RETROINFER_SIMD to compare levels.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "attention/bf16_prompt_tiles.h"
#include "attention/exact_attention.h"
#include "kv/paged_kv_cache.h"
#include "util/thread_pool.h"

namespace ri {
namespace {

constexpr int kHeadDim = 64;
constexpr int kGroup = 3;

void BM_AttendTile(benchmark::State& state) {
  const int rows = static_cast<int>(state.range(0));
  const int positions = static_cast<int>(state.range(1));
  const bool bf16 = state.range(2) == 1;
  if (bf16 && !Bf16TileAttentionAvailable(kHeadDim)) {
    state.SkipWithError("no AMX-BF16 here");
    return;
  }
  KvPagePool pages({.num_layers = 1, .num_kv_heads = 1, .head_dim = kHeadDim, .page_size = 16});
  SequenceKvCache cache(pages);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> key(kHeadDim), value(kHeadDim);
  for (int p = 0; p < positions; ++p) {
    for (float& x : key) x = normal(rng);
    for (float& x : value) x = normal(rng);
    cache.Write(0, p, key.data(), value.data());
  }
  std::vector<PageRun> runs;
  CausalPrefixRuns(cache.page_table(0), 16, positions - 1, runs);
  // The tile's last row sees every position, the ones before one fewer each.
  std::vector<int> visible(rows);
  for (int k = 0; k < rows; ++k) visible[k] = positions - rows + 1 + k;
  std::vector<float> queries(static_cast<size_t>(rows) * kGroup * kHeadDim);
  for (float& x : queries) x = normal(rng);
  std::vector<float> out(queries.size()), log_sum_exps(rows * kGroup);
  TileScratch scratch;
  Bf16PromptTiles bf16_tiles;
  Bf16TileScratch bf16_scratch;
  ThreadPool threads(1);
  if (bf16) bf16_tiles.Prepare(pages, std::span(&runs, 1), threads);
  for (auto _ : state) {
    if (bf16) {
      bf16_tiles.Attend(0, runs, queries.data(), kGroup * kHeadDim, visible, kGroup, 0.125f, false,
                        bf16_scratch, out.data(), log_sum_exps.data());
    } else {
      AttendPrefixTile(pages, 0, runs, queries.data(), kGroup * kHeadDim, visible, kGroup, kHeadDim,
                       0.125f, scratch, out.data(), log_sum_exps.data());
    }
    benchmark::DoNotOptimize(out.data());
  }
  const double flops = 4.0 * rows * kGroup * positions * kHeadDim;
  state.counters["FLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_AttendTile)
    ->ArgNames({"rows", "positions", "bf16"})
    ->ArgsProduct({{1, 16}, {512, 2048}, {0, 1}});

}  // namespace
}  // namespace ri

BENCHMARK_MAIN();
