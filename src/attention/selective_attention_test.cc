// Prompt rows attended together as tiles get bit for bit what each row gets
// alone as a decode row (outputs, log-sum-exps and kept probabilities, with
// selections long enough to be split into slices), at every SIMD level; and
// both match double-precision brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "attention/exact_attention.h"
#include "attention/full_attention.h"
#include "kernels/simd_level_test_util.h"
#include "kv/paged_kv_cache.h"
#include "util/fp16.h"
#include "util/thread_pool.h"

namespace ri {
namespace {

// Full attention that keeps every row's probabilities and records them.
class RecordingAttention : public FullAttention {
 public:
  explicit RecordingAttention(PromptAttention prompt = PromptAttention::kExact)
      : FullAttention(prompt) {}
  // recorded[row][head]: the probabilities over positions 0..row.
  std::vector<std::vector<std::vector<float>>> recorded;

 protected:
  bool keeps_weights() const override { return true; }
  void AfterAttend(const LayerAttention& call, SequenceKvCache&) override {
    for (int row = 0; row < RowCount(call); ++row) {
      std::vector<std::vector<float>>& heads = recorded.emplace_back();
      for (int head = 0; head < call.num_heads; ++head) heads.push_back(weights(row, head));
    }
  }
};

struct Shape {
  int head_dim, page_size, rows;
};

constexpr int kHeads = 6;
constexpr int kKvHeads = 2;

struct Result {
  std::vector<float> outputs, log_sum_exps;
  std::vector<std::vector<std::vector<float>>> weights;
};

class PromptTileTest : public EverySimdLevelTest {
 protected:
  // Attends rows [0, rows) in one call as prompt rows, or one call per row
  // as decode rows; with `last_decoded`, the last row is a decode row after
  // the others' prompt.
  Result Run(const Shape& shape, bool together, PromptAttention prompt = PromptAttention::kExact,
             bool last_decoded = false) {
    KvPagePool pages({1, kKvHeads, shape.head_dim, shape.page_size});
    SequenceKvCache cache(pages);
    RecordingAttention policy(prompt);
    const size_t q_width = static_cast<size_t>(kHeads) * shape.head_dim;
    const size_t kv_width = static_cast<size_t>(kKvHeads) * shape.head_dim;
    Result result;
    result.outputs.assign(shape.rows * q_width, 0.0f);
    result.log_sum_exps.assign(static_cast<size_t>(shape.rows) * kHeads, 0.0f);
    const auto attend = [&](int first, int count, RowRole role) {
      std::vector<int> positions(count);
      for (int i = 0; i < count; ++i) positions[i] = first + i;
      const std::vector<RowRole> roles(count, role);
      const LayerAttention call{.layer = 0,
                                .num_heads = kHeads,
                                .num_kv_heads = kKvHeads,
                                .head_dim = shape.head_dim,
                                .scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim)),
                                .positions = positions,
                                .roles = roles,
                                .queries = queries_.data() + first * q_width,
                                .keys = keys_.data() + first * kv_width,
                                .values = values_.data() + first * kv_width,
                                .outputs = result.outputs.data() + first * q_width,
                                .log_sum_exps = result.log_sum_exps.data() + first * kHeads};
      policy.Attend(call, cache, threads_);
    };
    if (together) {
      attend(0, shape.rows - (last_decoded ? 1 : 0), RowRole::kPrefill);
      if (last_decoded) attend(shape.rows - 1, 1, RowRole::kDecode);
    } else {
      for (int row = 0; row < shape.rows; ++row) attend(row, 1, RowRole::kDecode);
    }
    result.weights = std::move(policy.recorded);
    return result;
  }

  void Fill(const Shape& shape) {
    const auto random = [&](size_t n) {
      std::vector<float> v(n);
      for (float& x : v) x = 2.0f * normal_(rng_);
      return v;
    };
    queries_ = random(static_cast<size_t>(shape.rows) * kHeads * shape.head_dim);
    keys_ = random(static_cast<size_t>(shape.rows) * kKvHeads * shape.head_dim);
    values_ = random(keys_.size());
  }

  std::vector<float> queries_, keys_, values_;
  ThreadPool threads_{2};
};

TEST_P(PromptTileTest, TilesEqualSingleRowsAndBruteForce) {
  // 700 positions: selections of more than one 512-position slice; head_dim
  // 40 takes the paths for sizes that are not whole 16-float vectors.
  for (const Shape shape : {Shape{64, 16, 700}, Shape{40, 4, 150}}) {
    Fill(shape);
    const Result tiles = Run(shape, /*together=*/true);
    const Result rows = Run(shape, /*together=*/false);
    ASSERT_EQ(tiles.outputs, rows.outputs) << "head_dim " << shape.head_dim;
    ASSERT_EQ(tiles.log_sum_exps, rows.log_sum_exps) << "head_dim " << shape.head_dim;
    ASSERT_EQ(tiles.weights, rows.weights) << "head_dim " << shape.head_dim;

    const int dim = shape.head_dim;
    const auto rounded = [](float x) { return static_cast<double>(Fp16ToFloat(FloatToFp16(x))); };
    for (int row = 0; row < shape.rows; row += 7) {
      for (int head = 0; head < kHeads; ++head) {
        const int kv_head = head / (kHeads / kKvHeads);
        const float* q = queries_.data() + (static_cast<size_t>(row) * kHeads + head) * dim;
        std::vector<double> scores(row + 1);
        double max_score = -INFINITY;
        for (int p = 0; p <= row; ++p) {
          const float* k = keys_.data() + (static_cast<size_t>(p) * kKvHeads + kv_head) * dim;
          double dot = 0;
          for (int d = 0; d < dim; ++d) dot += q[d] * rounded(k[d]);
          scores[p] = dot / std::sqrt(static_cast<double>(dim));
          max_score = std::max(max_score, scores[p]);
        }
        double sum = 0;
        for (double& s : scores) sum += (s = std::exp(s - max_score));
        ASSERT_NEAR(tiles.log_sum_exps[row * kHeads + head], max_score + std::log(sum),
                    1e-4 * (1 + std::fabs(max_score)));
        for (int d = 0; d < dim; ++d) {
          double expected = 0;
          for (int p = 0; p <= row; ++p) {
            const float* v = values_.data() + (static_cast<size_t>(p) * kKvHeads + kv_head) * dim;
            expected += scores[p] / sum * rounded(v[d]);
          }
          ASSERT_NEAR(tiles.outputs[(static_cast<size_t>(row) * kHeads + head) * dim + d], expected,
                      1e-4)
              << "row " << row << " head " << head << " d " << d;
        }
        for (int p = 0; p <= row; p += 13) {
          ASSERT_NEAR(tiles.weights[row][head][p], scores[p] / sum, 1e-5);
        }
      }
    }
  }
}

RI_INSTANTIATE_FOR_EVERY_SIMD_LEVEL(PromptTileTest);

// BF16 prompt tiles (where the CPU has AMX-BF16; elsewhere they are exact)
// stay within their rounding of the exact results, and leave decode rows
// exact: a decode row after a BF16 prompt gets the bits it gets after an
// exact one, since the cache holds the same keys and values.
TEST_P(PromptTileTest, Bf16PromptsStayCloseAndDecodeRowsExact) {
  const Shape shape{64, 16, 700};
  Fill(shape);
  const Result exact = Run(shape, true, PromptAttention::kExact, /*last_decoded=*/true);
  const Result bf16 = Run(shape, true, PromptAttention::kBf16, /*last_decoded=*/true);
  const size_t q_width = static_cast<size_t>(kHeads) * shape.head_dim;
  const size_t prompt_outputs = (shape.rows - 1) * q_width;
  ASSERT_TRUE(std::equal(exact.outputs.begin() + prompt_outputs, exact.outputs.end(),
                         bf16.outputs.begin() + prompt_outputs));
  ASSERT_TRUE(std::equal(exact.log_sum_exps.end() - kHeads, exact.log_sum_exps.end(),
                         bf16.log_sum_exps.end() - kHeads));
  ASSERT_EQ(exact.weights.back(), bf16.weights.back());
  // Scores of about 4 in magnitude (queries, keys and values are 2 N(0, 1))
  // carry BF16 rounding of a few hundredths; a row or position out of place
  // would differ by about the values themselves.
  double worst_output = 0, mean_output = 0, worst_lse = 0, worst_weight = 0;
  for (size_t i = 0; i < prompt_outputs; ++i) {
    const double difference = std::fabs(double{exact.outputs[i]} - bf16.outputs[i]);
    worst_output = std::max(worst_output, difference);
    mean_output += difference / prompt_outputs;
  }
  for (size_t i = 0; i + kHeads < exact.log_sum_exps.size(); ++i) {
    worst_lse =
        std::max(worst_lse, std::fabs(double{exact.log_sum_exps[i]} - bf16.log_sum_exps[i]));
  }
  for (int row = 0; row + 1 < shape.rows; ++row) {
    for (int head = 0; head < kHeads; ++head) {
      const std::vector<float>& a = exact.weights[row][head];
      const std::vector<float>& b = bf16.weights[row][head];
      ASSERT_EQ(a.size(), b.size());
      double sum = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        worst_weight = std::max(worst_weight, std::fabs(double{a[i]} - b[i]));
        sum += b[i];
      }
      ASSERT_NEAR(sum, 1.0, 1e-4) << "row " << row << " head " << head;
    }
  }
  std::printf("differences: output %.4f (mean %.5f), lse %.4f, weight %.4f\n", worst_output,
              mean_output, worst_lse, worst_weight);
  EXPECT_LT(worst_output, 0.25);
  EXPECT_LT(mean_output, 0.01);
  EXPECT_LT(worst_lse, 0.05);
  EXPECT_LT(worst_weight, 0.05);
}

// A sliding window of 100 positions: consecutive rows' selections do not
// nest once the window moves.
class WindowAttention : public SelectiveAttention {
 public:
  explicit WindowAttention(PromptAttention prompt) : SelectiveAttention(prompt) {}
  std::string name() const override { return "window"; }

 protected:
  void SelectRuns(const LayerAttention& call, const SequenceKvCache& cache, int row, int kv_head,
                  std::vector<PageRun>& runs) const override {
    runs.clear();
    const int last = call.positions[row];
    AppendRangeRuns(cache.page_table(call.layer), cache.geometry().page_size,
                    std::max(0, last - 99), last, runs);
  }
};

// Prompt tiles whose selection does not begin the call's longest (the last
// row's) stay exact with BF16 prompts: here every row but the last.
TEST_P(PromptTileTest, Bf16PromptsLeaveUncoveredTilesExact) {
  const Shape shape{64, 16, 300};
  Fill(shape);
  const auto run = [&](PromptAttention prompt) {
    KvPagePool pages({1, kKvHeads, shape.head_dim, shape.page_size});
    SequenceKvCache cache(pages);
    WindowAttention policy(prompt);
    std::vector<int> positions(shape.rows);
    for (int i = 0; i < shape.rows; ++i) positions[i] = i;
    const std::vector<RowRole> roles(shape.rows, RowRole::kPrefill);
    std::vector<float> outputs(queries_.size());
    const LayerAttention call{.layer = 0,
                              .num_heads = kHeads,
                              .num_kv_heads = kKvHeads,
                              .head_dim = shape.head_dim,
                              .scale = 0.125f,
                              .positions = positions,
                              .roles = roles,
                              .queries = queries_.data(),
                              .keys = keys_.data(),
                              .values = values_.data(),
                              .outputs = outputs.data()};
    policy.Attend(call, cache, threads_);
    return outputs;
  };
  const std::vector<float> exact = run(PromptAttention::kExact);
  const std::vector<float> bf16 = run(PromptAttention::kBf16);
  const size_t last_row = (shape.rows - 1) * static_cast<size_t>(kHeads) * shape.head_dim;
  ASSERT_TRUE(std::equal(exact.begin(), exact.begin() + last_row, bf16.begin()));
  for (size_t i = last_row; i < exact.size(); ++i) ASSERT_NEAR(exact[i], bf16[i], 0.25) << i;
  // The last row's tile did take the BF16 path where there is one.
  EXPECT_EQ(std::equal(exact.begin() + last_row, exact.end(), bf16.begin() + last_row),
            !Bf16TileAttentionAvailable(shape.head_dim));
}

TEST(RunsExtendTest, LongerSelectionsMustBeginWithTheShorterOne) {
  const std::vector<PageRun> shorter = {{3, 0, 16}, {7, 0, 5}};
  EXPECT_TRUE(RunsExtend(shorter, shorter));
  EXPECT_TRUE(RunsExtend(shorter, std::vector<PageRun>{{3, 0, 16}, {7, 0, 6}}));
  EXPECT_TRUE(RunsExtend(shorter, std::vector<PageRun>{{3, 0, 16}, {7, 0, 16}, {2, 0, 1}}));
  EXPECT_TRUE(RunsExtend({}, shorter));
  EXPECT_FALSE(RunsExtend(shorter, std::vector<PageRun>{{3, 0, 16}, {7, 0, 4}}));
  EXPECT_FALSE(RunsExtend(shorter, std::vector<PageRun>{{3, 0, 16}, {8, 0, 5}}));
  EXPECT_FALSE(RunsExtend(shorter, std::vector<PageRun>{{3, 1, 15}, {7, 0, 5}}));
  EXPECT_FALSE(RunsExtend(shorter, std::vector<PageRun>{{3, 0, 16}}));
}

}  // namespace
}  // namespace ri
