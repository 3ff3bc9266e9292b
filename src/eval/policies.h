// The attention policies an evaluation compares, the engine objects their
// sessions share, and what each policy's sessions accumulated.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attention/attention_policy.h"
#include "attention/policy_config.h"

namespace ri {
class Session;
}  // namespace ri

namespace ri::eval {

// The policies in the order given, with `full` first: it is the reference of
// every comparison, so it is added when missing (`full_added` says so).
struct PolicyList {
  std::vector<PolicyConfig> policies;
  bool full_added = false;
};

// Parses specs such as "quest:b=0.1" (see PolicyConfig::Parse) and validates
// them for a model of `num_layers` layers. Throws ri::Error for a bad spec, an
// empty list, or a policy listed twice.
PolicyList ParsePolicyList(const std::vector<std::string>& specs, int num_layers);

// The policy's spec without one parameter: without "b" it names a family of
// budgets ("retro:w=2:dense=2"), without "w" a family of windows; charts draw
// one series per family.
std::string SpecWithout(const PolicyConfig& policy, std::string_view parameter);

// Statistics of all sessions of one policy.
class PolicyRunStats {
 public:
  // Adds a finished session's attention statistics and its decode timing.
  void Add(const Session& session, uint64_t decode_tokens, double decode_seconds);

  const AttentionStats& attention() const { return attention_; }
  // Mean unique positions a retired window query attended over its budget
  // (RetroAttention only): exposure_sum / exposure_count.
  std::optional<double> effective_exposure() const;
  // K/V bytes read over what full attention would have read, in [0, 1].
  double kv_read_fraction() const;
  double decode_tokens_per_second() const;

  nlohmann::json ToJson() const;

 private:
  AttentionStats attention_;
  uint64_t full_attention_kv_bytes_ = 0;
  uint64_t decode_tokens_ = 0;
  double decode_seconds_ = 0;
};

}  // namespace ri::eval
