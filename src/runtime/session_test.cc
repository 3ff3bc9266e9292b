// Sessions over a tiny random model: context limits, forks, and the
// stop-string filter of the generation loop.
#include "runtime/session.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "model/model.h"
#include "model/tiny_model.h"
#include "runtime/generator.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace ri {
namespace {

class SessionTest : public ::testing::Test {
 protected:
  std::vector<float> DecodeAll(Session& session, const std::vector<TokenId>& tokens) {
    std::vector<float> all;
    for (TokenId token : tokens) {
      const auto logits = session.Decode(token);
      all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
  }

  std::unique_ptr<Model> model_ = MakeTinyRandomModel({.context_length = 64}, 3);
  ThreadPool threads_{2};
  KvPagePool pages_{{model_->config().num_layers, model_->config().num_kv_heads,
                     model_->config().head_dim, 4}};
  std::vector<TokenId> prompt_{5, 9, 2, 44, 17, 3, 8};
  std::vector<TokenId> continuation_{4, 60, 12, 1, 33, 7, 7, 90};
};

TEST_F(SessionTest, ForkContinuesExactlyLikeTheOriginal) {
  for (const char* spec : {"full", "quest:b=0.3:dense=1", "tova:b=6", "streaming:b=8",
                           "retro:b=0.3:w=3:dense=1"}) {
    Session original(*model_, pages_, PolicyConfig::Parse(spec), 64, threads_);
    original.Prefill(prompt_);
    auto fork = original.Fork(PolicyConfig::Parse(spec));
    EXPECT_EQ(fork->tokens(), original.tokens());
    EXPECT_EQ(DecodeAll(*fork, continuation_), DecodeAll(original, continuation_)) << spec;
  }
}

TEST_F(SessionTest, ForkedCacheIsIndependent) {
  Session original(*model_, pages_, PolicyConfig{}, 64, threads_);
  original.Prefill(prompt_);
  auto fork = original.Fork(PolicyConfig{});
  DecodeAll(*fork, {1, 2, 3});  // must not disturb the original
  Session fresh(*model_, pages_, PolicyConfig{}, 64, threads_);
  fresh.Prefill(prompt_);
  EXPECT_EQ(DecodeAll(original, continuation_), DecodeAll(fresh, continuation_));
}

TEST_F(SessionTest, ContextLimitsAreClearErrors) {
  EXPECT_THROW(Session(*model_, pages_, PolicyConfig{}, 65, threads_), Error);
  Session session(*model_, pages_, PolicyConfig{}, 10, threads_);
  EXPECT_THROW(session.Prefill(std::vector<TokenId>(11, 1)), Error);
  EXPECT_THROW(session.Prefill({}), Error);
  session.Prefill(std::vector<TokenId>(9, 1));
  session.Decode(2);
  EXPECT_EQ(session.remaining(), 0);
  EXPECT_THROW(session.Decode(3), Error);
  session.Reset();
  EXPECT_EQ(session.position(), 0);
  EXPECT_EQ(pages_.pages_in_use(), 0);
}

// A batched step gives every sequence exactly what it gets alone, whatever
// its policy, its length, or its neighbours.
TEST_F(SessionTest, DecodingTogetherEqualsDecodingAlone) {
  const std::vector<const char*> specs = {"full", "retro:b=0.3:w=3:dense=1", "tova:b=6",
                                          "quest:b=0.3:dense=0"};
  std::vector<std::unique_ptr<Session>> together, alone;
  for (size_t i = 0; i < specs.size(); ++i) {
    for (auto* list : {&together, &alone}) {
      list->push_back(std::make_unique<Session>(*model_, pages_, PolicyConfig::Parse(specs[i]),
                                                64, threads_));
      std::vector<TokenId> prompt(prompt_.begin(), prompt_.begin() + 3 + i);
      list->back()->Prefill(prompt);
    }
  }
  std::vector<Session*> batch;
  for (auto& session : together) batch.push_back(session.get());
  for (size_t step = 0; step < continuation_.size(); ++step) {
    std::vector<TokenId> tokens;
    for (size_t i = 0; i < specs.size(); ++i) {
      tokens.push_back(continuation_[(step + i) % continuation_.size()]);
    }
    DecodeTogether(batch, tokens);
    for (size_t i = 0; i < specs.size(); ++i) {
      const auto expected = alone[i]->Decode(tokens[i]);
      ASSERT_TRUE(std::equal(expected.begin(), expected.end(), together[i]->logits().begin()))
          << specs[i] << " step " << step;
    }
  }
}

TEST(StopStringFilterTest, HoldsBackPossibleStartsAndCutsAtTheStop) {
  StopStringFilter filter({"</end>", "STOP"});
  std::string emitted;
  for (const char* piece : {"Hello ", "wor", "ld </", "en", "d> more"}) {
    emitted += filter.Push(piece);
    if (filter.stopped()) break;
  }
  EXPECT_TRUE(filter.stopped());
  EXPECT_EQ(emitted, "Hello world ");
  StopStringFilter partial({"STOP"});
  EXPECT_EQ(partial.Push("abcST"), "abc");
  EXPECT_EQ(partial.Push("x"), "STx");
  EXPECT_EQ(partial.Push("ST"), "");
  EXPECT_EQ(partial.Flush(), "ST");
  EXPECT_FALSE(partial.stopped());
}

}  // namespace
}  // namespace ri
