#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "util/error.h"

namespace ri {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Straightforward double-precision model of the documented pipeline:
// penalty -> top-k -> softmax(T) -> top-p -> min-p -> renormalize.
std::vector<double> ReferenceDistribution(const std::vector<float>& logits,
                                          const std::vector<TokenId>& recent,
                                          const SamplerOptions& o) {
  const int n = static_cast<int>(logits.size());
  std::vector<double> l(logits.begin(), logits.end());
  std::set<TokenId> penalized(recent.end() - std::min<size_t>(recent.size(), o.repetition_window),
                              recent.end());
  for (TokenId id : penalized) {
    l[id] = l[id] > 0 ? l[id] / o.repetition_penalty : l[id] * o.repetition_penalty;
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
  if (o.top_k > 0 && o.top_k < n) order.resize(o.top_k);

  std::vector<double> p(n, 0.0);
  double sum = 0;
  for (int id : order) sum += std::exp(l[id] / o.temperature);
  for (int id : order) p[id] = std::exp(l[id] / o.temperature) / sum;

  std::vector<int> kept;
  double cumulative = 0;
  for (int id : order) {
    kept.push_back(id);
    cumulative += p[id];
    if (cumulative >= o.top_p) break;
  }
  const double p_max = p[kept.front()];
  std::erase_if(kept, [&](int id) { return p[id] < o.min_p * p_max; });

  std::vector<double> result(n, 0.0);
  sum = 0;
  for (int id : kept) sum += p[id];
  for (int id : kept) result[id] = p[id] / sum;
  return result;
}

std::vector<int> Histogram(Sampler& sampler, const std::vector<float>& logits,
                           const std::vector<TokenId>& recent, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts.at(sampler.Sample(logits, recent));
  return counts;
}

// Pearson chi-square of observed counts against expected probabilities; a
// token with probability 0 must never be drawn.
double ChiSquare(const std::vector<int>& counts, const std::vector<double>& expected, int draws) {
  double chi2 = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0";
      continue;
    }
    const double e = expected[i] * draws;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi2;
}

TokenId Argmax(const std::vector<float>& logits) {
  return static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<float> RandomLogits(std::mt19937_64& rng, int n) {
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(n);
  for (float& l : logits) l = normal(rng);
  return logits;
}

TEST(SamplerTest, GreedyIsArgmaxWithLowestIdOnTies) {
  Sampler sampler({});
  EXPECT_EQ(sampler.Sample(std::vector<float>{1, 5, 2, 5, -3}, {}), 1);
  EXPECT_EQ(sampler.Sample(std::vector<float>{-kInf, -2, -1, -1}, {}), 2);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 50; ++i) {
    const auto logits = RandomLogits(rng, 1000);
    EXPECT_EQ(sampler.Sample(logits, {}), Argmax(logits));
  }
}

TEST(SamplerTest, SameSeedGivesSameSequence) {
  SamplerOptions options{.temperature = 1.0f, .top_p = 0.95f, .seed = 42};
  Sampler a(options), b(options);
  options.seed = 43;
  Sampler c(options);
  std::mt19937_64 rng(1);
  const auto logits = RandomLogits(rng, 500);
  std::vector<TokenId> seq_a, seq_b, seq_c;
  for (int i = 0; i < 200; ++i) {
    seq_a.push_back(a.Sample(logits, {}));
    seq_b.push_back(b.Sample(logits, {}));
    seq_c.push_back(c.Sample(logits, {}));
  }
  EXPECT_EQ(seq_a, seq_b);
  EXPECT_NE(seq_a, seq_c);
}

// The draw is defined as u = (mt19937_64() >> 11) * 2^-53 and a walk of the
// cumulative sum of the kept tokens in id order, so it is the same with every
// standard library. Equal logits make the walk land on floor(u * n).
TEST(SamplerTest, DrawMatchesDocumentedUniformConversion) {
  const std::vector<float> logits(8, 0.5f);
  Sampler sampler({.temperature = 0.7f, .seed = 12345});
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 1000; ++i) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    ASSERT_EQ(sampler.Sample(logits, {}), static_cast<TokenId>(u * 8)) << "draw " << i;
  }
}

// The walk is in id order even after top-k / top-p sorted the candidates by
// probability: token 0 (weight e^-1) comes before token 1 (weight 1).
TEST(SamplerTest, DrawWalksKeptTokensInIdOrder) {
  const std::vector<float> logits = {-1.0f, 0.0f, -kInf};
  const double w0 = std::exp(-1.0f);
  for (const SamplerOptions& options :
       {SamplerOptions{.temperature = 1.0f, .seed = 77},
        SamplerOptions{.temperature = 1.0f, .top_k = 2, .seed = 77},
        SamplerOptions{.temperature = 1.0f, .top_p = 0.99f, .seed = 77}}) {
    Sampler sampler(options);
    std::mt19937_64 rng(77);
    for (int i = 0; i < 500; ++i) {
      const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
      ASSERT_EQ(sampler.Sample(logits, {}), u * (w0 + 1.0) < w0 ? 0 : 1) << "draw " << i;
    }
  }
}

TEST(SamplerTest, TopKOneIsGreedyAtAnyTemperature) {
  std::mt19937_64 rng(3);
  for (float temperature : {0.1f, 1.0f, 5.0f, 100.0f}) {
    Sampler sampler({.temperature = temperature, .top_k = 1, .seed = 9});
    for (int i = 0; i < 20; ++i) {
      const auto logits = RandomLogits(rng, 300);
      EXPECT_EQ(sampler.Sample(logits, {}), Argmax(logits));
    }
    EXPECT_EQ(sampler.Sample(std::vector<float>{0, 4, 1, 4}, {}), 1);  // tie: lowest id
  }
}

TEST(SamplerTest, TinyTopPIsGreedy) {
  std::mt19937_64 rng(4);
  Sampler sampler({.temperature = 2.0f, .top_p = 1e-6f, .seed = 5});
  for (int i = 0; i < 50; ++i) {
    const auto logits = RandomLogits(rng, 300);
    EXPECT_EQ(sampler.Sample(logits, {}), Argmax(logits));
  }
}

TEST(SamplerTest, MinPDropsExactlyTheUnlikelyTokens) {
  // Probabilities at temperature 1: 0.4, 0.3, 0.2, 0.1 (ids 2, 0, 3, 1).
  const std::vector<float> logits = {std::log(0.3f), std::log(0.1f), std::log(0.4f),
                                     std::log(0.2f)};
  // min_p 0.6 keeps p >= 0.24: ids 2 and 0, renormalized to 4/7 and 3/7.
  Sampler sampler({.temperature = 1.0f, .min_p = 0.6f, .seed = 11});
  const int draws = 20000;
  const auto counts = Histogram(sampler, logits, {}, draws);
  EXPECT_EQ(counts[1], 0);
  EXPECT_EQ(counts[3], 0);
  EXPECT_LT(ChiSquare(counts, {3.0 / 7, 0, 4.0 / 7, 0}, draws), 15.0);

  // The bound is inclusive: min_p 1 keeps every token tied with the top one.
  Sampler all_tied({.temperature = 1.0f, .min_p = 1.0f, .seed = 12});
  EXPECT_LT(ChiSquare(Histogram(all_tied, {2, 2, 1, 2}, {}, draws), {1.0 / 3, 1.0 / 3, 0, 1.0 / 3},
                      draws),
            15.0);

  // Brute force on small random vocabularies: the drawn set equals the set
  // {p >= min_p * p_max}.
  std::mt19937_64 rng(6);
  for (float min_p : {0.05f, 0.3f, 0.9f}) {
    Sampler s({.temperature = 1.5f, .min_p = min_p, .seed = 2});
    for (int trial = 0; trial < 5; ++trial) {
      const auto small = RandomLogits(rng, 6);
      const auto expected = ReferenceDistribution(small, {}, {.temperature = 1.5f, .min_p = min_p});
      const auto c = Histogram(s, small, {}, 4000);
      for (size_t id = 0; id < small.size(); ++id) {
        EXPECT_EQ(expected[id] > 0, c[id] > 0) << "min_p " << min_p << " token " << id;
      }
    }
  }
}

TEST(SamplerTest, HandComputedTopPAndTopK) {
  // Probabilities 0.5, 0.25, 0.125, 0.125.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.25f), std::log(0.125f),
                                     std::log(0.125f)};
  const int draws = 30000;
  {
    // top_p 0.7: 0.5 < 0.7 <= 0.75, so ids {0, 1} with 2/3 and 1/3.
    Sampler sampler({.temperature = 1.0f, .top_p = 0.7f, .seed = 1});
    EXPECT_LT(ChiSquare(Histogram(sampler, logits, {}, draws), {2.0 / 3, 1.0 / 3, 0, 0}, draws),
              15.0);
  }
  {
    // Equal logits, top_p 0.5: the cumulative 0.25 + 0.25 reaches top_p
    // exactly, so the set stops at ids {0, 1} (ties by lower id).
    Sampler sampler({.temperature = 1.0f, .top_p = 0.5f, .seed = 1});
    EXPECT_LT(ChiSquare(Histogram(sampler, std::vector<float>(4, 1.0f), {}, draws),
                        {0.5, 0.5, 0, 0}, draws),
              15.0);
  }
  {
    // top_k 3 with a tie at the cut: the lower id (2) is kept.
    Sampler sampler({.temperature = 1.0f, .top_k = 3, .seed = 1});
    EXPECT_LT(ChiSquare(Histogram(sampler, logits, {}, draws),
                        {0.5 / 0.875, 0.25 / 0.875, 0.125 / 0.875, 0}, draws),
              15.0);
  }
  {
    // Temperature 2 takes square roots of the probabilities before renormalizing.
    const double s = std::sqrt(0.5) + std::sqrt(0.25) + 2 * std::sqrt(0.125);
    Sampler sampler({.temperature = 2.0f, .seed = 1});
    EXPECT_LT(ChiSquare(Histogram(sampler, logits, {}, draws),
                        {std::sqrt(0.5) / s, std::sqrt(0.25) / s, std::sqrt(0.125) / s,
                         std::sqrt(0.125) / s},
                        draws),
              15.0);
  }
}

// Empirical frequencies over many draws match the reference distribution for
// each option on a 5-token vocabulary. With 4 degrees of freedom, chi-square
// above 25 has probability < 1e-4 for a correct sampler (seeds are fixed, so
// the test is deterministic anyway).
TEST(SamplerTest, FrequenciesMatchReferenceDistribution) {
  const std::vector<float> logits = {1.0f, -0.5f, 2.2f, 0.3f, -kInf};
  const std::vector<TokenId> recent = {2, 3, 2, 0};
  const std::vector<SamplerOptions> cases = {
      {.temperature = 1.0f},
      {.temperature = 0.5f},
      {.temperature = 3.0f},
      {.temperature = 1.0f, .top_k = 2},
      {.temperature = 1.0f, .top_k = 3},
      {.temperature = 1.0f, .top_p = 0.8f},
      {.temperature = 2.0f, .top_p = 0.5f},
      {.temperature = 1.0f, .min_p = 0.2f},
      {.temperature = 1.5f, .min_p = 0.05f},
      {.temperature = 1.0f, .repetition_penalty = 1.8f},
      {.temperature = 1.0f, .repetition_penalty = 0.7f},
      {.temperature = 1.0f, .repetition_penalty = 1.8f, .repetition_window = 2},
      {.temperature = 1.2f, .top_k = 3, .top_p = 0.9f, .min_p = 0.1f, .repetition_penalty = 1.3f},
  };
  const int draws = 40000;
  for (size_t i = 0; i < cases.size(); ++i) {
    SamplerOptions options = cases[i];
    options.seed = 1000 + i;
    Sampler sampler(options);
    const auto expected = ReferenceDistribution(logits, recent, options);
    const auto counts = Histogram(sampler, logits, recent, draws);
    EXPECT_LT(ChiSquare(counts, expected, draws), 25.0) << "case " << i;
  }
}

TEST(SamplerTest, RepetitionPenaltyMath) {
  // Positive logit divided: 3 / 2 = 1.5 < 2, so token 1 wins.
  EXPECT_EQ(Sampler({.repetition_penalty = 2.0f})
                .Sample(std::vector<float>{3, 2}, std::vector<TokenId>{0}),
            1);
  // Negative logit multiplied: -1 * 2 = -2 < -1.5, token 1 wins; with 1.4, -1.4 > -1.5.
  EXPECT_EQ(Sampler({.repetition_penalty = 2.0f})
                .Sample(std::vector<float>{-1, -1.5f}, std::vector<TokenId>{0}),
            1);
  EXPECT_EQ(Sampler({.repetition_penalty = 1.4f})
                .Sample(std::vector<float>{-1, -1.5f}, std::vector<TokenId>{0}),
            0);
  // A repeated token is penalized once: 3 / 2 = 1.5 > 1 (twice would be 0.75).
  EXPECT_EQ(Sampler({.repetition_penalty = 2.0f})
                .Sample(std::vector<float>{3, 1}, std::vector<TokenId>{0, 0, 0}),
            0);
  // Penalty below 1 boosts: 1 / 0.5 = 2 > 1.5.
  EXPECT_EQ(Sampler({.repetition_penalty = 0.5f})
                .Sample(std::vector<float>{1, 1.5f}, std::vector<TokenId>{0}),
            0);
  // Only the last repetition_window tokens count: token 0 is outside the window.
  EXPECT_EQ(Sampler({.repetition_penalty = 2.0f, .repetition_window = 1})
                .Sample(std::vector<float>{3, 2, 0}, std::vector<TokenId>{0, 2}),
            0);
  EXPECT_EQ(Sampler({.repetition_penalty = 2.0f, .repetition_window = 2})
                .Sample(std::vector<float>{3, 2, 0}, std::vector<TokenId>{0, 2}),
            1);
  // A zero window disables the penalty.
  EXPECT_EQ(Sampler({.repetition_penalty = 2.0f, .repetition_window = 0})
                .Sample(std::vector<float>{3, 2}, std::vector<TokenId>{0}),
            0);
}

void ExpectInvalid(const SamplerOptions& options, const std::string& option_name) {
  try {
    Sampler sampler(options);
    ADD_FAILURE() << "no error for a bad " << option_name;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(option_name), std::string::npos) << e.what();
  }
}

TEST(SamplerTest, InvalidOptionsThrow) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ExpectInvalid({.temperature = -0.1f}, "temperature");
  ExpectInvalid({.temperature = nan}, "temperature");
  ExpectInvalid({.temperature = kInf}, "temperature");
  ExpectInvalid({.top_k = -1}, "top_k");
  ExpectInvalid({.top_p = 0.0f}, "top_p");
  ExpectInvalid({.top_p = 1.01f}, "top_p");
  ExpectInvalid({.top_p = nan}, "top_p");
  ExpectInvalid({.min_p = -0.01f}, "min_p");
  ExpectInvalid({.min_p = 1.5f}, "min_p");
  ExpectInvalid({.min_p = nan}, "min_p");
  ExpectInvalid({.repetition_penalty = 0.0f}, "repetition_penalty");
  ExpectInvalid({.repetition_penalty = -1.0f}, "repetition_penalty");
  ExpectInvalid({.repetition_penalty = kInf}, "repetition_penalty");
  ExpectInvalid({.repetition_window = -1}, "repetition_window");
  EXPECT_NO_THROW(Sampler({.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .min_p = 1.0f}));
}

TEST(SamplerTest, InvalidInputsThrow) {
  Sampler greedy({});
  Sampler sampled({.temperature = 1.0f});
  const std::vector<float> empty;
  EXPECT_THROW(greedy.Sample(empty, {}), Error);
  EXPECT_THROW(sampled.Sample(std::vector<float>{1, NAN}, {}), Error);
  EXPECT_THROW(sampled.Sample(std::vector<float>{1, kInf}, {}), Error);
  EXPECT_THROW(sampled.Sample(std::vector<float>{-kInf, -kInf}, {}), Error);
  Sampler penalized({.repetition_penalty = 1.2f});
  EXPECT_THROW(penalized.Sample(std::vector<float>{1, 2}, std::vector<TokenId>{2}), Error);
  EXPECT_THROW(penalized.Sample(std::vector<float>{1, 2}, std::vector<TokenId>{-1}), Error);
}

TEST(SamplerTest, NegativeInfinityTokensAreNeverDrawn) {
  const std::vector<float> logits = {-kInf, 0.0f, -kInf, 0.0f, -kInf};
  Sampler sampler({.temperature = 50.0f, .seed = 8});
  const auto counts = Histogram(sampler, logits, {}, 2000);
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[3], 0);
}

}  // namespace
}  // namespace ri
