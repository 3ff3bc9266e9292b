#include "kernels/memory_bandwidth.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cpu_features.h"
#include "util/thread_pool.h"
#include "util/seconds.h"

namespace ri {

namespace {

__attribute__((target("avx2"))) uint64_t SumAvx2(const uint64_t* data, size_t words) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  size_t i = 0;
  for (; i + 16 <= words; i += 16) {
    a = _mm256_add_epi64(a, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i)));
    b = _mm256_add_epi64(b, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i + 4)));
    c = _mm256_add_epi64(c, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i + 8)));
    d = _mm256_add_epi64(d, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i + 12)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
  uint64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < words; ++i) sum += data[i];
  return sum;
}

uint64_t SumScalar(const uint64_t* data, size_t words) {
  uint64_t sum = 0;
  for (size_t i = 0; i < words; ++i) sum += data[i];
  return sum;
}

}  // namespace

double MeasureReadBandwidth(ThreadPool& pool, size_t bytes, int repetitions) {
  const size_t words = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[], void (*)(void*)> buffer(
      static_cast<uint64_t*>(std::aligned_alloc(64, words * sizeof(uint64_t))), std::free);
  pool.ParallelFor(words, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) buffer[i] = i;  // each thread touches its own part
  }, 4096);
  const bool avx2 = ActiveSimdLevel() >= SimdLevel::kAvx2;
  std::atomic<uint64_t> sink = 0;
  std::vector<double> rates;
  for (int r = 0; r < repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    pool.ParallelFor(words, [&](size_t begin, size_t end) {
      sink += avx2 ? SumAvx2(buffer.get() + begin, end - begin)
                   : SumScalar(buffer.get() + begin, end - begin);
    }, 4096);
    rates.push_back(words * sizeof(uint64_t) / SecondsSince(start));
  }
  // The median: single passes on a shared machine are sometimes far off.
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace ri
