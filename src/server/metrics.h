// Server counters and gauges, rendered in the Prometheus text format for
// GET /metrics. Updated from handler threads and the scheduler thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace ri::server {

class Metrics {
 public:
  void CountResponse(int status);
  void CountRequest(const std::string& policy);  // an accepted generation, by policy kind
  void CountTokens(int prompt_tokens, int generated_tokens);
  // Scheduler state after a step: `step_tokens` decoded in `step_seconds`.
  void SetSchedulerState(int queue_length, int active_sequences, int kv_pages_in_use);
  void RecordDecodeStep(int step_tokens, double step_seconds);

  std::string Render() const;

 private:
  mutable std::mutex mutex_;
  std::map<int, uint64_t> responses_;  // by HTTP status
  std::map<std::string, uint64_t> policy_requests_;
  uint64_t prompt_tokens_ = 0;
  uint64_t generated_tokens_ = 0;
  int queue_length_ = 0;
  int active_sequences_ = 0;
  int kv_pages_in_use_ = 0;
  double decode_tokens_per_second_ = 0;  // of the last decode step
  uint64_t decode_steps_ = 0;
};

}  // namespace ri::server
