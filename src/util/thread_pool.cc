#include "util/thread_pool.h"

#include <immintrin.h>

#include <algorithm>

namespace ri {

namespace {

// How long a worker spins for the next task before sleeping (pause loops of
// roughly 10-40 ns each: about a tenth of a millisecond).
constexpr int kSpinsBeforeSleep = 1 << 13;

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
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
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
  if (sleepers_.load(std::memory_order_acquire) > 0) {
    std::lock_guard lock(mutex_);
    wake_.notify_all();
  }
  RunChunk(0);
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kSpinsBeforeSleep) {
      _mm_pause();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::WorkerLoop(int worker_index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t current = generation_.load(std::memory_order_acquire);
    for (int spins = 0; current == seen && spins < kSpinsBeforeSleep; ++spins) {
      _mm_pause();
      current = generation_.load(std::memory_order_acquire);
    }
    if (current == seen) {
      std::unique_lock lock(mutex_);
      sleepers_.fetch_add(1, std::memory_order_acq_rel);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      sleepers_.fetch_sub(1, std::memory_order_acq_rel);
      current = generation_.load(std::memory_order_acquire);
    }
    seen = current;
    if (stopping_.load()) return;
    RunChunk(worker_index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace ri
