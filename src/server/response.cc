#include "server/response.h"

namespace ri::server {

using nlohmann::json;

json UsageJson(const GenerationSummary& summary) {
  json extra = {{"policy", summary.policy},
                {"decode_tokens_per_second",
                 summary.decode_seconds > 0 ? summary.completion_tokens / summary.decode_seconds
                                            : 0.0},
                {"effective_kv_exposure", nullptr}};
  if (summary.effective_kv_exposure) extra["effective_kv_exposure"] = *summary.effective_kv_exposure;
  return {{"prompt_tokens", summary.prompt_tokens},
          {"completion_tokens", summary.completion_tokens},
          {"total_tokens", summary.prompt_tokens + summary.completion_tokens},
          {"retroinfer", std::move(extra)}};
}

namespace {
json Envelope(const ResponseHeader& header, std::string_view object) {
  return {{"id", header.id}, {"object", object}, {"created", header.created},
          {"model", header.model}};
}
}  // namespace

json CompletionJson(const ResponseHeader& header, const std::string& text,
                    const GenerationSummary& summary) {
  const bool chat = header.endpoint == Endpoint::kChat;
  json body = Envelope(header, chat ? "chat.completion" : "text_completion");
  json choice = {{"index", 0}, {"finish_reason", summary.finish_reason}};
  if (chat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  body["choices"] = json::array({std::move(choice)});
  body["usage"] = UsageJson(summary);
  return body;
}

json ChunkJson(const ResponseHeader& header, std::string_view text, bool first,
               const GenerationSummary* summary) {
  const bool chat = header.endpoint == Endpoint::kChat;
  json body = Envelope(header, chat ? "chat.completion.chunk" : "text_completion");
  json choice = {{"index", 0}, {"finish_reason", nullptr}};
  if (summary) choice["finish_reason"] = summary->finish_reason;
  if (chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || !summary) delta["content"] = text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  body["choices"] = json::array({std::move(choice)});
  if (summary) body["usage"] = UsageJson(*summary);
  return body;
}

json ErrorJson(const ApiError& error) {
  return {{"error",
           {{"message", error.what()},
            {"type", error.type},
            {"param", error.param.empty() ? json(nullptr) : json(error.param)},
            {"code", error.code.empty() ? json(nullptr) : json(error.code)}}}};
}

std::string SseEvent(const json& data) {
  // Invalid UTF-8 from the model is replaced, never a reason to throw.
  return "data: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace ri::server
