// Elapsed wall time, for the timings the engine reports.
#pragma once

#include <chrono>

namespace ri {

inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace ri
