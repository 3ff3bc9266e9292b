#include "util/fp16.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ri {
namespace {

// Every finite half converts to a float and back to the same half: an exact
// identity of IEEE round-to-nearest that checks both directions at once.
TEST(Fp16Test, RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = Fp16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToFp16(f), h) << std::hex << h;
  }
}

TEST(Fp16Test, KnownValues) {
  EXPECT_EQ(Fp16ToFloat(0x3C00), 1.0f);
  EXPECT_EQ(Fp16ToFloat(0xC000), -2.0f);
  EXPECT_EQ(Fp16ToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(Fp16ToFloat(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(Fp16ToFloat(0x7C00)));
  EXPECT_EQ(FloatToFp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie to even
  EXPECT_EQ(FloatToFp16(1e6f), 0x7C00);
  EXPECT_EQ(Bf16ToFloat(0x3F80), 1.0f);
}

}  // namespace
}  // namespace ri
