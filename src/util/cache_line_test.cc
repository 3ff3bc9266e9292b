#include "util/cache_line.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace ri {
namespace {

template <class T>
void ExpectAlignedWithRoom(std::vector<T>& storage, size_t count) {
  T* p = CacheLineAligned(storage, count);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kCacheLineBytes, 0u);
  EXPECT_GE(p, storage.data());
  EXPECT_LE(p + count, storage.data() + storage.size());
}

TEST(CacheLineTest, AlignedStartWithRoomForTheCount) {
  // The allocator aligns to the element only: any start is possible.
  for (size_t count : {0, 1, 15, 16, 17, 1000}) {
    std::vector<float> floats(3);
    ExpectAlignedWithRoom(floats, count);
    std::vector<uint8_t> bytes(5);
    ExpectAlignedWithRoom(bytes, count);
    std::vector<uint32_t> words;
    ExpectAlignedWithRoom(words, count);
  }
  // Already large enough: the storage does not move.
  std::vector<float> big(2000);
  const float* before = big.data();
  CacheLineAligned(big, 100);
  EXPECT_EQ(big.data(), before);
}

}  // namespace
}  // namespace ri
