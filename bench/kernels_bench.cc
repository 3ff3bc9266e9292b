// Matmul throughput for the default model's shapes (SmolLM2-135M: hidden 576,
// ffn 1536, vocab 49152; Q4_1 layers, Q8_0 output). Reported bytes/second are
// weight bytes streamed. "cold" cycles through copies of the matrix totalling
// >= 256 MB, so weights come from DRAM as in real decoding; "hot" reuses one
// matrix (cache-resident when small).
//
// Args: weight rows, cols, type id, activation rows, threads, cold (0/1),
// q8 (1: Q8 activations with integer kernels, 0: float activations).
// Set RETROINFER_SIMD to compare levels.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/random_weights.h"
#include "kernels/types.h"
#include "util/thread_pool.h"

namespace ri {
namespace {

constexpr size_t kColdBytes = size_t{256} << 20;

void BM_MatMul(benchmark::State& state) {
  const int64_t rows = state.range(0);
  const int64_t cols = state.range(1);
  const auto type = static_cast<TensorType>(state.range(2));
  const int num_x = static_cast<int>(state.range(3));
  ThreadPool pool(static_cast<int>(state.range(4)));
  const bool cold = state.range(5) != 0;
  const auto activations =
      state.range(6) != 0 ? ActivationPrecision::kQ8 : ActivationPrecision::kFloat;

  const TensorTypeTraits& traits = Traits(type);
  const size_t row_bytes = cols / traits.block_size * traits.type_size;
  const size_t matrix_bytes = rows * row_bytes;
  const size_t copies = cold ? (kColdBytes + matrix_bytes - 1) / matrix_bytes : 1;
  std::mt19937 rng(1);
  const std::vector<uint8_t> data =
      RandomWeightBytes(type, copies * matrix_bytes / traits.type_size, rng);
  std::vector<float> x(num_x * cols, 0.5f), y(num_x * rows);

  std::vector<WeightMatrix> matrices;
  for (size_t c = 0; c < copies; ++c) {
    matrices.push_back({.type = type,
                        .data = data.data() + c * matrix_bytes,
                        .rows = rows,
                        .cols = cols,
                        .row_bytes = row_bytes,
                        .activations = activations});
    PrepareForKernels(matrices.back());
  }
  size_t copy = 0;
  for (auto _ : state) {
    MatMul(matrices[copy], x.data(), num_x, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    copy = (copy + 1) % copies;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * matrix_bytes));
  state.SetLabel(std::string(traits.name) + (cold ? " cold" : " hot") +
                 (activations == ActivationPrecision::kQ8 ? " q8" : " float"));
}

void Shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"rows", "cols", "type", "num_x", "threads", "cold", "q8"});
  for (int type : {static_cast<int>(TensorType::Q4_1), static_cast<int>(TensorType::Q8_0)}) {
    for (auto [rows, cols] : {std::pair<int, int>{1536, 576}, {576, 1536}, {576, 576}, {49152, 576}}) {
      for (int num_x : {1, 2, 4, 8, 256}) {
        for (int threads : {1, 2}) {
          for (int cold : {0, 1}) {
            for (int q8 : {0, 1}) b->Args({rows, cols, type, num_x, threads, cold, q8});
          }
        }
      }
    }
  }
}
BENCHMARK(BM_MatMul)->Apply(Shapes)->UseRealTime();

// Every weight format with float activations, and with Q8 activations where
// it has integer kernels, at a Llama-3.2-1B shape (rows of 2048, a multiple
// of the K formats' 256-element blocks).
void Formats(benchmark::internal::Benchmark* b) {
  b->ArgNames({"rows", "cols", "type", "num_x", "threads", "cold", "q8"});
  for (TensorType type :
       {TensorType::F16, TensorType::BF16, TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
        TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    const bool has_q8 = UsesQ8Activations({.type = type, .activations = ActivationPrecision::kQ8});
    for (int q8 = 0; q8 <= (has_q8 ? 1 : 0); ++q8) {
      for (int num_x : {1, 2, 4, 8, 64}) {
        for (int cold : {0, 1}) b->Args({2048, 2048, static_cast<int>(type), num_x, 2, cold, q8});
      }
    }
  }
}
BENCHMARK(BM_MatMul)->Name("BM_MatMulFormats")->Apply(Formats)->UseRealTime();

// A chain of dependent integer multiplies, three cycles each: items per
// second are the clock (cycles per second) while the benchmark runs. (A
// chain of adds of an immediate is not: some cores fold those at rename and
// report several times their clock.)
void BM_ClockMulChain(benchmark::State& state) {
  uint64_t value = 3;
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) {
      asm volatile("imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0" : "+r"(value));
    }
  }
  benchmark::DoNotOptimize(value);
  state.SetItemsProcessed(state.iterations() * 4000 * 3);
}
BENCHMARK(BM_ClockMulChain);

// The core's peak rate of the instructions the kernels are built on, one
// thread, operands in registers (12 independent chains, more than latency x
// throughput): items per second are instructions per second; divided by
// BM_ClockMulChain's, instructions per cycle. The broadcast variant feeds vpdpbusd an
// activation word from memory, as the q8 strip kernel does.
constexpr int kChains = 12;

__attribute__((target("avx512f"))) void BM_PeakFma512(benchmark::State& state) {
  if (!GetCpuFeatures().avx512f) return state.SkipWithError("no AVX-512");
  __m512 acc[kChains];
  for (__m512& a : acc) a = _mm512_set1_ps(1.0f);
  __m512 x = _mm512_set1_ps(1.0001f), y = _mm512_set1_ps(0.999f);
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) {
#pragma GCC unroll 12
      for (__m512& a : acc) a = _mm512_fmadd_ps(a, x, y);
      asm volatile("" : "+v"(x), "+v"(y));
    }
  }
  benchmark::DoNotOptimize(acc);
  state.SetItemsProcessed(state.iterations() * 1000 * kChains);
}
BENCHMARK(BM_PeakFma512);

__attribute__((target("avx512f,avx512vnni"))) void BM_PeakDpbusd512(benchmark::State& state) {
  if (!GetCpuFeatures().avx512vnni) return state.SkipWithError("no AVX-512 VNNI");
  const bool broadcast = state.range(0) != 0;
  alignas(64) static int32_t words[1024] = {};
  __m512i acc[kChains];
  for (__m512i& a : acc) a = _mm512_setzero_si512();
  __m512i u8 = _mm512_set1_epi32(0x01010101), s8 = _mm512_set1_epi32(0x02020202);
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) {
      const int32_t* w = words + (i % 64) * 16;
#pragma GCC unroll 12
      for (int c = 0; c < kChains; ++c) {
        acc[c] = _mm512_dpbusd_epi32(acc[c], u8, broadcast ? _mm512_set1_epi32(w[c]) : s8);
      }
      asm volatile("" : "+v"(u8), "+v"(s8));
    }
  }
  benchmark::DoNotOptimize(acc);
  state.SetItemsProcessed(state.iterations() * 1000 * kChains);
  state.SetLabel(broadcast ? "activation word broadcast from memory" : "registers");
}
BENCHMARK(BM_PeakDpbusd512)->ArgName("broadcast")->Arg(0)->Arg(1);

}  // namespace
}  // namespace ri

BENCHMARK_MAIN();
