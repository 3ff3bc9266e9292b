// An OpenAI-style completion request (POST /v1/completions and
// /v1/chat/completions) parsed from its JSON body and validated, and the
// error that rejects one (status code plus OpenAI's error object).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "attention/policy_config.h"
#include "runtime/sampler.h"
#include "tokenizer/chat_template.h"

namespace ri::server {

// A request refused with an HTTP status and {"error": {message, type, param, code}}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "",
           std::string code = "invalid_value", std::string type = "invalid_request_error")
      : std::runtime_error(message),
        status(status),
        param(std::move(param)),
        code(std::move(code)),
        type(std::move(type)) {}
  int status;
  std::string param;
  std::string code;
  std::string type;
};

enum class Endpoint { kCompletions, kChat };

// What the server accepts.
struct RequestLimits {
  int max_tokens = 4096;  // largest max_tokens
  int default_max_tokens = 256;
  int num_layers = 1;     // for validating attention policies
  PolicyConfig default_policy;
};

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  std::string prompt;                 // kCompletions
  std::vector<ChatMessage> messages;  // kChat
  int max_tokens = 0;
  SamplerOptions sampler;
  std::vector<std::string> stop;
  bool stream = false;
  PolicyConfig policy;
};

// Parses and validates a body; throws ApiError (status 400) naming the bad
// field. Without "seed" the sampler gets a random one. Unknown fields are ignored, as OpenAI clients send many optional ones.
// The extra field "attention": {"policy", "budget", "window", "dense_layers",
// "sinks"} overrides the parts of limits.default_policy it names.
CompletionRequest ParseCompletionRequest(std::string_view body, Endpoint endpoint,
                                         const RequestLimits& limits);

}  // namespace ri::server
