// A fixed pool of worker threads that splits an index range into one
// contiguous chunk per thread. Chunks depend only on the range and the thread
// count and every index is computed by exactly one thread with the same code,
// so results do not depend on scheduling.
//
// Decoding calls the pool a few hundred times per token for sub-millisecond
// work, so threads spin briefly for the next task (or for the last chunk)
// before they sleep on a futex (atomic wait): waking a sleeping thread costs
// more than most of these tasks, but spinning long starves other processes
// and, on a busy machine, our own threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace ri {

class ThreadPool {
 public:
  // `num_threads` counts the calling thread; 1 runs everything inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls task(begin, end) on disjoint chunks covering [0, n), in parallel,
  // and returns when all are done. Chunk boundaries are multiples of `grain`.
  // Not reentrant: a task must not call ParallelFor on the same pool.
  void ParallelFor(size_t n, const std::function<void(size_t, size_t)>& task, size_t grain = 1);

  // Like ParallelFor, but the pieces are [k * grain, (k + 1) * grain) and
  // each thread takes the next one when it is done with its last: for
  // pieces of uneven cost, or threads of uneven speed (on a shared machine).
  // Which thread computes a piece varies, the pieces do not.
  void ParallelForDynamic(size_t n, const std::function<void(size_t, size_t)>& task,
                          size_t grain = 1);

 private:
  void WorkerLoop(int worker_index);
  void RunChunk(int index);

  std::vector<std::thread> workers_;
  // The current task, published by a release increment of generation_.
  const std::function<void(size_t, size_t)>* task_ = nullptr;
  size_t range_ = 0;
  size_t grain_ = 1;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace ri
