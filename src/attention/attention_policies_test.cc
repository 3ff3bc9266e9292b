// Attention policies against brute-force references: page selection, and
// whole decode runs of a tiny random model against a deliberately simple
// reference forward pass that applies each policy's rule from its definition.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "attention/exact_attention.h"
#include "attention/full_attention.h"
#include "attention/policy_config.h"
#include "attention/quest_attention.h"
#include "kv/paged_kv_cache.h"
#include "model/reference_llama.h"
#include "model/tiny_model.h"
#include "util/error.h"
#include "util/fp16.h"
#include "util/thread_pool.h"

namespace ri {
namespace {

// ---------------------------------------------------------------- selection

TEST(QuestSelectionTest, EqualsBruteForceIncludingTiesAndGroups) {
  const KvGeometry geometry{.num_layers = 1, .num_kv_heads = 2, .head_dim = 8, .page_size = 4};
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (int trial = 0; trial < 200; ++trial) {
    KvPagePool pool(geometry);
    SequenceKvCache cache(pool);
    const int length = 1 + static_cast<int>(rng() % 60);
    std::vector<std::vector<float>> keys;
    for (int p = 0; p < length; ++p) {
      std::vector<float> key(geometry.num_kv_heads * geometry.head_dim);
      // Every third trial repeats earlier pages' keys, so page scores tie.
      if (trial % 3 == 0 && p >= 8) {
        key = keys[p % 8];
      } else {
        for (float& x : key) x = normal(rng);
      }
      keys.push_back(key);
      cache.Write(0, p, key.data(), key.data());
    }
    const int group = 1 + static_cast<int>(rng() % 3);
    std::vector<float> queries(group * geometry.head_dim);
    for (float& x : queries) x = normal(rng);
    const int kv_head = static_cast<int>(rng() % geometry.num_kv_heads);
    const int position = length - 1;
    const int budget = 1 + static_cast<int>(rng() % 8);

    std::vector<float> scratch;
    std::vector<int> selected;
    SelectPages(pool, cache.page_table(0), position, kv_head, queries.data(), group,
                geometry.head_dim, budget, scratch, selected);

    // Brute force: bound of every page from its stored keys, sorted.
    const int pages = position / geometry.page_size + 1;
    std::vector<int> expected;
    if (budget >= pages) {
      expected.resize(pages);
      std::iota(expected.begin(), expected.end(), 0);
    } else {
      std::vector<std::pair<float, int>> scored;
      for (int j = 0; j + 1 < pages; ++j) {
        float score = 0;
        for (int g = 0; g < group; ++g) {
          for (int d = 0; d < geometry.head_dim; ++d) {
            float lo = INFINITY, hi = -INFINITY;
            for (int p = j * 4; p < j * 4 + 4; ++p) {
              const float k = Fp16ToFloat(FloatToFp16(keys[p][kv_head * geometry.head_dim + d]));
              lo = std::min(lo, k);
              hi = std::max(hi, k);
            }
            const float q = queries[g * geometry.head_dim + d];
            score += std::max(q * lo, q * hi);
          }
        }
        scored.push_back({score, j});
      }
      std::sort(scored.begin(), scored.end(), [](auto a, auto b) {
        return a.first != b.first ? a.first > b.first : a.second > b.second;
      });
      for (int i = 0; i < budget - 1; ++i) expected.push_back(scored[i].second);
      expected.push_back(pages - 1);
      std::sort(expected.begin(), expected.end());
    }
    ASSERT_EQ(selected, expected) << "trial " << trial;
  }
}

// Runs of a range, against position-by-position brute force: every position
// of [first, last] once, in order, at its page and slot.
TEST(PageRunsTest, RangeRunsCoverExactlyTheRange) {
  for (int page_size : {1, 4, 16}) {
    std::vector<int> page_table(64 / page_size);
    std::iota(page_table.begin(), page_table.end(), 100);  // page ids unlike indices
    for (int first = 0; first < 64; ++first) {
      for (int last = first - 1; last < 64; ++last) {
        std::vector<PageRun> runs;
        AppendRangeRuns(page_table, page_size, first, last, runs);
        std::vector<std::pair<int, int>> covered;  // (page, slot)
        for (const PageRun& run : runs) {
          ASSERT_GT(run.count, 0);
          for (int i = 0; i < run.count; ++i) covered.emplace_back(run.page, run.first + i);
        }
        std::vector<std::pair<int, int>> expected;
        for (int p = first; p <= last; ++p) {
          expected.emplace_back(page_table[p / page_size], p % page_size);
        }
        ASSERT_EQ(covered, expected) << "page size " << page_size << ", " << first << ".." << last;
      }
    }
  }
}

TEST(PolicyConfigTest, ParsesSpecsAndRejectsBadOnes) {
  EXPECT_EQ(PolicyConfig::Parse("quest:b=0.1").ToString(), "quest:b=0.1:dense=2");
  EXPECT_EQ(PolicyConfig::Parse("streaming:b=2048:sinks=8").ToString(),
            "streaming:b=2048:sinks=8");
  EXPECT_EQ(PolicyConfig::Parse("full").kind, PolicyKind::kFull);
  EXPECT_EQ(PolicyConfig::Parse("full").prompt, PromptAttention::kExact);
  EXPECT_EQ(PolicyConfig::Parse("full:prompt=bf16").prompt, PromptAttention::kBf16);
  EXPECT_EQ(PolicyConfig::Parse("retro:b=0.1:w=4:prompt=bf16").ToString(),
            "retro:b=0.1:w=4:dense=2:prompt=bf16");
  EXPECT_EQ(PolicyConfig::Parse("quest:b=0.1:prompt=exact").ToString(), "quest:b=0.1:dense=2");
  EXPECT_EQ(Budget::Parse("0.25").TokensFor(100), 25);
  EXPECT_EQ(Budget::Parse("0.1").TokensFor(101), 11);  // rounded up
  EXPECT_EQ(Budget::Parse("512").TokensFor(100), 512);
  for (const char* bad : {"nope", "quest:b=0", "quest:b=-1", "quest:b=1.5", "quest:x=1", "quest:b",
                          "tova:b=abc", "full:prompt=fp8", "full:prompt="}) {
    EXPECT_THROW(PolicyConfig::Parse(bad), Error) << bad;
  }
  PolicyConfig dense = PolicyConfig::Parse("quest:b=0.1:dense=40");
  EXPECT_THROW(dense.Validate(30), Error);
  EXPECT_THROW(PolicyConfig::Parse("streaming:b=4").Validate(30), Error);
}

// ------------------------------------------------- reference forward pass

// Which cached positions a query may see: the policy rule, restated.
using VisibleFn = std::function<std::vector<int>(int layer, int kv_head, int position,
                                                 bool decode, const float* group_queries)>;

// A llama forward pass one token at a time, with dense per-layer K/V, that
// applies a policy's visibility rule as its definition states it.
class ReferenceModel {
 public:
  explicit ReferenceModel(const Model& model) : llama_(model), c_(model.config()) {
    keys_.resize(c_.num_layers);
    values_.resize(c_.num_layers);
  }

  // Logits of the token at `position`; `visible` chooses the attended positions;
  // `on_weights(layer, seen, weights per head over seen)` observes attention.
  std::vector<float> Step(TokenId token, int position, bool decode, const VisibleFn& visible,
                          const std::function<void(int, const std::vector<int>&,
                                                   const std::vector<std::vector<double>>&)>&
                              on_weights = nullptr) {
    std::vector<float> x = llama_.Embed(token);
    for (int l = 0; l < c_.num_layers; ++l) {
      ReferenceLlama::Projections p = llama_.Project(l, x, position);
      keys_[l].push_back(p.keys);
      values_[l].push_back(p.values);
      std::vector<float> attention(c_.num_heads * c_.head_dim, 0.0f);
      const int group = c_.num_heads / c_.num_kv_heads;
      std::vector<std::vector<double>> weights(c_.num_heads);
      std::vector<int> seen;
      for (int head = 0; head < c_.num_heads; ++head) {
        const int kv = head / group;
        seen = visible(l, kv, position, decode, &p.queries[kv * group * c_.head_dim]);
        std::vector<const float*> k, v;
        for (int s : seen) {
          k.push_back(key(l, s, kv));
          v.push_back(&values_[l][s][kv * c_.head_dim]);
        }
        ReferenceAttentionResult result =
            ReferenceAttend(&p.queries[head * c_.head_dim], k, v, c_.head_dim);
        for (int d = 0; d < c_.head_dim; ++d) {
          attention[head * c_.head_dim + d] = static_cast<float>(result.output[d]);
        }
        weights[head] = std::move(result.weights);
      }
      if (on_weights) on_weights(l, seen, weights);
      llama_.Finish(l, attention, x);
    }
    return llama_.Logits(x);
  }

  // The stored key of (layer, position, kv head), for the selection rule.
  const float* key(int layer, int position, int kv_head) const {
    return &keys_[layer][position][kv_head * c_.head_dim];
  }

 private:
  ReferenceLlama llama_;
  const ModelConfig& c_;
  std::vector<std::vector<std::vector<float>>> keys_, values_;  // [layer][position]
};

std::vector<int> Range(int first, int last) {
  std::vector<int> positions;
  for (int p = first; p <= last; ++p) positions.push_back(p);
  return positions;
}

constexpr int kPromptLength = 40;
constexpr int kDecodeSteps = 100;
// Float against double summation over 3 small layers: differences of order
// 1e-5 relative; logits are of order 1.
constexpr float kTolerance = 2e-3f;

class PolicyRunTest : public ::testing::Test {
 protected:
  PolicyRunTest() : model_(MakeTinyRandomModel({}, 11)), pool_(2) {
    std::mt19937 rng(5);
    for (int i = 0; i < kPromptLength + kDecodeSteps; ++i) {
      tokens_.push_back(static_cast<TokenId>(rng() % model_->config().vocab_size));
    }
  }

  // Logits of every decode step through the engine with `config`.
  std::vector<std::vector<float>> RunEngine(const PolicyConfig& config, int page_size = 4) {
    const ModelConfig& c = model_->config();
    KvPagePool pages({c.num_layers, c.num_kv_heads, c.head_dim, page_size});
    SequenceKvCache cache(pages);
    auto policy = MakePolicy(config);
    const SequenceContext sequence{&cache, policy.get()};
    std::vector<ForwardRow> rows;
    for (int i = 0; i < kPromptLength; ++i) {
      rows.push_back({tokens_[i], i, RowRole::kPrefill, 0, false});
    }
    std::vector<float> logits;
    model_->Forward(rows, {&sequence, 1}, pool_, logits);
    std::vector<std::vector<float>> all;
    for (int i = kPromptLength; i < kPromptLength + kDecodeSteps; ++i) {
      const ForwardRow row{tokens_[i], i, RowRole::kDecode, 0, true};
      model_->Forward({&row, 1}, {&sequence, 1}, pool_, logits);
      policy->EndDecodeStep();
      all.push_back(logits);
    }
    return all;
  }

  void ExpectClose(const std::vector<std::vector<float>>& engine,
                   const std::vector<std::vector<float>>& reference) {
    ASSERT_EQ(engine.size(), reference.size());
    for (size_t step = 0; step < engine.size(); ++step) {
      for (size_t v = 0; v < engine[step].size(); ++v) {
        ASSERT_NEAR(engine[step][v], reference[step][v], kTolerance)
            << "decode step " << step << " token " << v;
      }
    }
  }

  // Reference logits of every decode step with the given visibility rule.
  std::vector<std::vector<float>> RunReference(
      ReferenceModel& reference, const VisibleFn& visible,
      const std::function<void(int, int, const std::vector<int>&,
                               const std::vector<std::vector<double>>&)>& on_weights = nullptr) {
    std::vector<std::vector<float>> all;
    for (int i = 0; i < kPromptLength + kDecodeSteps; ++i) {
      const bool decode = i >= kPromptLength;
      auto observe = [&](int layer, const std::vector<int>& seen,
                         const std::vector<std::vector<double>>& weights) {
        if (decode && on_weights) on_weights(layer, i, seen, weights);
      };
      std::vector<float> logits = reference.Step(tokens_[i], i, decode, visible, observe);
      if (decode) all.push_back(std::move(logits));
    }
    return all;
  }

  std::unique_ptr<Model> model_;
  ThreadPool pool_;
  std::vector<TokenId> tokens_;
};

TEST_F(PolicyRunTest, FullMatchesReference) {
  ReferenceModel reference(*model_);
  ExpectClose(RunEngine(PolicyConfig{}),
              RunReference(reference, [](int, int, int position, bool, const float*) {
                return Range(0, position);
              }));
}

TEST_F(PolicyRunTest, QuestWithWholeBudgetIsIdenticalToFull) {
  const auto full = RunEngine(PolicyConfig{});
  const auto quest = RunEngine(PolicyConfig::Parse("quest:b=1:dense=0"));
  ASSERT_EQ(full, quest);  // the same exact-attention code over the same runs: bit-identical
}

TEST_F(PolicyRunTest, QuestMatchesReference) {
  const PolicyConfig config = PolicyConfig::Parse("quest:b=0.2:dense=1");
  ReferenceModel reference(*model_);
  const ModelConfig& c = model_->config();
  const int page_size = 4;
  auto visible = [&](int layer, int kv_head, int position, bool decode, const float* queries) {
    if (!decode || layer < config.dense_layers) return Range(0, position);
    const int pages = position / page_size + 1;
    const int budget = (config.budget.TokensFor(position + 1) + page_size - 1) / page_size;
    std::vector<int> chosen;
    if (budget >= pages) {
      chosen = Range(0, pages - 1);
    } else {
      std::vector<std::pair<float, int>> scored;
      const int group = c.num_heads / c.num_kv_heads;
      for (int j = 0; j + 1 < pages; ++j) {
        float score = 0;
        for (int g = 0; g < group; ++g) {
          for (int d = 0; d < c.head_dim; ++d) {
            float lo = INFINITY, hi = -INFINITY;
            for (int p = j * page_size; p < (j + 1) * page_size; ++p) {
              lo = std::min(lo, reference.key(layer, p, kv_head)[d]);
              hi = std::max(hi, reference.key(layer, p, kv_head)[d]);
            }
            const float q = queries[g * c.head_dim + d];
            score += std::max(q * lo, q * hi);
          }
        }
        scored.push_back({score, j});
      }
      std::sort(scored.begin(), scored.end(), [](auto a, auto b) {
        return a.first != b.first ? a.first > b.first : a.second > b.second;
      });
      for (int i = 0; i < budget - 1; ++i) chosen.push_back(scored[i].second);
      chosen.push_back(pages - 1);
      std::sort(chosen.begin(), chosen.end());
    }
    std::vector<int> positions;
    for (int j : chosen) {
      for (int p = j * page_size; p < std::min((j + 1) * page_size, position + 1); ++p) {
        positions.push_back(p);
      }
    }
    return positions;
  };
  ExpectClose(RunEngine(config, page_size), RunReference(reference, visible));
}

TEST_F(PolicyRunTest, StreamingMatchesReference) {
  const PolicyConfig config = PolicyConfig::Parse("streaming:b=0.25:sinks=4");
  ReferenceModel reference(*model_);
  // The recent window only moves forward: a position once dropped stays dropped.
  std::vector<int> window_start(model_->config().num_layers, config.sinks);
  auto visible = [&](int layer, int, int position, bool decode, const float*) {
    if (decode) {
      const int recent = std::max(1, config.budget.TokensFor(position + 1) - config.sinks);
      window_start[layer] = std::max(window_start[layer], position + 1 - recent);
    }
    std::vector<int> positions = Range(0, std::min(config.sinks, position + 1) - 1);
    for (int p : Range(std::max(config.sinks, window_start[layer]), position)) positions.push_back(p);
    return positions;
  };
  ExpectClose(RunEngine(config), RunReference(reference, visible));
}

TEST_F(PolicyRunTest, TovaMatchesReference) {
  const PolicyConfig config = PolicyConfig::Parse("tova:b=0.3");
  ReferenceModel reference(*model_);
  std::vector<std::set<int>> evicted(model_->config().num_layers);
  auto visible = [&](int layer, int, int position, bool, const float*) {
    std::vector<int> positions;
    for (int p = 0; p <= position; ++p) {
      if (!evicted[layer].count(p)) positions.push_back(p);
    }
    return positions;
  };
  // After each decode step's attention, drop the lowest head-averaged weights
  // until the layer is within budget.
  auto evict = [&](int layer, int position, const std::vector<int>& seen,
                   const std::vector<std::vector<double>>& weights) {
    const int budget = config.budget.TokensFor(position + 1);
    std::vector<std::pair<double, int>> average;
    for (size_t i = 0; i < seen.size(); ++i) {
      double sum = 0;
      for (const auto& head : weights) sum += head[i];
      average.push_back({sum / weights.size(), seen[i]});
    }
    std::sort(average.begin(), average.end());
    for (int i = 0; i < static_cast<int>(seen.size()) - budget; ++i) {
      evicted[layer].insert(average[i].second);
    }
  };
  ExpectClose(RunEngine(config), RunReference(reference, visible, evict));
}

TEST_F(PolicyRunTest, SparsePoliciesReadLessAndCountIt) {
  for (const char* spec : {"quest:b=0.25:dense=0", "streaming:b=0.25", "tova:b=0.25"}) {
    const ModelConfig& c = model_->config();
    KvPagePool pages({c.num_layers, c.num_kv_heads, c.head_dim, 4});
    SequenceKvCache cache(pages);
    auto policy = MakePolicy(PolicyConfig::Parse(spec));
    const SequenceContext sequence{&cache, policy.get()};
    std::vector<float> logits;
    uint64_t full_positions = 0;
    for (int i = 0; i < kPromptLength + kDecodeSteps; ++i) {
      const bool decode = i >= kPromptLength;
      const ForwardRow row{tokens_[i], i, decode ? RowRole::kDecode : RowRole::kPrefill, 0, true};
      model_->Forward({&row, 1}, {&sequence, 1}, pool_, logits);
      if (decode) {
        policy->EndDecodeStep();
        full_positions += static_cast<uint64_t>(i + 1) * c.num_layers * c.num_kv_heads;
      }
    }
    const AttentionStats& stats = policy->stats();
    EXPECT_EQ(stats.decode_steps, static_cast<uint64_t>(kDecodeSteps)) << spec;
    const double share = static_cast<double>(stats.positions_attended) / full_positions;
    // Budget 0.25 rounded up to whole pages (Quest) or to whole tokens.
    EXPECT_GT(share, 0.2) << spec;
    EXPECT_LT(share, 0.35) << spec;
  }
}

}  // namespace
}  // namespace ri
