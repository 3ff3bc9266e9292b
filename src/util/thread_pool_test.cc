#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace ri {
namespace {

// Both splits; the dynamic one in pieces of exactly `grain` (the last shorter).
TEST(ThreadPoolTest, CoversEveryIndexExactlyOnce) {
  for (bool dynamic : {false, true}) {
    for (int threads : {1, 2, 3, 8}) {
      ThreadPool pool(threads);
      for (size_t n : {0u, 1u, 5u, 64u, 1000u}) {
        for (size_t grain : {1u, 4u, 16u}) {
          std::vector<std::atomic<int>> hits(n);
          const auto task = [&](size_t begin, size_t end) {
            EXPECT_EQ(begin % grain, 0u);
            if (dynamic) EXPECT_TRUE(end - begin == grain || end == n) << begin << ".." << end;
            for (size_t i = begin; i < end; ++i) hits[i]++;
          };
          if (dynamic) {
            pool.ParallelForDynamic(n, task, grain);
          } else {
            pool.ParallelFor(n, task, grain);
          }
          for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "i=" << i;
        }
      }
    }
  }
}

TEST(ThreadPoolTest, ReusableManyTimes) {
  ThreadPool pool(2);
  std::atomic<long> total = 0;
  for (int round = 0; round < 2000; ++round) {
    pool.ParallelFor(10, [&](size_t begin, size_t end) { total += static_cast<long>(end - begin); });
  }
  EXPECT_EQ(total.load(), 20000);
}

}  // namespace
}  // namespace ri
