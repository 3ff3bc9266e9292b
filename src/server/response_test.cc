#include "server/response.h"

#include <gtest/gtest.h>

namespace ri::server {
namespace {

using nlohmann::json;

// The JSON of one "data: ...\n\n" event.
json EventData(const std::string& event) {
  EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
  EXPECT_EQ(event.substr(event.size() - 2), "\n\n");
  EXPECT_EQ(event.find('\n'), event.size() - 2) << "one line per event";
  return json::parse(event.substr(6));
}

GenerationSummary Summary() {
  GenerationSummary summary;
  summary.prompt_tokens = 5;
  summary.completion_tokens = 10;
  summary.finish_reason = "stop";
  summary.policy = "retro:b=0.1:w=2:dense=2";
  summary.decode_seconds = 0.5;
  summary.effective_kv_exposure = 1.25;
  return summary;
}

TEST(ResponseTest, ChatChunksCarryDeltasAndTheLastOneUsage) {
  const ResponseHeader header{Endpoint::kChat, "chatcmpl-1", 1700000000, "smol"};
  const json first = EventData(SseEvent(ChunkJson(header, "Hel\nlo \"x\"", true, nullptr)));
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["id"], "chatcmpl-1");
  EXPECT_EQ(first["created"], 1700000000);
  EXPECT_EQ(first["model"], "smol");
  EXPECT_EQ(first["choices"][0]["delta"], json({{"role", "assistant"}, {"content", "Hel\nlo \"x\""}}));
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(first.contains("usage"));

  const json next = EventData(SseEvent(ChunkJson(header, "!", false, nullptr)));
  EXPECT_EQ(next["choices"][0]["delta"], json({{"content", "!"}}));

  const GenerationSummary summary = Summary();
  const json last = EventData(SseEvent(ChunkJson(header, "", false, &summary)));
  EXPECT_EQ(last["choices"][0]["delta"], json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(last["usage"]["total_tokens"], 15);
  EXPECT_EQ(last["usage"]["retroinfer"]["policy"], "retro:b=0.1:w=2:dense=2");
  EXPECT_DOUBLE_EQ(last["usage"]["retroinfer"]["decode_tokens_per_second"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(last["usage"]["retroinfer"]["effective_kv_exposure"].get<double>(), 1.25);
  EXPECT_EQ(kSseDone, "data: [DONE]\n\n");
}

TEST(ResponseTest, CompletionChunksCarryText) {
  const ResponseHeader header{Endpoint::kCompletions, "cmpl-1", 1, "smol"};
  const json chunk = EventData(SseEvent(ChunkJson(header, "abc", true, nullptr)));
  EXPECT_EQ(chunk["object"], "text_completion");
  EXPECT_EQ(chunk["choices"][0]["text"], "abc");
  EXPECT_EQ(chunk["choices"][0]["index"], 0);
}

TEST(ResponseTest, InvalidUtf8IsReplacedNotThrown) {
  const ResponseHeader header{Endpoint::kCompletions, "cmpl-1", 1, "smol"};
  const json chunk = EventData(SseEvent(ChunkJson(header, "a\xff", true, nullptr)));
  EXPECT_EQ(chunk["choices"][0]["text"], "a\xEF\xBF\xBD");
}

TEST(ResponseTest, WholeResponses) {
  GenerationSummary summary = Summary();
  summary.effective_kv_exposure.reset();
  const json chat = CompletionJson({Endpoint::kChat, "c", 1, "smol"}, "Paris", summary);
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"], json({{"role", "assistant"}, {"content", "Paris"}}));
  EXPECT_EQ(chat["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(chat["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(chat["usage"]["completion_tokens"], 10);
  EXPECT_TRUE(chat["usage"]["retroinfer"]["effective_kv_exposure"].is_null());
  const json text = CompletionJson({Endpoint::kCompletions, "c", 1, "smol"}, "Paris", summary);
  EXPECT_EQ(text["object"], "text_completion");
  EXPECT_EQ(text["choices"][0]["text"], "Paris");
}

TEST(ResponseTest, ErrorObject) {
  const json error = ErrorJson(ApiError(400, "bad n", "n"));
  EXPECT_EQ(error, json::parse(R"({"error": {"message": "bad n", "type": "invalid_request_error",
                                             "param": "n", "code": "invalid_value"}})"));
  EXPECT_TRUE(ErrorJson(ApiError(429, "busy", "", "", "rate_limit_error"))["error"]["param"].is_null());
}

}  // namespace
}  // namespace ri::server
