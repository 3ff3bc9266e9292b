// Fidelity: KL divergence by hand, and lockstep runs of a tiny random model
// checked against plain greedy generation and against identities (a policy
// that sees everything is identical to full).
#include "eval/fidelity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/policy_config.h"
#include "kv/paged_kv_cache.h"
#include "model/tiny_model.h"
#include "runtime/session.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace ri::eval {
namespace {

TEST(FidelityTest, KlDivergenceByHand) {
  // P = softmax(0, ln 3) = (1/4, 3/4), Q = softmax(0, 0) = (1/2, 1/2).
  const std::vector<float> p = {0.0f, std::log(3.0f)};
  const std::vector<float> q = {5.0f, 5.0f};  // shifted logits: the same distribution
  const double expected = 0.25 * std::log(0.25 / 0.5) + 0.75 * std::log(0.75 / 0.5);
  EXPECT_NEAR(KlDivergence(p, q), expected, 1e-7);
  EXPECT_NEAR(KlDivergence(p, p), 0.0, 1e-12);
  EXPECT_THROW(KlDivergence(p, std::vector<float>{1, 2, 3}), Error);
  EXPECT_EQ(Argmax(std::vector<float>{1, 3, 3, 2}), 1);  // lowest id on ties
}

class FidelityRunTest : public ::testing::Test {
 protected:
  FidelityRunTest()
      : model_(MakeTinyRandomModel({}, 31)),
        threads_(1),
        pages_({model_->config().num_layers, model_->config().num_kv_heads,
                model_->config().head_dim, 4}) {
    std::mt19937 rng(4);
    for (int i = 0; i < 40; ++i) prompt_.push_back(static_cast<TokenId>(rng() % 97));
  }

  std::unique_ptr<Session> NewSession(const char* spec) {
    return std::make_unique<Session>(*model_, pages_, PolicyConfig::Parse(spec), 256, threads_);
  }

  std::unique_ptr<Model> model_;
  ThreadPool threads_;
  KvPagePool pages_;
  std::vector<TokenId> prompt_;
};

TEST_F(FidelityRunTest, ComparesPoliciesAlongFullsGreedyText) {
  constexpr int kSteps = 50;
  auto reference = NewSession("full");
  auto same_as_full = NewSession("quest:b=1:dense=0");  // every page: exactly full attention
  auto sparse = NewSession("quest:b=8:dense=0");
  std::vector<Session*> candidates = {same_as_full.get(), sparse.get()};
  int steps = 0;
  const FidelityRun run = RunFidelity(*reference, candidates, prompt_, kSteps, [&] { ++steps; });
  EXPECT_EQ(steps, kSteps);
  ASSERT_EQ(run.candidates.size(), 2u);

  // The text is what greedy generation with full attention produces.
  auto generator = NewSession("full");
  std::vector<TokenId> greedy;
  std::span<const float> logits = generator->Prefill(prompt_);
  for (int i = 0; i < kSteps; ++i) {
    greedy.push_back(Argmax(logits));
    logits = generator->Decode(greedy.back());
  }
  EXPECT_EQ(run.generated, greedy);
  // Every session was fed the prompt and the same tokens through Decode.
  for (Session* session : {reference.get(), same_as_full.get(), sparse.get()}) {
    EXPECT_EQ(session->position(), static_cast<int>(prompt_.size()) + kSteps);
    EXPECT_EQ(session->policy().stats().decode_steps, static_cast<uint64_t>(kSteps));
  }

  const FidelityTrace& identical = run.candidates[0];
  ASSERT_EQ(identical.kl.size(), static_cast<size_t>(kSteps));
  for (int i = 0; i < kSteps; ++i) {
    EXPECT_EQ(identical.kl[i], 0.0) << i;
    EXPECT_EQ(identical.top1_agrees[i], 1.0) << i;
  }
  // An 8-token budget over a context of 40-90 tokens changes the distributions.
  const FidelityTrace& trace = run.candidates[1];
  double kl_sum = 0;
  for (const double kl : trace.kl) {
    EXPECT_GE(kl, 0.0);
    kl_sum += kl;
  }
  EXPECT_GT(kl_sum / kSteps, 1e-4);
}

TEST_F(FidelityRunTest, RejectsRunsThatDoNotFit) {
  auto reference = NewSession("full");
  EXPECT_THROW(RunFidelity(*reference, {}, prompt_, 0, nullptr), Error);
  EXPECT_THROW(RunFidelity(*reference, {}, prompt_, 256, nullptr), Error);
}

}  // namespace
}  // namespace ri::eval
