// OpenAI-format response bodies: whole completions, streamed chunks as
// server-sent events, usage (with retroinfer's attention statistics) and errors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/request.h"

namespace ri::server {

// How a generation ended, and what it cost.
struct GenerationSummary {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  std::string finish_reason = "length";  // "stop" or "length"
  std::string policy;                     // PolicyConfig::ToString()
  double decode_seconds = 0;
  std::optional<double> effective_kv_exposure;  // RetroAttention only
};

// What every chunk of one response repeats.
struct ResponseHeader {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string id;
  int64_t created = 0;  // Unix seconds
  std::string model;
};

// {"prompt_tokens", "completion_tokens", "total_tokens", "retroinfer": {policy,
// decode_tokens_per_second, effective_kv_exposure}}.
nlohmann::json UsageJson(const GenerationSummary& summary);

// The non-streamed response ("text_completion" or "chat.completion").
nlohmann::json CompletionJson(const ResponseHeader& header, const std::string& text,
                              const GenerationSummary& summary);

// One streamed chunk carrying `text`; the last one has `summary` (its finish
// reason and usage) and no text. Chat chunks carry {"delta": {"content"}},
// and the first one also the role.
nlohmann::json ChunkJson(const ResponseHeader& header, std::string_view text, bool first,
                         const GenerationSummary* summary);

// {"error": {"message", "type", "param", "code"}} (param null when empty).
nlohmann::json ErrorJson(const ApiError& error);

// A server-sent event line: "data: <json>\n\n".
std::string SseEvent(const nlohmann::json& data);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace ri::server
