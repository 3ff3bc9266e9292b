// Perplexity: the aggregation against hand computations, and teacher-forced
// NLLs of a tiny random model against an independent double-precision
// forward pass (ReferenceLlama, one token at a time over all past positions).
#include "eval/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/policy_config.h"
#include "kv/paged_kv_cache.h"
#include "model/reference_llama.h"
#include "model/tiny_model.h"
#include "runtime/session.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace ri::eval {
namespace {

TEST(PerplexityTest, NegativeLogLikelihoodByHand) {
  // softmax(0, ln 3) = (1/4, 3/4).
  const std::vector<float> logits = {0.0f, std::log(3.0f)};
  EXPECT_NEAR(NegativeLogLikelihood(logits, 1), std::log(4.0 / 3.0), 1e-7);
  EXPECT_NEAR(NegativeLogLikelihood(logits, 0), std::log(4.0), 1e-7);
  // Large logits must not overflow.
  const std::vector<float> large = {1000.0f, 1000.0f, 1000.0f, 1000.0f};
  EXPECT_NEAR(NegativeLogLikelihood(large, 2), std::log(4.0), 1e-9);
  EXPECT_THROW(NegativeLogLikelihood(logits, 2), Error);
  EXPECT_THROW(NegativeLogLikelihood(logits, -1), Error);
}

TEST(PerplexityTest, BucketsPoolSamplesByPosition) {
  BucketedMean nlls(2);
  // Two samples of different lengths; buckets [0,2), [2,4), [4,5).
  nlls.AddSample(std::vector<double>{std::log(2.0), std::log(8.0), std::log(4.0), 0.0, 1.0});
  nlls.AddSample(std::vector<double>{std::log(4.0), std::log(2.0), std::log(16.0)});
  const auto& buckets = nlls.buckets();
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0].begin, 0);
  EXPECT_EQ(buckets[0].end, 2);
  EXPECT_EQ(buckets[0].count, 4);
  // exp(mean(ln 2, ln 8, ln 4, ln 2)) = (2 * 8 * 4 * 2)^(1/4) = 128^(1/4).
  EXPECT_NEAR(Perplexity(buckets[0]), std::pow(128.0, 0.25), 1e-12);
  EXPECT_EQ(buckets[1].begin, 2);
  EXPECT_EQ(buckets[1].end, 4);
  EXPECT_EQ(buckets[1].count, 3);
  // (4 * 1 * 16)^(1/3) = 4.
  EXPECT_NEAR(Perplexity(buckets[1]), 4.0, 1e-12);
  EXPECT_EQ(buckets[2].begin, 4);
  EXPECT_EQ(buckets[2].end, 5);
  EXPECT_EQ(buckets[2].count, 1);
  EXPECT_NEAR(Perplexity(buckets[2]), std::exp(1.0), 1e-12);
  // Everything: (2 * 8 * 4 * 1 * e * 4 * 2 * 16)^(1/8) = (8192 e)^(1/8).
  EXPECT_EQ(nlls.total().count, 8);
  EXPECT_EQ(nlls.total().end, 5);
  EXPECT_NEAR(Perplexity(nlls.total()), std::pow(8192.0 * std::exp(1.0), 1.0 / 8), 1e-12);
  EXPECT_THROW(BucketedMean(0), Error);
}

// NLLs of tokens[prompt + 1 ...] by a forward pass in double precision that
// attends to every earlier position.
std::vector<double> ReferenceNlls(const Model& model, const std::vector<TokenId>& tokens,
                                  int prompt) {
  const ModelConfig& c = model.config();
  ReferenceLlama llama(model);
  std::vector<std::vector<std::vector<float>>> keys(c.num_layers), values(c.num_layers);
  std::vector<double> nlls;
  for (size_t position = 0; position + 1 < tokens.size(); ++position) {
    std::vector<float> x = llama.Embed(tokens[position]);
    for (int l = 0; l < c.num_layers; ++l) {
      ReferenceLlama::Projections p = llama.Project(l, x, static_cast<int>(position));
      keys[l].push_back(p.keys);
      values[l].push_back(p.values);
      std::vector<float> attention(c.num_heads * c.head_dim);
      const int group = c.num_heads / c.num_kv_heads;
      for (int head = 0; head < c.num_heads; ++head) {
        const int kv = head / group;
        std::vector<const float*> k, v;
        for (size_t s = 0; s <= position; ++s) {
          k.push_back(&keys[l][s][kv * c.head_dim]);
          v.push_back(&values[l][s][kv * c.head_dim]);
        }
        const auto result = ReferenceAttend(&p.queries[head * c.head_dim], k, v, c.head_dim);
        for (int d = 0; d < c.head_dim; ++d) {
          attention[head * c.head_dim + d] = static_cast<float>(result.output[d]);
        }
      }
      llama.Finish(l, attention, x);
    }
    if (static_cast<int>(position) < prompt) continue;
    const std::vector<float> logits = llama.Logits(x);
    double max_logit = logits[0];
    for (const float z : logits) max_logit = std::max<double>(max_logit, z);
    double sum = 0;
    for (const float z : logits) sum += std::exp(z - max_logit);
    nlls.push_back(max_logit + std::log(sum) - logits[tokens[position + 1]]);
  }
  return nlls;
}

TEST(PerplexityTest, TeacherForcedNllsMatchAnIndependentForwardPass) {
  const auto model = MakeTinyRandomModel({}, 21);
  const ModelConfig& c = model->config();
  ThreadPool threads(2);
  KvPagePool pages({c.num_layers, c.num_kv_heads, c.head_dim, 4});
  std::mt19937 rng(8);
  std::vector<TokenId> tokens(60);
  for (TokenId& token : tokens) token = static_cast<TokenId>(rng() % c.vocab_size);
  constexpr int kPrompt = 20;

  Session session(*model, pages, PolicyConfig{}, 256, threads);
  int steps = 0;
  const TeacherForcedResult result = TeacherForcedNll(session, tokens, kPrompt, [&] { ++steps; });
  const std::vector<double> expected = ReferenceNlls(*model, tokens, kPrompt);
  ASSERT_EQ(result.nlls.size(), tokens.size() - kPrompt - 1);
  ASSERT_EQ(result.nlls.size(), expected.size());
  EXPECT_EQ(steps, static_cast<int>(expected.size()));
  EXPECT_EQ(session.policy().stats().decode_steps, expected.size());  // all through Decode
  BucketedMean engine_nlls(16), reference_nlls(16);
  engine_nlls.AddSample(result.nlls);
  reference_nlls.AddSample(expected);
  for (size_t i = 0; i < expected.size(); ++i) {
    // Float against double over 3 layers: logits agree to about 1e-3.
    EXPECT_NEAR(result.nlls[i], expected[i], 2e-3) << "prediction " << i;
  }
  EXPECT_NEAR(Perplexity(engine_nlls.total()) / Perplexity(reference_nlls.total()), 1.0, 1e-3);
  // A random model on random tokens is near-uniform: perplexity of order the vocabulary.
  EXPECT_GT(Perplexity(engine_nlls.total()), 10.0);
}

TEST(PerplexityTest, TeacherForcingRejectsBadInput) {
  const auto model = MakeTinyRandomModel({}, 21);
  const ModelConfig& c = model->config();
  ThreadPool threads(1);
  KvPagePool pages({c.num_layers, c.num_kv_heads, c.head_dim, 4});
  const std::vector<TokenId> tokens(40, 5);
  Session session(*model, pages, PolicyConfig{}, 32, threads);
  EXPECT_THROW(TeacherForcedNll(session, tokens, 10, nullptr), Error);  // 39 fed > 32
  EXPECT_THROW(TeacherForcedNll(session, std::span(tokens).first(11), 10, nullptr), Error);
  EXPECT_THROW(TeacherForcedNll(session, std::span(tokens).first(20), 0, nullptr), Error);
  session.Prefill(std::span(tokens).first(2));
  EXPECT_THROW(TeacherForcedNll(session, std::span(tokens).first(20), 10, nullptr), Error);
}

}  // namespace
}  // namespace ri::eval
