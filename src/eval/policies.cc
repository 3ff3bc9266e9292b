#include "eval/policies.h"

#include <set>

#include "runtime/session.h"
#include "util/error.h"

namespace ri::eval {

PolicyList ParsePolicyList(const std::vector<std::string>& specs, int num_layers) {
  if (specs.empty()) Fail("no attention policies given (--policies)");
  PolicyList list;
  std::set<std::string> seen;
  for (const std::string& spec : specs) {
    PolicyConfig policy = PolicyConfig::Parse(spec);
    policy.Validate(num_layers);
    if (!seen.insert(policy.ToString()).second) {
      Fail("policy '{}' is listed twice (as '{}')", policy.ToString(), spec);
    }
    list.policies.push_back(policy);
  }
  const auto full = std::find_if(list.policies.begin(), list.policies.end(),
                                 [](const PolicyConfig& p) { return p.kind == PolicyKind::kFull; });
  if (full == list.policies.end()) {
    list.policies.insert(list.policies.begin(), PolicyConfig{});
    list.full_added = true;
  } else {
    std::rotate(list.policies.begin(), full, full + 1);
  }
  return list;
}

std::string SpecWithout(const PolicyConfig& policy, std::string_view parameter) {
  const std::string spec = policy.ToString();
  std::string kept;
  size_t begin = 0;
  while (begin <= spec.size()) {
    const size_t end = std::min(spec.find(':', begin), spec.size());
    const std::string_view part = std::string_view(spec).substr(begin, end - begin);
    const bool skipped = part.size() > parameter.size() && part.starts_with(parameter) &&
                         part[parameter.size()] == '=';
    if (!skipped) kept += (kept.empty() ? "" : ":") + std::string(part);
    begin = end + 1;
  }
  return kept;
}

void PolicyRunStats::Add(const Session& session, uint64_t decode_tokens, double decode_seconds) {
  attention_ += session.policy().stats();
  full_attention_kv_bytes_ += session.full_attention_kv_bytes();
  decode_tokens_ += decode_tokens;
  decode_seconds_ += decode_seconds;
}

std::optional<double> PolicyRunStats::effective_exposure() const {
  return attention_.effective_kv_exposure();
}

double PolicyRunStats::kv_read_fraction() const {
  return full_attention_kv_bytes_ > 0
             ? static_cast<double>(attention_.kv_bytes_read) / full_attention_kv_bytes_
             : 0.0;
}

double PolicyRunStats::decode_tokens_per_second() const {
  return decode_seconds_ > 0 ? decode_tokens_ / decode_seconds_ : 0.0;
}

nlohmann::json PolicyRunStats::ToJson() const {
  const AttentionStats& a = attention_;
  nlohmann::json json = {
      {"decode_steps", a.decode_steps},
      {"positions_attended", a.positions_attended},
      {"pages_read", a.pages_read},
      {"kv_bytes_read", a.kv_bytes_read},
      {"full_attention_kv_bytes", full_attention_kv_bytes_},
      {"kv_read_fraction", kv_read_fraction()},
      {"window_queries", a.window_queries},
      {"supplementary_pages", a.supplementary_pages},
      {"supplementary_positions", a.supplementary_positions},
      {"exposure_sum", a.exposure_sum},
      {"exposure_count", a.exposure_count},
      {"effective_kv_exposure", nullptr},
      {"decode_tokens", decode_tokens_},
      {"decode_seconds", decode_seconds_},
      {"decode_tokens_per_second", decode_tokens_per_second()},
  };
  if (const auto exposure = effective_exposure()) json["effective_kv_exposure"] = *exposure;
  return json;
}

}  // namespace ri::eval
