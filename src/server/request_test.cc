#include "server/request.h"

#include <gtest/gtest.h>

#include <string>

namespace ri::server {
namespace {

RequestLimits Limits() {
  RequestLimits limits;
  limits.max_tokens = 100;
  limits.default_max_tokens = 16;
  limits.num_layers = 30;
  limits.default_policy = PolicyConfig::Parse("quest:b=0.2");
  return limits;
}

CompletionRequest Parse(const std::string& body, Endpoint endpoint = Endpoint::kCompletions) {
  return ParseCompletionRequest(body, endpoint, Limits());
}

// The status and param of the ApiError a body gets.
std::pair<int, std::string> Rejection(const std::string& body,
                                      Endpoint endpoint = Endpoint::kCompletions) {
  try {
    Parse(body, endpoint);
  } catch (const ApiError& error) {
    return {error.status, error.param};
  }
  return {0, "accepted"};
}

TEST(RequestTest, ParsesCompletionFields) {
  const CompletionRequest request = Parse(
      R"({"model": "m", "prompt": "hello", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9,
          "seed": 42, "stop": "\n", "stream": true, "n": 1, "logprobs": null, "user": "x"})");
  EXPECT_EQ(request.endpoint, Endpoint::kCompletions);
  EXPECT_EQ(request.model, "m");
  EXPECT_EQ(request.prompt, "hello");
  EXPECT_EQ(request.max_tokens, 7);
  EXPECT_FLOAT_EQ(request.sampler.temperature, 0.5f);
  EXPECT_FLOAT_EQ(request.sampler.top_p, 0.9f);
  EXPECT_EQ(request.sampler.seed, 42u);
  EXPECT_EQ(request.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(request.stream);
  EXPECT_EQ(request.policy.ToString(), "quest:b=0.2:dense=2");
}

TEST(RequestTest, AppliesDefaults) {
  const CompletionRequest request = Parse(R"({"prompt": ["only one"]})");
  EXPECT_EQ(request.prompt, "only one");
  EXPECT_EQ(request.max_tokens, 16);
  EXPECT_EQ(request.sampler.temperature, 0.0f);
  EXPECT_FALSE(request.stream);
  EXPECT_TRUE(request.stop.empty());
}

TEST(RequestTest, ParsesChatMessages) {
  const CompletionRequest request = Parse(
      R"({"messages": [{"role": "system", "content": "be brief"},
                       {"role": "user", "content": "hi"}], "stop": ["a", "b"]})",
      Endpoint::kChat);
  ASSERT_EQ(request.messages.size(), 2u);
  EXPECT_EQ(request.messages[0].role, "system");
  EXPECT_EQ(request.messages[1].content, "hi");
  EXPECT_EQ(request.stop, (std::vector<std::string>{"a", "b"}));
}

TEST(RequestTest, AttentionFieldOverridesTheDefaultPolicy) {
  const CompletionRequest retro = Parse(
      R"({"prompt": "x", "attention": {"policy": "retro", "budget": 0.1, "window": 4}})");
  EXPECT_EQ(retro.policy.kind, PolicyKind::kRetro);
  EXPECT_EQ(retro.policy.window, 4);
  EXPECT_EQ(retro.policy.ToString(), PolicyConfig::Parse("retro:b=0.1:w=4").ToString());
  const CompletionRequest tokens =
      Parse(R"({"prompt": "x", "attention": {"policy": "streaming", "budget": 512, "sinks": 2}})");
  EXPECT_EQ(tokens.policy.kind, PolicyKind::kStreaming);
  EXPECT_EQ(tokens.policy.budget.tokens, 512);
  EXPECT_EQ(tokens.policy.sinks, 2);
  // Only the named parts change: the default budget stays.
  const CompletionRequest dense = Parse(R"({"prompt": "x", "attention": {"dense_layers": 3}})");
  EXPECT_EQ(dense.policy.ToString(), "quest:b=0.2:dense=3");
}

TEST(RequestTest, RejectsBadBodiesWithTheirParam) {
  using Result = std::pair<int, std::string>;
  EXPECT_EQ(Rejection("{"), Result(400, ""));
  EXPECT_EQ(Rejection("[1]"), Result(400, ""));
  EXPECT_EQ(Rejection("{}"), Result(400, "prompt"));
  EXPECT_EQ(Rejection(R"({"prompt": 5})"), Result(400, "prompt"));
  EXPECT_EQ(Rejection(R"({"prompt": ["a", "b"]})"), Result(400, "prompt"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "n": 2})"), Result(400, "n"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "max_tokens": 0})"), Result(400, "max_tokens"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "max_tokens": 101})"), Result(400, "max_tokens"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "max_tokens": 1.5})"), Result(400, "max_tokens"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "temperature": "hot"})"), Result(400, "temperature"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "temperature": 2.5})"), Result(400, "temperature"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "top_p": 0})"), Result(400, "top_p"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "stop": 3})"), Result(400, "stop"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "stop": ["a","b","c","d","e"]})"), Result(400, "stop"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "stream": "yes"})"), Result(400, "stream"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "attention": "retro"})"), Result(400, "attention"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "attention": {"policy": "magic"}})"),
            Result(400, "attention"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "attention": {"policy": "retro", "budget": 0}})"),
            Result(400, "attention"));
  EXPECT_EQ(Rejection(R"({"prompt": "x", "attention": {"window": 0}})"),
            Result(400, "attention.window"));
  EXPECT_EQ(Rejection(R"({"messages": []})", Endpoint::kChat), Result(400, "messages"));
  EXPECT_EQ(Rejection(R"({"messages": [{"content": "hi"}]})", Endpoint::kChat),
            Result(400, "messages[0].role"));
  EXPECT_EQ(Rejection(R"({"messages": [{"role": "robot", "content": "hi"}]})", Endpoint::kChat),
            Result(400, "messages[0].role"));
  EXPECT_EQ(Rejection(R"({"messages": [{"role": "user", "content": 1}]})", Endpoint::kChat),
            Result(400, "messages[0].content"));
}

}  // namespace
}  // namespace ri::server
