#include "util/thread_pool.h"

#include <immintrin.h>

#include <algorithm>

namespace ri {

namespace {

// How long a thread spins before sleeping (pause loops of roughly 10-40 ns
// each: about a millisecond, longer than the serial work between two
// parallel sections of a decode step, which a wake-up from sleep would add to).
constexpr int kSpinsBeforeSleep = 1 << 15;

// Waits until `value` differs from `old`: spins first, then sleeps.
template <typename T>
T WaitForChange(const std::atomic<T>& value, T old) {
  for (int spins = 0; spins < kSpinsBeforeSleep; ++spins) {
    const T current = value.load(std::memory_order_acquire);
    if (current != old) return current;
    _mm_pause();
  }
  for (;;) {
    value.wait(old, std::memory_order_acquire);
    const T current = value.load(std::memory_order_acquire);
    if (current != old) return current;
  }
}

// The chunk [begin, end) of `index` among `parts` for a range of n in units of grain.
std::pair<size_t, size_t> Chunk(size_t n, size_t grain, int parts, int index) {
  const size_t units = (n + grain - 1) / grain;
  const size_t begin_unit = units * index / parts;
  const size_t end_unit = units * (index + 1) / parts;
  return {std::min(n, begin_unit * grain), std::min(n, end_unit * grain)};
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < std::max(1, num_threads); ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  stopping_.store(true);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::RunChunk(int index) {
  const auto [begin, end] = Chunk(range_, grain_, num_threads(), index);
  if (begin < end) (*task_)(begin, end);
}

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t, size_t)>& task,
                             size_t grain) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  if (num_threads() == 1 || n <= grain) {
    task(0, n);
    return;
  }
  task_ = &task;
  range_ = n;
  grain_ = grain;
  pending_.store(num_threads() - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  RunChunk(0);
  for (int pending = pending_.load(std::memory_order_acquire); pending != 0;) {
    pending = WaitForChange(pending_, pending);
  }
}

void ThreadPool::ParallelForDynamic(size_t n, const std::function<void(size_t, size_t)>& task,
                                    size_t grain) {
  grain = std::max<size_t>(grain, 1);
  if (num_threads() == 1 || n <= grain) {
    if (n > 0) task(0, n);
    return;
  }
  std::atomic<size_t> next_piece = 0;
  ParallelFor(num_threads(), [&](size_t, size_t) {
    for (;;) {
      const size_t begin = next_piece.fetch_add(grain, std::memory_order_relaxed);
      if (begin >= n) return;
      task(begin, std::min(n, begin + grain));
    }
  });
}

void ThreadPool::WorkerLoop(int worker_index) {
  uint64_t seen = 0;
  for (;;) {
    seen = WaitForChange(generation_, seen);
    if (stopping_.load()) return;
    RunChunk(worker_index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

}  // namespace ri
