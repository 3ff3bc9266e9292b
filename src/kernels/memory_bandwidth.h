// Measures how fast this machine streams memory into the cores, so that
// benchmarks can state decode speed as a fraction of the bandwidth bound.
#pragma once

#include <cstddef>

namespace ri {

class ThreadPool;

// Read bandwidth in bytes per second: the median of `repetitions` passes over
// a buffer of `bytes` (much larger than the caches) split over the pool.
double MeasureReadBandwidth(ThreadPool& pool, size_t bytes = size_t{512} << 20,
                            int repetitions = 5);

}  // namespace ri
