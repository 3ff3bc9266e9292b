// Exact attention over the paged KV cache at the default model's shape (head
// size 64, three query heads per kv head): one tile of prompt rows (or one
// decode row) of one kv head over a causal prefix, from cache-resident F16
// keys and values. Reports FLOP/s counting the score and value multiply-adds
// (2 x 2 x queries x positions x head_dim).
//
// Args: rows in the tile (1: a decode row), positions.
// Set RETROINFER_SIMD to compare levels.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "attention/exact_attention.h"
#include "kv/paged_kv_cache.h"

namespace ri {
namespace {

constexpr int kHeadDim = 64;
constexpr int kGroup = 3;

void BM_AttendTile(benchmark::State& state) {
  const int rows = static_cast<int>(state.range(0));
  const int positions = static_cast<int>(state.range(1));
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
  for (auto _ : state) {
    AttendPrefixTile(pages, 0, runs, queries.data(), kGroup * kHeadDim, visible, kGroup, kHeadDim,
                     0.125f, scratch, out.data(), log_sum_exps.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double flops = 4.0 * rows * kGroup * positions * kHeadDim;
  state.counters["FLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_AttendTile)
    ->ArgNames({"rows", "positions"})
    ->ArgsProduct({{1, 16}, {512, 2048}});

}  // namespace
}  // namespace ri

BENCHMARK_MAIN();
