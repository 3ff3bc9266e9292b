// The attention kernels at every SIMD level this CPU supports against
// double-precision brute force on random data.
#include "kernels/attention_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/simd_level_test_util.h"
#include "util/fp16.h"

namespace ri {
namespace {

class AttentionKernelsTest : public EverySimdLevelTest {};

std::vector<uint16_t> RandomHalves(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> halves(n);
  for (uint16_t& h : halves) h = FloatToFp16(normal(rng));
  return halves;
}

// The order ScoreKeysF16 promises: even and odd dimensions in two fused
// multiply-add chains, then their sum times the scale.
float ScoreInPromisedOrder(const float* query, const std::vector<uint16_t>& keys, size_t key_stride,
                           int key, int dim, float scale) {
  float even = 0.0f, odd = 0.0f;
  for (int d = 0; d < dim; ++d) {
    float& chain = d % 2 == 0 ? even : odd;
    chain = std::fma(query[d], Fp16ToFloat(keys[d * key_stride + key]), chain);
  }
  return (even + odd) * scale;
}

// Keys [0, count) of a dimension-major array as runs of up to run_size.
std::vector<F16KeyRun> Runs(const std::vector<uint16_t>& keys, int count, int run_size) {
  std::vector<F16KeyRun> runs;
  for (int first = 0; first < count; first += run_size) {
    runs.push_back({keys.data() + first, std::min(run_size, count - first)});
  }
  return runs;
}

TEST_P(AttentionKernelsTest, ScoresMatchBruteForce) {
  for (int dim : {8, 16, 64, 128, 40}) {
    for (int count : {1, 3, 4, 5, 16, 37, 70}) {
      for (int queries : {1, 3, 4, 13}) {
        for (int run_size : {5, 16, 32, 37}) {
          std::vector<float> q(queries * dim);
          for (float& x : q) x = normal_(rng_);
          // Dimension-major, as a KV page holds them, with room to spare.
          const size_t key_stride = count + 5;
          const std::vector<uint16_t> keys = RandomHalves(key_stride * dim, rng_);
          const size_t stride = count + 3;
          std::vector<float> scores(queries * stride, -7.0f);
          ScoreKeysF16(q.data(), queries, Runs(keys, count, run_size), key_stride, dim, 0.125f,
                       scores.data(), stride);
          for (int a = 0; a < queries; ++a) {
            for (int i = 0; i < count; ++i) {
              double dot = 0, magnitude = 0;
              for (int d = 0; d < dim; ++d) {
                const double term =
                    q[a * dim + d] * static_cast<double>(Fp16ToFloat(keys[d * key_stride + i]));
                dot += term;
                magnitude += std::fabs(term);
              }
              const float score = scores[a * stride + i];
              // float summation of `dim` terms: a few ulp of the magnitude.
              ASSERT_NEAR(score, 0.125 * dot, 0.125 * magnitude * dim * 6e-8 + 1e-7)
                  << "dim " << dim << " count " << count << " query " << a << " key " << i;
              ASSERT_EQ(score,
                        ScoreInPromisedOrder(q.data() + a * dim, keys, key_stride, i, dim, 0.125f))
                  << "dim " << dim << " count " << count << " query " << a << " key " << i;
            }
            for (size_t i = count; i < stride; ++i) ASSERT_EQ(scores[a * stride + i], -7.0f);
          }
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
              const double term =
                  weights[a * stride + i] * static_cast<double>(Fp16ToFloat(values[i * dim + d]));
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

// A prompt tile scores its keys and accumulates its values with more queries
// and longer runs than a decode row sees; each (query, key) pair must still
// get the bits it gets alone.
TEST_P(AttentionKernelsTest, ResultsDoNotDependOnOtherQueriesOrKeys) {
  for (int dim : {64, 128, 40}) {
    constexpr int kQueries = 50, kKeys = 37;
    std::vector<float> q(kQueries * dim);
    for (float& x : q) x = normal_(rng_);
    const std::vector<uint16_t> keys = RandomHalves(static_cast<size_t>(kKeys) * dim, rng_);
    std::vector<float> all(kQueries * kKeys);
    ScoreKeysF16(q.data(), kQueries, Runs(keys, kKeys, 16), kKeys, dim, 0.125f, all.data(), kKeys);
    for (int a = 0; a < kQueries; ++a) {
      for (int count = 1; count <= kKeys; ++count) {
        std::vector<float> alone(count);
        ScoreKeysF16(q.data() + a * dim, 1, Runs(keys, count, count), kKeys, dim, 0.125f,
                     alone.data(), count);
        for (int i = 0; i < count; ++i) {
          ASSERT_EQ(alone[i], all[a * kKeys + i])
              << "dim " << dim << " query " << a << " count " << count;
        }
      }
    }

    std::vector<float> weights(kQueries * kKeys), out(kQueries * dim, 0.0f);
    for (float& w : weights) w = std::fabs(normal_(rng_));
    AccumulateValuesF16(weights.data(), kKeys, kQueries, keys.data(), kKeys, dim, out.data());
    for (int a = 0; a < kQueries; ++a) {
      std::vector<float> alone(dim, 0.0f);
      AccumulateValuesF16(weights.data() + a * kKeys, kKeys, 1, keys.data(), kKeys, dim,
                          alone.data());
      for (int d = 0; d < dim; ++d) ASSERT_EQ(alone[d], out[a * dim + d]) << "dim " << dim;
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
      for (int i = 0; i < count; ++i)
        max_score = std::max<double>(max_score, original[r * stride + i]);
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
      for (size_t i = count; i < stride; ++i)
        ASSERT_EQ(scores[r * stride + i], original[r * stride + i]);
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

TEST_P(AttentionKernelsTest, F16ConversionRoundsToNearestEven) {
  // Every half converts back to itself (NaNs to their quiet form); offsets of
  // 1..7 show the tails after whole vectors.
  std::vector<float> floats;
  std::vector<uint16_t> expected;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    floats.push_back(Fp16ToFloat(static_cast<uint16_t>(h)));
    const bool nan = (h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0;
    expected.push_back(static_cast<uint16_t>(nan ? h | 0x200u : h));
  }
  // Midpoints between neighbouring finite halves of the same sign go to the
  // one with an even mantissa; float holds them exactly.
  for (uint32_t h = 0; h < 0x7BFF; ++h) {
    for (const uint32_t sign : {0u, 0x8000u}) {
      const double low = Fp16ToFloat(static_cast<uint16_t>(sign | h));
      const double high = Fp16ToFloat(static_cast<uint16_t>(sign | (h + 1)));
      floats.push_back(static_cast<float>((low + high) / 2));
      expected.push_back(static_cast<uint16_t>(sign | ((h & 1u) == 0 ? h : h + 1)));
    }
  }
  // Beyond the largest half: to infinity from 65520 on.
  for (const float big : {65519.0f, 65520.0f, 1e6f, -65520.0f}) {
    floats.push_back(big);
    expected.push_back(FloatToFp16(big));
  }
  EXPECT_EQ(FloatToFp16(65519.0f), 0x7BFFu);
  EXPECT_EQ(FloatToFp16(65520.0f), 0x7C00u);
  for (int offset = 0; offset < 8; ++offset) {
    const int count = static_cast<int>(floats.size()) - offset;
    std::vector<uint16_t> halves(count);
    FloatsToF16(floats.data() + offset, count, halves.data());
    for (int i = 0; i < count; ++i) {
      ASSERT_EQ(halves[i], expected[offset + i]) << "float " << floats[offset + i];
    }
  }
}

TEST_P(AttentionKernelsTest, KeyBoundsAreElementwiseMinMax) {
  for (int dim : {8, 64, 24, 5}) {
    for (int count : {1, 3, 16}) {
      std::vector<uint16_t> keys = RandomHalves(static_cast<size_t>(count) * dim, rng_);
      keys[dim / 2] = 0x7E00u;  // a NaN key leaves the bound as it is
      std::vector<float> lo(dim), hi(dim);
      for (int d = 0; d < dim; ++d) {
        lo[d] = d % 3 == 0 ? INFINITY : normal_(rng_);
        hi[d] = d % 3 == 0 ? -INFINITY : lo[d] + 0.5f;
      }
      std::vector<float> expected_lo = lo, expected_hi = hi;
      for (int i = 0; i < count; ++i) {
        for (int d = 0; d < dim; ++d) {
          const float k = Fp16ToFloat(keys[i * dim + d]);
          if (k < expected_lo[d]) expected_lo[d] = k;
          if (k > expected_hi[d]) expected_hi[d] = k;
        }
      }
      WidenKeyBounds(keys.data(), count, dim, lo.data(), hi.data());
      EXPECT_EQ(lo, expected_lo) << "dim " << dim << " count " << count;
      EXPECT_EQ(hi, expected_hi) << "dim " << dim << " count " << count;
    }
  }
}

RI_INSTANTIATE_FOR_EVERY_SIMD_LEVEL(AttentionKernelsTest);

// BF16 rounding (nearest even) of a finite float, as the AMX path rounds its
// inputs.
double Bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  bits += 0x7FFF + ((bits >> 16) & 1);
  bits &= 0xFFFF0000u;
  float rounded;
  std::memcpy(&rounded, &bits, sizeof(rounded));
  return rounded;
}

// Against a double-precision reference that rounds what the kernel rounds
// (queries times the scale, keys, values and exp(score - max) to BF16): the
// rest is float sums and a 5e-5 exponential, so a misplaced key or position
// shows in the probabilities far above their tolerance, a misplaced value in
// the outputs.
TEST(Bf16TileAttentionTest, MatchesBruteForceWithTheSameRounding) {
  if (!Bf16TileAttentionAvailable(64)) GTEST_SKIP() << "no AMX-BF16 on this CPU";
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Bf16KeysValues prepared;
  Bf16TileScratch scratch;
  for (int dim : {64, 128}) {
    for (int total : {1, 17, 100, 300}) {
      for (int run_size : {16, 5, 37}) {
        for (auto [rows, group] : {std::pair{1, 3}, std::pair{5, 3}, std::pair{16, 1}}) {
          const int num_queries = rows * group;
          // Runs in separate pages: keys dimension-major with room to spare,
          // values position-major; 20 positions more than the tile reads
          // are prepared (a tile reads a prefix).
          const int prepared_total = total + 20;
          const size_t key_stride = run_size + 3;
          std::vector<std::vector<uint16_t>> key_pages, value_pages;
          std::vector<F16KeyRun> key_runs;
          std::vector<F16ValueRun> value_runs;
          for (int first = 0; first < prepared_total; first += run_size) {
            const int count = std::min(run_size, prepared_total - first);
            key_pages.push_back(RandomHalves(key_stride * dim, rng));
            value_pages.push_back(RandomHalves(static_cast<size_t>(count) * dim, rng));
            key_runs.push_back({key_pages.back().data(), count});
            value_runs.push_back({value_pages.back().data(), count});
          }
          PrepareBf16KeysValues(key_runs, key_stride, value_runs, dim, prepared);
          const auto key = [&](int i, int d) {
            return Fp16ToFloat(key_pages[i / run_size][d * key_stride + i % run_size]);
          };
          const auto value = [&](int i, int d) {
            return Fp16ToFloat(value_pages[i / run_size][(i % run_size) * dim + d]);
          };
          // Rows of `group` queries, 8 floats apart.
          const size_t row_stride = static_cast<size_t>(group) * dim + 8;
          std::vector<float> query_rows(rows * row_stride);
          for (float& x : query_rows) x = 2.0f * normal(rng);
          const auto query = [&](int q, int d) {
            return query_rows[(q / group) * row_stride + (q % group) * dim + d];
          };
          // The last row sees everything, the ones before one fewer each, the
          // first none when there are several.
          std::vector<int> visible(rows);
          for (int k = 0; k < rows; ++k) visible[k] = std::max(0, total - rows + 1 + k);
          if (rows > 1) visible[0] = 0;
          const float scale = 0.125f;
          std::vector<float> out(static_cast<size_t>(num_queries) * dim, -7.0f);
          std::vector<float> lse(num_queries, -7.0f);
          AttendTileBf16(query_rows.data(), row_stride, rows, group, visible, prepared, total,
                         scale, /*want_probabilities=*/true, scratch, out.data(), lse.data());
          for (int q = 0; q < num_queries; ++q) {
            SCOPED_TRACE(::testing::Message() << "dim " << dim << " total " << total << " run "
                                              << run_size << " rows " << rows << " query " << q);
            const int seen = visible[q / group];
            const float* probabilities =
                scratch.probabilities.data() + q * scratch.probability_stride;
            if (seen == 0) {
              EXPECT_EQ(lse[q], -INFINITY);
              for (int d = 0; d < dim; ++d) ASSERT_EQ(out[q * dim + d], 0.0f);
              continue;
            }
            std::vector<double> scores(seen);
            double max_score = -INFINITY;
            for (int i = 0; i < seen; ++i) {
              double dot = 0;
              for (int d = 0; d < dim; ++d) {
                dot += Bf16(query(q, d) * scale) * Bf16(key(i, d));
              }
              scores[i] = dot;
              max_score = std::max(max_score, dot);
            }
            double sum = 0;
            std::vector<double> terms(seen);
            for (int i = 0; i < seen; ++i) {
              const double e = std::exp(scores[i] - max_score);
              sum += e;
              terms[i] = Bf16(static_cast<float>(e));
            }
            EXPECT_NEAR(lse[q], max_score + std::log(sum), 1e-4);
            for (int i = 0; i < seen; ++i) {
              ASSERT_NEAR(probabilities[i], std::exp(scores[i] - max_score) / sum, 1e-4) << i;
            }
            for (int i = seen; i < total; ++i) ASSERT_EQ(probabilities[i], 0.0f) << i;
            // A term computed with the kernel's exponential may round to
            // the BF16 neighbour of the reference's: up to one part in 128.
            for (int d = 0; d < dim; ++d) {
              double expected = 0, magnitude = 0;
              for (int i = 0; i < seen; ++i) {
                expected += terms[i] * Bf16(value(i, d));
                magnitude += terms[i] * std::fabs(Bf16(value(i, d)));
              }
              ASSERT_NEAR(out[q * dim + d], expected / sum, magnitude / sum / 128 + 1e-4)
                  << "d " << d;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace ri
