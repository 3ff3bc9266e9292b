#include "server/request.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <random>

#include "util/error.h"

namespace ri::server {

namespace {

using nlohmann::json;

ApiError WrongType(const std::string& param, std::string_view expected) {
  return ApiError(400, fmt::format("'{}' must be {}", param, expected), param, "invalid_type");
}

const json* Field(const json& object, const char* name) {
  const auto it = object.find(name);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

double Number(const json& value, const std::string& param) {
  if (!value.is_number()) throw WrongType(param, "a number");
  return value.get<double>();
}

int64_t Integer(const json& value, const std::string& param) {
  if (!value.is_number_integer()) throw WrongType(param, "an integer");
  return value.get<int64_t>();
}

// An integer in [low, high].
int BoundedInteger(const json& value, const std::string& param, int64_t low, int64_t high) {
  const int64_t number = Integer(value, param);
  if (number < low || number > high) {
    throw ApiError(400, fmt::format("'{}' must be between {} and {}, got {}", param, low, high,
                                    number),
                   param);
  }
  return static_cast<int>(number);
}

std::string String(const json& value, const std::string& param) {
  if (!value.is_string()) throw WrongType(param, "a string");
  return value.get<std::string>();
}

std::vector<std::string> StopStrings(const json& value) {
  if (value.is_string()) return {value.get<std::string>()};
  if (!value.is_array()) throw WrongType("stop", "a string or an array of strings");
  if (value.size() > 4) throw ApiError(400, "'stop' holds at most 4 strings", "stop");
  std::vector<std::string> stops;
  for (const json& item : value) stops.push_back(String(item, "stop"));
  return stops;
}

std::vector<ChatMessage> Messages(const json& value) {
  if (!value.is_array()) throw WrongType("messages", "an array");
  if (value.empty()) throw ApiError(400, "'messages' must not be empty", "messages");
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string param = fmt::format("messages[{}]", i);
    if (!value[i].is_object()) throw WrongType(param, "an object");
    const json* role = Field(value[i], "role");
    const json* content = Field(value[i], "content");
    if (!role) throw ApiError(400, fmt::format("'{}.role' is missing", param), param + ".role");
    ChatMessage message{String(*role, param + ".role"),
                        content ? String(*content, param + ".content") : ""};
    if (message.role != "system" && message.role != "user" && message.role != "assistant") {
      throw ApiError(400, fmt::format("'{}.role' must be system, user or assistant", param),
                     param + ".role");
    }
    messages.push_back(std::move(message));
  }
  return messages;
}

std::string Prompt(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  // A batch of prompts would need n choices; one prompt in an array is fine.
  if (value.is_array() && value.size() == 1 && value[0].is_string()) {
    return value[0].get<std::string>();
  }
  throw WrongType("prompt", "a string (one prompt per request)");
}

PolicyConfig Policy(const json& value, const RequestLimits& limits) {
  if (!value.is_object()) throw WrongType("attention", "an object");
  PolicyConfig policy = limits.default_policy;
  try {
    if (const json* kind = Field(value, "policy")) {
      policy.kind = ParsePolicyKind(String(*kind, "attention.policy"));
    }
    if (const json* budget = Field(value, "budget")) {
      if (!budget->is_number() && !budget->is_string()) {
        throw WrongType("attention.budget", "a number or a string");
      }
      policy.budget = Budget::Parse(budget->is_string() ? budget->get<std::string>()
                                                        : budget->dump());
    }
    if (const json* window = Field(value, "window")) {
      policy.window = BoundedInteger(*window, "attention.window", 1, 1 << 16);
    }
    if (const json* dense = Field(value, "dense_layers")) {
      policy.dense_layers = BoundedInteger(*dense, "attention.dense_layers", 0, 1 << 16);
    }
    if (const json* sinks = Field(value, "sinks")) {
      policy.sinks = BoundedInteger(*sinks, "attention.sinks", 0, 1 << 20);
    }
    policy.Validate(limits.num_layers);
  } catch (const Error& error) {
    throw ApiError(400, error.what(), "attention");
  }
  return policy;
}

}  // namespace

CompletionRequest ParseCompletionRequest(std::string_view body, Endpoint endpoint,
                                         const RequestLimits& limits) {
  json root;
  try {
    root = json::parse(body);
  } catch (const json::parse_error& error) {
    throw ApiError(400, fmt::format("the body is not valid JSON: {}", error.what()), "",
                   "invalid_json");
  }
  if (!root.is_object()) throw ApiError(400, "the body must be a JSON object", "", "invalid_json");

  CompletionRequest request;
  request.endpoint = endpoint;
  request.policy = limits.default_policy;
  request.max_tokens = limits.default_max_tokens;
  if (const json* model = Field(root, "model")) request.model = String(*model, "model");
  if (endpoint == Endpoint::kChat) {
    const json* messages = Field(root, "messages");
    if (!messages) throw ApiError(400, "'messages' is required", "messages", "missing_field");
    request.messages = Messages(*messages);
  } else {
    const json* prompt = Field(root, "prompt");
    if (!prompt) throw ApiError(400, "'prompt' is required", "prompt", "missing_field");
    request.prompt = Prompt(*prompt);
  }
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (const json* value = Field(root, name)) {
      request.max_tokens = BoundedInteger(*value, name, 1, limits.max_tokens);
    }
  }
  if (const json* n = Field(root, "n")) {
    if (Integer(*n, "n") != 1) throw ApiError(400, "only n = 1 is supported", "n");
  }
  if (const json* temperature = Field(root, "temperature")) {
    const double value = Number(*temperature, "temperature");
    if (value < 0 || value > 2) {
      throw ApiError(400, "'temperature' must be between 0 and 2", "temperature");
    }
    request.sampler.temperature = static_cast<float>(value);
  }
  if (const json* top_p = Field(root, "top_p")) {
    const double value = Number(*top_p, "top_p");
    if (value <= 0 || value > 1) throw ApiError(400, "'top_p' must be in (0, 1]", "top_p");
    request.sampler.top_p = static_cast<float>(value);
  }
  if (const json* seed = Field(root, "seed")) {
    request.sampler.seed = static_cast<uint64_t>(Integer(*seed, "seed"));
  } else {
    // As OpenAI's API: without a seed, sampled answers differ between requests.
    request.sampler.seed = (static_cast<uint64_t>(std::random_device{}()) << 32) |
                           std::random_device{}();
  }
  if (const json* stop = Field(root, "stop")) request.stop = StopStrings(*stop);
  if (const json* stream = Field(root, "stream")) {
    if (!stream->is_boolean()) throw WrongType("stream", "a boolean");
    request.stream = stream->get<bool>();
  }
  if (const json* attention = Field(root, "attention")) {
    request.policy = Policy(*attention, limits);
  }
  return request;
}

}  // namespace ri::server
