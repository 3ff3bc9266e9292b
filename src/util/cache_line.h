// Buffers for SIMD kernels that start on a cache line (64 bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ri {

inline constexpr size_t kCacheLineBytes = 64;

// The first element of `storage` on a cache line, with room for `count`
// elements from there (`storage` grows, value-initialized, when it lacks
// them). sizeof(T) must divide 64.
template <class T>
T* CacheLineAligned(std::vector<T>& storage, size_t count) {
  constexpr size_t kPerLine = kCacheLineBytes / sizeof(T);
  static_assert(kPerLine * sizeof(T) == kCacheLineBytes);
  if (storage.size() < count + kPerLine) storage.resize(count + kPerLine);
  const size_t past_line =
      reinterpret_cast<uintptr_t>(storage.data()) % kCacheLineBytes / sizeof(T);
  return storage.data() + (kPerLine - past_line) % kPerLine;
}

}  // namespace ri
