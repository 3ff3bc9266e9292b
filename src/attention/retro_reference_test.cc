// RetroAttention against a deliberately simple reference of the whole method
// (../shared/docs/retroattention.md, section 3) on a tiny random model:
// every step recomputes each window query's output by merging all its stored
// partial results, keeps explicit sets of the pages each query was shown,
// and re-runs the window rows layer by layer from their kept residuals.
// Compared over 200 decode steps: logits, every key and value in the cache
// (so every overwrite), page bounds, and exposure counts.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "attention/retro_attention.h"
#include "kv/paged_kv_cache.h"
#include "model/reference_llama.h"
#include "model/tiny_model.h"
#include "util/fp16.h"
#include "util/thread_pool.h"

namespace ri {
namespace {

constexpr int kPageSize = 4;
constexpr int kPromptLength = 24;
constexpr int kDecodeSteps = 200;
constexpr float kTolerance = 2e-3f;

// The engine's policy, recording the current query's page selection at every layer.
class ObservedRetro : public RetroAttention {
 public:
  using RetroAttention::RetroAttention;
  void Attend(const LayerAttention& call, SequenceKvCache& cache, ThreadPool& pool) override {
    RetroAttention::Attend(call, cache, pool);
    const int rows = static_cast<int>(call.positions.size());
    if (call.roles[rows - 1] != RowRole::kDecode) return;
    int window = 0;
    while (call.roles[window] == RowRole::kRetro) ++window;
    auto& layer = selections[call.layer];
    layer.assign(call.num_kv_heads, {});
    for (int g = 0; g < call.num_kv_heads; ++g) layer[g] = selected_pages(rows - 1 - window, g);
  }
  std::map<int, std::vector<std::vector<int>>> selections;  // [layer][kv head] -> pages
};

class ReferenceRetro {
 public:
  ReferenceRetro(const Model& model, const PolicyConfig& config)
      : llama_(model), c_(model.config()), config_(config),
        keys_(c_.num_layers), values_(c_.num_layers) {}

  void Prefill(TokenId token, int position) {
    std::vector<float> x = llama_.Embed(token);
    for (int l = 0; l < c_.num_layers; ++l) {
      const auto p = llama_.Project(l, x, position);
      Store(l, position, p);
      std::vector<float> attention;
      for (int head = 0; head < c_.num_heads; ++head) {
        Append(attention, Attend(l, head, p.queries, Range(0, position)).output);
      }
      llama_.Finish(l, attention, x);
    }
  }

  // One decode step using the engine's selections (checked to be a valid
  // top-k by brute force first).
  std::vector<float> Decode(TokenId token, int t,
                            const std::map<int, std::vector<std::vector<int>>>& selections) {
    const int first_sparse = config_.dense_layers;
    while (!window_.empty() && window_.front() <= t - config_.window) {
      Retire(window_.front());
      window_.pop_front();
    }
    std::vector<int> rows(window_.begin(), window_.end());
    rows.push_back(t);
    std::map<int, std::vector<float>> x;
    x[t] = llama_.Embed(token);
    for (int l = 0; l < c_.num_layers; ++l) {
      const bool sparse = l >= first_sparse;
      if (l == first_sparse) {
        kept_[t] = x[t];
        for (int p : window_) x[p] = kept_[p];
      }
      const std::vector<int> active = sparse ? rows : std::vector<int>{t};
      std::map<int, ReferenceLlama::Projections> projections;
      for (int p : active) projections[p] = llama_.Project(l, x[p], p);
      Store(l, t, projections[t]);
      // Window rows get new K/V from their corrected states; at the first
      // sparse layer their state is what it was, so their K/V are too.
      if (l > first_sparse) {
        for (int p : window_) Store(l, p, projections[p]);
      }
      std::map<int, std::vector<float>> attention;
      const int group = c_.num_heads / c_.num_kv_heads;
      for (int head = 0; head < c_.num_heads; ++head) {
        const int g = head / group;
        if (!sparse) {
          Append(attention[t], Attend(l, head, projections[t].queries, Range(0, t)).output);
          continue;
        }
        const std::vector<int>& chosen = selections.at(l)[g];
        if (head % group == 0) CheckTopK(l, g, t, &projections[t].queries[g * group * c_.head_dim], chosen);
        auto& own = state_[{t, l, head}];
        const auto result = Attend(l, head, projections[t].queries, PositionsOf(chosen, t));
        own.partials = {{result.output, result.log_sum_exp}};
        own.shown.insert(chosen.begin(), chosen.end());
        Append(attention[t], result.output);
        for (int p : window_) {
          auto& query = state_[{p, l, head}];
          std::vector<int> unseen;
          for (int j : chosen) {
            if (j * kPageSize <= p && !query.shown.count(j)) unseen.push_back(j);
          }
          if (!unseen.empty()) {
            const auto partial = Attend(l, head, projections[p].queries, PositionsOf(unseen, p));
            query.partials.push_back({partial.output, partial.log_sum_exp});
            query.shown.insert(unseen.begin(), unseen.end());
          }
          Append(attention[p], MergeAll(query.partials));
        }
      }
      for (int p : active) llama_.Finish(l, attention[p], x[p]);
    }
    window_.push_back(t);
    return llama_.Logits(x[t]);
  }

  const std::vector<float>& key(int layer, int position) const { return keys_[layer][position]; }
  const std::vector<float>& value(int layer, int position) const { return values_[layer][position]; }
  double exposure_sum = 0;
  uint64_t exposure_count = 0;

 private:
  struct QueryState {
    std::vector<std::pair<std::vector<double>, double>> partials;  // (output, log-sum-exp)
    std::set<int> shown;  // pages
  };

  static std::vector<int> Range(int first, int last) {
    std::vector<int> r;
    for (int p = first; p <= last; ++p) r.push_back(p);
    return r;
  }
  static std::vector<int> PositionsOf(const std::vector<int>& pages, int last) {
    std::vector<int> positions;
    for (int j : pages) {
      for (int p = j * kPageSize; p < (j + 1) * kPageSize && p <= last; ++p) positions.push_back(p);
    }
    return positions;
  }
  static void Append(std::vector<float>& to, const std::vector<double>& from) {
    for (double v : from) to.push_back(static_cast<float>(v));
  }
  // Split-softmax merge of every partial, recomputed from scratch.
  std::vector<double> MergeAll(const std::vector<std::pair<std::vector<double>, double>>& parts) const {
    double max_lse = -INFINITY;
    for (const auto& part : parts) max_lse = std::max(max_lse, part.second);
    double total = 0;
    for (const auto& part : parts) total += std::exp(part.second - max_lse);
    std::vector<double> out(c_.head_dim, 0.0);
    for (const auto& part : parts) {
      const double weight = std::exp(part.second - max_lse) / total;
      for (int d = 0; d < c_.head_dim; ++d) out[d] += weight * part.first[d];
    }
    return out;
  }
  void Store(int layer, int position, const ReferenceLlama::Projections& p) {
    if (static_cast<int>(keys_[layer].size()) <= position) {
      keys_[layer].resize(position + 1);
      values_[layer].resize(position + 1);
    }
    keys_[layer][position] = p.keys;
    values_[layer][position] = p.values;
  }
  ReferenceAttentionResult Attend(int layer, int head, const std::vector<float>& queries,
                                  const std::vector<int>& positions) const {
    const int g = head / (c_.num_heads / c_.num_kv_heads);
    std::vector<const float*> k, v;
    for (int p : positions) {
      k.push_back(&keys_[layer][p][g * c_.head_dim]);
      v.push_back(&values_[layer][p][g * c_.head_dim]);
    }
    return ReferenceAttend(&queries[head * c_.head_dim], k, v, c_.head_dim);
  }
  // The engine's choice must be the newest page plus a top-scoring set of
  // the others (scores from page bounds recomputed here), up to near-ties.
  void CheckTopK(int layer, int g, int t, const float* group_queries,
                 const std::vector<int>& chosen) const {
    const int pages = t / kPageSize + 1;
    const int budget = std::min(
        pages, (config_.budget.TokensFor(t + 1) + kPageSize - 1) / kPageSize);
    ASSERT_EQ(static_cast<int>(chosen.size()), budget) << "layer " << layer << " step " << t;
    ASSERT_TRUE(std::count(chosen.begin(), chosen.end(), pages - 1)) << "newest page missing";
    const int group = c_.num_heads / c_.num_kv_heads;
    std::vector<double> score(pages - 1, 0.0);
    for (int j = 0; j + 1 < pages; ++j) {
      for (int q = 0; q < group; ++q) {
        for (int d = 0; d < c_.head_dim; ++d) {
          double lo = INFINITY, hi = -INFINITY;
          for (int p = j * kPageSize; p < (j + 1) * kPageSize; ++p) {
            lo = std::min<double>(lo, keys_[layer][p][g * c_.head_dim + d]);
            hi = std::max<double>(hi, keys_[layer][p][g * c_.head_dim + d]);
          }
          const double x = group_queries[q * c_.head_dim + d];
          score[j] += std::max(x * lo, x * hi);
        }
      }
    }
    for (int picked : chosen) {
      if (picked == pages - 1) continue;
      for (int other = 0; other + 1 < pages; ++other) {
        if (std::count(chosen.begin(), chosen.end(), other)) continue;
        ASSERT_GE(score[picked], score[other] - 1e-3 * (1 + std::fabs(score[other])))
            << "page " << picked << " chosen over better page " << other << " at step " << t;
      }
    }
  }
  void Retire(int p) {
    const int group = c_.num_heads / c_.num_kv_heads;
    for (int l = config_.dense_layers; l < c_.num_layers; ++l) {
      for (int g = 0; g < c_.num_kv_heads; ++g) {
        const auto& shown = state_[{p, l, g * group}].shown;
        const int positions = static_cast<int>(PositionsOf({shown.begin(), shown.end()}, p).size());
        exposure_sum += static_cast<double>(positions) / config_.budget.TokensFor(p + 1);
        ++exposure_count;
      }
    }
  }

  ReferenceLlama llama_;
  const ModelConfig& c_;
  PolicyConfig config_;
  std::vector<std::vector<std::vector<float>>> keys_, values_;  // [layer][position]
  std::deque<int> window_;
  std::map<int, std::vector<float>> kept_;  // residual entering the first sparse layer
  std::map<std::tuple<int, int, int>, QueryState> state_;  // (position, layer, head)
};

void ExpectNearF16(const uint16_t* stored, const std::vector<float>& reference, int offset,
                   int count, const std::string& what) {
  for (int d = 0; d < count; ++d) {
    const float expected = reference[offset + d];
    ASSERT_NEAR(Fp16ToFloat(stored[d]), expected, kTolerance * (1 + std::fabs(expected))) << what;
  }
}

void RunAgainstReference(const char* spec) {
  const auto model = MakeTinyRandomModel({}, 33);
  const ModelConfig& c = model->config();
  const PolicyConfig config = PolicyConfig::Parse(spec);
  ThreadPool threads(2);
  KvPagePool pages({c.num_layers, c.num_kv_heads, c.head_dim, kPageSize});
  SequenceKvCache cache(pages);
  ObservedRetro engine(config);
  ReferenceRetro reference(*model, config);
  const SequenceContext sequence{&cache, &engine};
  std::mt19937 rng(17);
  std::vector<TokenId> tokens(kPromptLength + kDecodeSteps);
  for (TokenId& token : tokens) token = static_cast<TokenId>(rng() % c.vocab_size);

  std::vector<ForwardRow> rows;
  for (int i = 0; i < kPromptLength; ++i) {
    rows.push_back({tokens[i], i, RowRole::kPrefill, 0, false});
    reference.Prefill(tokens[i], i);
  }
  std::vector<float> logits;
  model->Forward(rows, {&sequence, 1}, threads, logits);
  for (int t = kPromptLength; t < kPromptLength + kDecodeSteps; ++t) {
    const DecodePlan plan = engine.PlanDecodeStep(t, c.hidden_size);
    rows.clear();
    for (const ReplayRow& replay : plan.replays) {
      rows.push_back({.token = tokens[replay.position], .position = replay.position,
                      .role = RowRole::kRetro, .start_layer = replay.start_layer,
                      .start_residual = replay.residual});
    }
    rows.push_back({.token = tokens[t], .position = t, .role = RowRole::kDecode,
                    .wants_logits = true, .capture_layer = plan.keep_layer,
                    .captured_residual = plan.kept_residual});
    model->Forward(rows, {&sequence, 1}, threads, logits);
    engine.EndDecodeStep();
    const std::vector<float> expected = reference.Decode(tokens[t], t, engine.selections);
    if (::testing::Test::HasFatalFailure()) return;
    for (int v = 0; v < c.vocab_size; ++v) {
      ASSERT_NEAR(logits[v], expected[v], kTolerance) << spec << " step " << t << " token " << v;
    }
  }
  // Every key and value (the window overwrites included) and every page bound.
  std::vector<uint16_t> key(c.head_dim);
  for (int l = 0; l < c.num_layers; ++l) {
    for (int p = 0; p < cache.length(l); ++p) {
      const int page = cache.page(l, p / kPageSize);
      for (int g = 0; g < c.num_kv_heads; ++g) {
        const std::string where = fmt::format("layer {} position {} kv head {}", l, p, g);
        pages.LoadKey(page, g, p % kPageSize, key.data());
        ExpectNearF16(key.data(), reference.key(l, p),
                      g * c.head_dim, c.head_dim, "key at " + where);
        ExpectNearF16(pages.values(page, g) + (p % kPageSize) * c.head_dim, reference.value(l, p),
                      g * c.head_dim, c.head_dim, "value at " + where);
      }
    }
    for (int j = 0; j < cache.num_pages(l); ++j) {
      for (int g = 0; g < c.num_kv_heads; ++g) {
        for (int d = 0; d < c.head_dim; ++d) {
          float lo = INFINITY, hi = -INFINITY;
          for (int p = j * kPageSize; p < std::min((j + 1) * kPageSize, cache.length(l)); ++p) {
            lo = std::min(lo, reference.key(l, p)[g * c.head_dim + d]);
            hi = std::max(hi, reference.key(l, p)[g * c.head_dim + d]);
          }
          ASSERT_NEAR(pages.key_min(cache.page(l, j), g)[d], lo, kTolerance * (1 + std::fabs(lo)));
          ASSERT_NEAR(pages.key_max(cache.page(l, j), g)[d], hi, kTolerance * (1 + std::fabs(hi)));
        }
      }
    }
  }
  EXPECT_EQ(engine.stats().exposure_count, reference.exposure_count) << spec;
  EXPECT_NEAR(engine.stats().exposure_sum, reference.exposure_sum, 1e-9) << spec;
  EXPECT_GT(engine.stats().supplementary_pages, 0u) << spec;
}

TEST(RetroReferenceTest, WindowTwoWithDenseFirstLayer) { RunAgainstReference("retro:b=0.2:w=2:dense=1"); }
TEST(RetroReferenceTest, WindowFourAllSparse) { RunAgainstReference("retro:b=0.15:w=4:dense=0"); }
TEST(RetroReferenceTest, WindowEightTokenBudget) { RunAgainstReference("retro:b=24:w=8:dense=1"); }

}  // namespace
}  // namespace ri
