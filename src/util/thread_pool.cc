#include "util/thread_pool.h"

#include <algorithm>

namespace ri {

namespace {
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
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t, size_t)>& task,
                             size_t grain) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  const int parts = num_threads();
  if (parts == 1 || n <= grain) {
    task(0, n);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    task_ = &task;
    range_ = n;
    grain_ = grain;
    pending_ = parts - 1;
    ++generation_;
  }
  work_ready_.notify_all();
  const auto [begin, end] = Chunk(n, grain, parts, 0);
  if (begin < end) task(begin, end);
  std::unique_lock lock(mutex_);
  work_done_.wait(lock, [this] { return pending_ == 0; });
  task_ = nullptr;
}

void ThreadPool::WorkerLoop(int worker_index) {
  uint64_t seen_generation = 0;
  for (;;) {
    const std::function<void(size_t, size_t)>* task;
    size_t n, grain;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
      if (stopping_) return;
      seen_generation = generation_;
      task = task_;
      n = range_;
      grain = grain_;
    }
    const auto [begin, end] = Chunk(n, grain, num_threads(), worker_index);
    if (begin < end) (*task)(begin, end);
    {
      std::lock_guard lock(mutex_);
      --pending_;
    }
    work_done_.notify_one();
  }
}

}  // namespace ri
