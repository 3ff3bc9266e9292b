// RetroAttention: exact identities (w = 1 is Quest, a whole budget is full
// attention), the split-softmax merge, and effective KV exposure on a case
// whose page selections are known by construction.
#include "attention/retro_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "attention/exact_attention.h"
#include "attention/policy_config.h"
#include "kv/paged_kv_cache.h"
#include "model/tiny_model.h"
#include "util/fp16.h"
#include "util/thread_pool.h"

namespace ri {
namespace {

// Decode logits of a tiny random model under `spec`, one vector per step.
std::vector<std::vector<float>> DecodeLogits(const Model& model, const std::string& spec,
                                             int prompt_length, int steps) {
  const ModelConfig& c = model.config();
  ThreadPool threads(2);
  KvPagePool pages({c.num_layers, c.num_kv_heads, c.head_dim, 4});
  SequenceKvCache cache(pages);
  auto policy = MakePolicy(PolicyConfig::Parse(spec));
  const SequenceContext sequence{&cache, policy.get()};
  std::mt19937 rng(9);
  std::vector<TokenId> tokens(prompt_length + steps);
  for (TokenId& token : tokens) token = static_cast<TokenId>(rng() % c.vocab_size);
  std::vector<ForwardRow> rows;
  for (int i = 0; i < prompt_length; ++i) rows.push_back({tokens[i], i, RowRole::kPrefill, 0, false});
  std::vector<float> logits;
  model.Forward(rows, {&sequence, 1}, threads, logits);
  std::vector<std::vector<float>> all;
  for (int t = prompt_length; t < prompt_length + steps; ++t) {
    const DecodePlan plan = policy->PlanDecodeStep(t, c.hidden_size);
    rows.clear();
    for (const ReplayRow& replay : plan.replays) {
      rows.push_back({.token = tokens[replay.position],
                      .position = replay.position,
                      .role = RowRole::kRetro,
                      .start_layer = replay.start_layer,
                      .start_residual = replay.residual});
    }
    rows.push_back({.token = tokens[t],
                    .position = t,
                    .role = RowRole::kDecode,
                    .wants_logits = true,
                    .capture_layer = plan.keep_layer,
                    .captured_residual = plan.kept_residual});
    model.Forward(rows, {&sequence, 1}, threads, logits);
    policy->EndDecodeStep();
    all.push_back(logits);
  }
  return all;
}

class RetroIdentityTest : public ::testing::Test {
 protected:
  std::unique_ptr<Model> model_ = MakeTinyRandomModel({}, 21);
};

TEST_F(RetroIdentityTest, WindowOfOneIsQuest) {
  EXPECT_EQ(DecodeLogits(*model_, "retro:b=0.2:w=1:dense=1", 30, 120),
            DecodeLogits(*model_, "quest:b=0.2:dense=1", 30, 120));
}

// With every page selected, no page is ever unseen: outputs stay exact and
// the re-embedded window rows recompute the keys and values they had.
TEST_F(RetroIdentityTest, WholeBudgetIsFullAttentionForAnyWindow) {
  const auto full = DecodeLogits(*model_, "full", 30, 120);
  for (const char* spec : {"retro:b=1:w=2:dense=0", "retro:b=1:w=4:dense=1", "retro:b=1:w=8"}) {
    EXPECT_EQ(DecodeLogits(*model_, spec, 30, 120), full) << spec;
  }
}

// Retro actually changes something at a small budget (otherwise the
// identities above would prove little).
TEST_F(RetroIdentityTest, SmallBudgetWindowChangesLogits) {
  EXPECT_NE(DecodeLogits(*model_, "retro:b=0.2:w=4:dense=1", 30, 60),
            DecodeLogits(*model_, "quest:b=0.2:dense=1", 30, 60));
}

TEST(MergeAttentionTest, MergedPartsEqualSoftmaxOverTheUnion) {
  const KvGeometry geometry{.num_layers = 1, .num_kv_heads = 1, .head_dim = 16, .page_size = 4};
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 1.5f);
  for (int trial = 0; trial < 50; ++trial) {
    KvPagePool pool(geometry);
    SequenceKvCache cache(pool);
    const int length = 8 + static_cast<int>(rng() % 40);
    std::vector<float> key(16), value(16);
    for (int p = 0; p < length; ++p) {
      for (float& x : key) x = normal(rng);
      for (float& x : value) x = normal(rng);
      cache.Write(0, p, key.data(), value.data());
    }
    std::vector<float> query(16);
    for (float& x : query) x = normal(rng);
    // Split the pages into random disjoint parts, attend each, merge in turn.
    const int pages = cache.num_pages(0);
    std::vector<int> order(pages);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<float> merged(16), part(16), scores(length);
    float merged_lse = 0;
    bool first = true;
    for (size_t begin = 0; begin < order.size();) {
      const size_t end = std::min(order.size(), begin + 1 + rng() % 3);
      std::vector<int> indices(order.begin() + begin, order.begin() + end);
      std::sort(indices.begin(), indices.end());
      std::vector<PageRun> runs;
      RunsForPages(cache.page_table(0), indices, 4, length - 1, runs);
      float lse = 0;
      AttendRuns(pool, 0, runs, query.data(), 1, 16, 0.25f, scores.data(), part.data(), &lse);
      if (first) {
        merged = part;
        merged_lse = lse;
        first = false;
      } else {
        MergeAttention(merged.data(), &merged_lse, part.data(), lse, 16);
      }
      begin = end;
    }
    // Brute force in double over every stored position.
    std::vector<double> weights(length), expected(16, 0.0);
    double max_score = -INFINITY, sum = 0;
    for (int p = 0; p < length; ++p) {
      uint16_t k[16];
      pool.LoadKey(cache.page(0, p / 4), 0, p % 4, k);
      double dot = 0;
      for (int d = 0; d < 16; ++d) dot += query[d] * static_cast<double>(Fp16ToFloat(k[d]));
      weights[p] = 0.25 * dot;
      max_score = std::max(max_score, weights[p]);
    }
    for (double& w : weights) sum += (w = std::exp(w - max_score));
    for (int p = 0; p < length; ++p) {
      const uint16_t* v = pool.values(cache.page(0, p / 4), 0) + (p % 4) * 16;
      for (int d = 0; d < 16; ++d) expected[d] += weights[p] / sum * Fp16ToFloat(v[d]);
    }
    for (int d = 0; d < 16; ++d) ASSERT_NEAR(merged[d], expected[d], 2e-5) << "trial " << trial;
    EXPECT_NEAR(merged_lse, max_score + std::log(sum), 2e-5);
  }
}

// One layer, one head, pages of one position, orthogonal prompt keys and
// zero decode keys: a query pointing at prompt key c selects exactly {c, t}
// under a 2-token budget, so every supplement can be worked out by hand.
TEST(RetroExposureTest, ConstructedCaseMatchesHandComputation) {
  constexpr int kDim = 8;
  const KvGeometry geometry{.num_layers = 1, .num_kv_heads = 1, .head_dim = kDim, .page_size = 1};
  KvPagePool pool(geometry);
  SequenceKvCache cache(pool);
  ThreadPool threads(1);
  RetroAttention retro(PolicyConfig::Parse("retro:b=2:w=3:dense=0"));
  const auto call_for = [&](const std::vector<int>& positions, const std::vector<RowRole>& roles,
                            const std::vector<float>& queries, const std::vector<float>& keys,
                            std::vector<float>& outputs) {
    outputs.assign(queries.size(), 0.0f);
    return LayerAttention{.layer = 0, .num_heads = 1, .num_kv_heads = 1, .head_dim = kDim,
                          .scale = 1.0f, .positions = positions, .roles = roles,
                          .queries = queries.data(), .keys = keys.data(), .values = keys.data(),
                          .outputs = outputs.data()};
  };
  const auto unit = [](int axis, float length) {
    std::vector<float> v(kDim, 0.0f);
    v[axis] = length;
    return v;
  };
  // Prompt: positions 0..5 with keys 10 * e_i.
  std::vector<int> prompt_positions(6);
  std::iota(prompt_positions.begin(), prompt_positions.end(), 0);
  std::vector<RowRole> prompt_roles(6, RowRole::kPrefill);
  std::vector<float> prompt_keys, prompt_queries(6 * kDim, 0.0f), outputs;
  for (int i = 0; i < 6; ++i) {
    const auto k = unit(i, 10.0f);
    prompt_keys.insert(prompt_keys.end(), k.begin(), k.end());
  }
  retro.Attend(call_for(prompt_positions, prompt_roles, prompt_queries, prompt_keys, outputs),
               cache, threads);

  // Decode steps t = 6..10 whose queries point at prompt positions 0, 1, 0, 2, 3.
  const int chosen[] = {0, 1, 0, 2, 3};
  for (int t = 6; t <= 10; ++t) {
    const DecodePlan plan = retro.PlanDecodeStep(t, 4);
    std::vector<int> positions;
    std::vector<RowRole> roles;
    std::vector<float> queries, keys;
    for (const ReplayRow& replay : plan.replays) {
      positions.push_back(replay.position);
      roles.push_back(RowRole::kRetro);
      const auto q = unit(7, 1.0f);  // window queries: any direction
      queries.insert(queries.end(), q.begin(), q.end());
      keys.insert(keys.end(), kDim, 0.0f);
    }
    positions.push_back(t);
    roles.push_back(RowRole::kDecode);
    const auto q = unit(chosen[t - 6], 10.0f);
    queries.insert(queries.end(), q.begin(), q.end());
    keys.insert(keys.end(), kDim, 0.0f);
    retro.Attend(call_for(positions, roles, queries, keys, outputs), cache, threads);
    retro.EndDecodeStep();
  }
  // By hand (window w = 3: positions t-2, t-1 are corrected at step t):
  //   t=6 selects {0,6}: 6 has seen 2 positions.
  //   t=7 selects {1,7}: 6 gains page 1 (3).                          7 has 2.
  //   t=8 selects {0,8}: 6 saw page 0 at step 6; 7 gains page 0 (3).  8 has 2.
  //   t=9 selects {2,9}: 6 leaves (3/2 = 1.5); 7 gains 2 (4); 8 gains 2 (3).
  //   t=10 selects {3,10}: 7 leaves (4/2 = 2.0); 8 gains 3 (4); 9 gains 3 (3).
  const AttentionStats& stats = retro.stats();
  EXPECT_EQ(stats.exposure_count, 2u);
  EXPECT_DOUBLE_EQ(stats.exposure_sum, 1.5 + 2.0);
  // Supplements: step 7: 1, step 8: 1, step 9: 2, step 10: 2 pages (one position each).
  EXPECT_EQ(stats.supplementary_pages, 6u);
  EXPECT_EQ(stats.supplementary_positions, 6u);
  EXPECT_EQ(stats.window_queries, 1u + 2 + 2 + 2);
}

}  // namespace
}  // namespace ri
