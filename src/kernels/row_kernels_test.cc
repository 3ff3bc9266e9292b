// RMSNorm, SwiGLU and RoPE's rotation at every SIMD level this CPU supports against double
// precision brute force on random data.
#include "kernels/row_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/simd_level_test_util.h"

namespace ri {
namespace {

class RowKernelsTest : public EverySimdLevelTest {};

// Sizes with and without a partial last vector; 576 and 1536 are the
// default model's.
constexpr int kSizes[] = {1, 7, 8, 16, 17, 40, 64, 576, 1536};

TEST_P(RowKernelsTest, RmsNormMatchesBruteForce) {
  for (const int size : kSizes) {
    for (const bool in_place : {false, true}) {
      std::vector<float> x(size), weight(size);
      for (float& v : x) v = 3.0f * normal_(rng_);
      for (float& w : weight) w = normal_(rng_);
      double sum_squares = 0;
      for (const float v : x) sum_squares += static_cast<double>(v) * v;
      const double inverse_rms = 1 / std::sqrt(sum_squares / size + 1e-5);
      std::vector<float> out(size, -1.0f);
      float* target = in_place ? x.data() : out.data();
      const std::vector<float> original = x;
      RmsNorm(x.data(), weight.data(), size, 1e-5f, target);
      for (int i = 0; i < size; ++i) {
        const double expected = original[i] * inverse_rms * weight[i];
        // Float sum of `size` squares and three roundings after it.
        ASSERT_NEAR(target[i], expected, std::fabs(expected) * (size * 6e-8 + 4e-7))
            << "size " << size << " element " << i;
      }
    }
  }
}

TEST_P(RowKernelsTest, SwiGluMatchesBruteForce) {
  for (const int size : kSizes) {
    std::vector<float> gate(size), up(size);
    for (float& g : gate) g = 4.0f * normal_(rng_);
    for (float& u : up) u = normal_(rng_);
    // Saturated gates: silu(g) = g for large g and about 0 for very negative g.
    gate[0] = -100.0f;
    if (size > 1) gate[1] = 100.0f;
    const std::vector<float> original = gate;
    SwiGlu(gate.data(), up.data(), size);
    for (int i = 0; i < size; ++i) {
      const double g = original[i];
      const double expected = g / (1 + std::exp(-g)) * up[i];
      // exp within 2 ulp, then a division and a product.
      ASSERT_NEAR(gate[i], expected, std::fabs(expected) * 5e-7 + 1e-30)
          << "size " << size << " gate " << g;
    }
  }
}

// The rotation against double precision, and bit for bit against the
// scalar path (head sizes 64 and 128, and 40 / 24 with leftover pairs).
TEST_P(RowKernelsTest, RopeRotationMatchesDefinition) {
  for (const int half : {32, 64, 20, 12, 1}) {
    for (const bool adjacent_pairs : {true, false}) {
      std::vector<float> head(2 * half), cosines(half), sines(half);
      for (float& v : head) v = 2.0f * normal_(rng_);
      for (int i = 0; i < half; ++i) {
        const float angle = 3.0f * normal_(rng_);
        cosines[i] = std::cos(angle);
        sines[i] = std::sin(angle);
      }
      std::vector<float> rotated = head;
      RotateHead(rotated.data(), cosines.data(), sines.data(), half, adjacent_pairs);
      std::vector<float> scalar = head;
      {
        SimdLevelGuard scalar_level(SimdLevel::kScalar);
        RotateHead(scalar.data(), cosines.data(), sines.data(), half, adjacent_pairs);
      }
      EXPECT_EQ(rotated, scalar) << "half " << half << " adjacent " << adjacent_pairs;
      for (int i = 0; i < half; ++i) {
        const int a = adjacent_pairs ? 2 * i : i, b = adjacent_pairs ? 2 * i + 1 : i + half;
        const double x = head[a], y = head[b], c = cosines[i], s = sines[i];
        const double magnitude = std::fabs(x) + std::fabs(y);
        ASSERT_NEAR(rotated[a], x * c - y * s, magnitude * 2e-7) << "pair " << i;
        ASSERT_NEAR(rotated[b], x * s + y * c, magnitude * 2e-7) << "pair " << i;
      }
    }
  }
}

RI_INSTANTIATE_FOR_EVERY_SIMD_LEVEL(RowKernelsTest);

}  // namespace
}  // namespace ri
