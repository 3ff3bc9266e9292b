#include "server/metrics.h"

#include <fmt/format.h>

namespace ri::server {

void Metrics::CountResponse(int status) {
  std::lock_guard lock(mutex_);
  ++responses_[status];
}

void Metrics::CountRequest(const std::string& policy) {
  std::lock_guard lock(mutex_);
  ++policy_requests_[policy];
}

void Metrics::CountTokens(int prompt_tokens, int generated_tokens) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += prompt_tokens;
  generated_tokens_ += generated_tokens;
}

void Metrics::SetSchedulerState(int queue_length, int active_sequences, int kv_pages_in_use) {
  std::lock_guard lock(mutex_);
  queue_length_ = queue_length;
  active_sequences_ = active_sequences;
  kv_pages_in_use_ = kv_pages_in_use;
}

void Metrics::RecordDecodeStep(int step_tokens, double step_seconds) {
  std::lock_guard lock(mutex_);
  ++decode_steps_;
  decode_tokens_per_second_ = step_seconds > 0 ? step_tokens / step_seconds : 0;
}

std::string Metrics::Render() const {
  std::lock_guard lock(mutex_);
  std::string text;
  const auto header = [&](std::string_view name, std::string_view type, std::string_view help) {
    text += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  header("retroinfer_http_responses_total", "counter", "HTTP responses by status code.");
  for (const auto& [status, count] : responses_) {
    text += fmt::format("retroinfer_http_responses_total{{code=\"{}\"}} {}\n", status, count);
  }
  header("retroinfer_requests_total", "counter", "Accepted generation requests by policy.");
  for (const auto& [policy, count] : policy_requests_) {
    text += fmt::format("retroinfer_requests_total{{policy=\"{}\"}} {}\n", policy, count);
  }
  // A metric without labels.
  const auto single = [&](std::string_view name, std::string_view type, std::string_view help,
                          const auto& value) {
    header(name, type, help);
    text += fmt::format("{} {}\n", name, value);
  };
  single("retroinfer_prompt_tokens_total", "counter", "Prompt tokens prefilled.", prompt_tokens_);
  single("retroinfer_generated_tokens_total", "counter", "Tokens generated.", generated_tokens_);
  single("retroinfer_decode_steps_total", "counter", "Batched decode steps.", decode_steps_);
  single("retroinfer_queue_length", "gauge", "Requests waiting for a sequence slot.",
         queue_length_);
  single("retroinfer_active_sequences", "gauge", "Sequences being generated.", active_sequences_);
  single("retroinfer_kv_pages_in_use", "gauge", "KV cache pages held by sequences.",
         kv_pages_in_use_);
  single("retroinfer_decode_tokens_per_second", "gauge",
         "Tokens per second of the last batched decode step.",
         fmt::format("{:.3f}", decode_tokens_per_second_));
  return text;
}

}  // namespace ri::server
