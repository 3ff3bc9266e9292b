// The attention kernels at every SIMD level this CPU supports against
// double-precision brute force on random data.
#include "kernels/attention_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu_features.h"
#include "util/fp16.h"

namespace ri {
namespace {

std::vector<SimdLevel> SupportedLevels() {
  std::vector<SimdLevel> levels = {SimdLevel::kScalar};
  if (DetectSimdLevel() >= SimdLevel::kAvx2) levels.push_back(SimdLevel::kAvx2);
  if (DetectSimdLevel() >= SimdLevel::kAvx512) levels.push_back(SimdLevel::kAvx512);
  return levels;
}

class AttentionKernelsTest : public ::testing::TestWithParam<SimdLevel> {
 protected:
  void SetUp() override { previous_ = ForceSimdLevel(GetParam()); }
  void TearDown() override { ForceSimdLevel(previous_); }
  SimdLevel previous_ = SimdLevel::kScalar;
  std::mt19937 rng_{12};
  std::normal_distribution<float> normal_{0.0f, 1.0f};
};

std::vector<uint16_t> RandomHalves(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> halves(n);
  for (uint16_t& h : halves) h = FloatToFp16(normal(rng));
  return halves;
}

TEST_P(AttentionKernelsTest, ScoresMatchBruteForce) {
  for (int dim : {8, 16, 64, 128, 40}) {
    for (int count : {1, 3, 4, 5, 16, 37}) {
      for (int queries : {1, 3, 4}) {
        std::vector<float> q(queries * dim);
        for (float& x : q) x = normal_(rng_);
        const std::vector<uint16_t> keys = RandomHalves(static_cast<size_t>(count) * dim, rng_);
        const size_t stride = count + 3;
        std::vector<float> scores(queries * stride, -7.0f);
        ScoreKeysF16(q.data(), queries, keys.data(), count, dim, 0.125f, scores.data(), stride);
        for (int a = 0; a < queries; ++a) {
          for (int i = 0; i < count; ++i) {
            double dot = 0, magnitude = 0;
            for (int d = 0; d < dim; ++d) {
              const double term = q[a * dim + d] * static_cast<double>(Fp16ToFloat(keys[i * dim + d]));
              dot += term;
              magnitude += std::fabs(term);
            }
            // float summation of `dim` terms: a few ulp of the magnitude.
            ASSERT_NEAR(scores[a * stride + i], 0.125 * dot, 0.125 * magnitude * dim * 6e-8 + 1e-7)
                << "dim " << dim << " count " << count << " query " << a << " key " << i;
          }
          for (size_t i = count; i < stride; ++i) ASSERT_EQ(scores[a * stride + i], -7.0f);
        }
      }
    }
  }
}

TEST_P(AttentionKernelsTest, AccumulationMatchesBruteForce) {
  for (int dim : {8, 64, 128, 48}) {
    for (int count : {1, 7, 16}) {
      for (int queries : {1, 2, 3, 4, 5}) {
        const std::vector<uint16_t> values = RandomHalves(static_cast<size_t>(count) * dim, rng_);
        const size_t stride = count + 1;
        std::vector<float> weights(queries * stride), out(queries * dim);
        for (float& w : weights) w = std::fabs(normal_(rng_));
        for (float& o : out) o = normal_(rng_);
        const std::vector<float> start = out;
        AccumulateValuesF16(weights.data(), stride, queries, values.data(), count, dim, out.data());
        for (int a = 0; a < queries; ++a) {
          for (int d = 0; d < dim; ++d) {
            double expected = start[a * dim + d], magnitude = std::fabs(expected);
            for (int i = 0; i < count; ++i) {
              const double term = weights[a * stride + i] * static_cast<double>(Fp16ToFloat(values[i * dim + d]));
              expected += term;
              magnitude += std::fabs(term);
            }
            ASSERT_NEAR(out[a * dim + d], expected, magnitude * (count + 1) * 6e-8 + 1e-7);
          }
        }
      }
    }
  }
}

TEST_P(AttentionKernelsTest, SoftmaxMatchesBruteForce) {
  for (int count : {1, 2, 15, 16, 17, 100, 513}) {
    const int rows = 3;
    const size_t stride = count + 2;
    std::vector<float> scores(rows * stride);
    for (float& s : scores) s = 8.0f * normal_(rng_);
    scores[0] = -200.0f;  // an underflowing term
    const std::vector<float> original = scores;
    std::vector<float> lse(rows);
    SoftmaxRows(scores.data(), rows, count, stride, lse.data());
    for (int r = 0; r < rows; ++r) {
      double max_score = -INFINITY, sum = 0;
      for (int i = 0; i < count; ++i) max_score = std::max<double>(max_score, original[r * stride + i]);
      for (int i = 0; i < count; ++i) sum += std::exp(original[r * stride + i] - max_score);
      for (int i = 0; i < count; ++i) {
        const double shift = original[r * stride + i] - max_score;
        const double expected = std::exp(shift) / sum;
        // Rounding x - max in float moves exp's argument by up to |x - max|
        // ulp-relative, hence the shift-proportional term; tiny results may
        // be subnormal.
        ASSERT_NEAR(scores[r * stride + i], expected,
                    expected * (1e-6 + std::fabs(shift) * 1.2e-7) + 1e-37)
            << "count " << count;
      }
      ASSERT_NEAR(lse[r], max_score + std::log(sum), 2e-6 * (1 + std::fabs(max_score)));
      for (size_t i = count; i < stride; ++i) ASSERT_EQ(scores[r * stride + i], original[r * stride + i]);
    }
  }
}

TEST_P(AttentionKernelsTest, PageUpperBoundMatchesBruteForce) {
  for (int dim : {8, 64, 128, 24}) {
    for (int queries : {1, 3}) {
      std::vector<float> q(queries * dim), lo(dim), hi(dim);
      for (float& x : q) x = normal_(rng_);
      for (int d = 0; d < dim; ++d) {
        lo[d] = normal_(rng_);
        hi[d] = lo[d] + std::fabs(normal_(rng_));
      }
      double expected = 0, magnitude = 0;
      for (int a = 0; a < queries; ++a) {
        for (int d = 0; d < dim; ++d) {
          const double x = q[a * dim + d];
          const double term = std::max(x * lo[d], x * hi[d]);
          expected += term;
          magnitude += std::fabs(term);
        }
      }
      EXPECT_NEAR(PageUpperBound(q.data(), queries, lo.data(), hi.data(), dim), expected,
                  magnitude * queries * dim * 6e-8 + 1e-7);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryLevel, AttentionKernelsTest, ::testing::ValuesIn(SupportedLevels()),
                         [](const auto& info) { return std::string(SimdLevelName(info.param)); });

}  // namespace
}  // namespace ri
