#include "attention/policy_config.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "attention/full_attention.h"
#include "attention/quest_attention.h"
#include "attention/retro_attention.h"
#include "attention/streaming_attention.h"
#include "attention/tova_attention.h"
#include "util/error.h"

namespace ri {

namespace {

constexpr std::pair<PolicyKind, std::string_view> kKinds[] = {
    {PolicyKind::kFull, "full"},
    {PolicyKind::kQuest, "quest"},
    {PolicyKind::kStreaming, "streaming"},
    {PolicyKind::kTova, "tova"},
    {PolicyKind::kRetro, "retro"},
};

double ParseNumber(std::string_view text, std::string_view what) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    Fail("{} '{}' is not a number", what, text);
  }
  return value;
}

int ParseInteger(std::string_view text, std::string_view what) {
  const double value = ParseNumber(text, what);
  if (value != std::floor(value) || std::fabs(value) > 1e9) {
    Fail("{} '{}' is not a whole number", what, text);
  }
  return static_cast<int>(value);
}

}  // namespace

Budget Budget::Parse(std::string_view text) {
  const double value = ParseNumber(text, "budget");
  if (value <= 0) Fail("budget must be positive, got {}", text);
  if (value <= 1) return Budget{.fraction = value};
  if (value != std::floor(value) || value > 1e9) {
    Fail("budget {} above 1 must be a whole number of tokens", text);
  }
  return Budget{.tokens = static_cast<int>(value)};
}

int Budget::TokensFor(int context) const {
  if (tokens > 0) return tokens;
  return std::max(1, static_cast<int>(std::ceil(fraction * context)));
}

std::string Budget::ToString() const {
  return tokens > 0 ? fmt::format("{}", tokens) : fmt::format("{:g}", fraction);
}

std::string_view PolicyKindName(PolicyKind kind) {
  for (const auto& [k, name] : kKinds) {
    if (k == kind) return name;
  }
  return "?";
}

PolicyKind ParsePolicyKind(std::string_view name) {
  for (const auto& [kind, kind_name] : kKinds) {
    if (kind_name == name) return kind;
  }
  Fail("unknown attention policy '{}' (known: full, quest, streaming, tova, retro)", name);
}

std::string_view PromptAttentionName(PromptAttention prompt) {
  return prompt == PromptAttention::kBf16 ? "bf16" : "exact";
}

PromptAttention ParsePromptAttention(std::string_view name) {
  for (PromptAttention prompt : {PromptAttention::kExact, PromptAttention::kBf16}) {
    if (name == PromptAttentionName(prompt)) return prompt;
  }
  Fail("unknown prompt attention '{}' (known: exact, bf16)", name);
}

PolicyConfig PolicyConfig::Parse(std::string_view spec) {
  PolicyConfig config;
  size_t colon = spec.find(':');
  config.kind = ParsePolicyKind(spec.substr(0, colon));
  while (colon != std::string_view::npos) {
    const size_t next = spec.find(':', colon + 1);
    const std::string_view part = spec.substr(colon + 1, next - colon - 1);
    const size_t equals = part.find('=');
    if (equals == std::string_view::npos) {
      Fail("policy parameter '{}' in '{}' is not of the form name=value", part, spec);
    }
    const std::string_view key = part.substr(0, equals);
    const std::string_view value = part.substr(equals + 1);
    if (key == "b" || key == "budget") {
      config.budget = Budget::Parse(value);
    } else if (key == "dense") {
      config.dense_layers = ParseInteger(value, "dense layers");
    } else if (key == "sinks") {
      config.sinks = ParseInteger(value, "sinks");
    } else if (key == "w" || key == "window") {
      config.window = ParseInteger(value, "window");
    } else if (key == "prompt") {
      config.prompt = ParsePromptAttention(value);
    } else {
      Fail("unknown policy parameter '{}' in '{}' (known: b, dense, sinks, w, prompt)", key, spec);
    }
    colon = next;
  }
  return config;
}

std::string PolicyConfig::ToString() const {
  const std::string prompt_part = prompt == PromptAttention::kExact
                                      ? ""
                                      : fmt::format(":prompt={}", PromptAttentionName(prompt));
  return SpecWithoutPrompt() + prompt_part;
}

std::string PolicyConfig::SpecWithoutPrompt() const {
  switch (kind) {
    case PolicyKind::kFull:
      return "full";
    case PolicyKind::kQuest:
      return fmt::format("quest:b={}:dense={}", budget.ToString(), dense_layers);
    case PolicyKind::kStreaming:
      return fmt::format("streaming:b={}:sinks={}", budget.ToString(), sinks);
    case PolicyKind::kTova:
      return fmt::format("tova:b={}", budget.ToString());
    case PolicyKind::kRetro:
      return fmt::format("retro:b={}:w={}:dense={}", budget.ToString(), window, dense_layers);
  }
  return "?";
}

void PolicyConfig::Validate(int num_layers) const {
  if (dense_layers < 0 || dense_layers > num_layers) {
    Fail("dense layers must be between 0 and the model's {} layers, got {}", num_layers,
         dense_layers);
  }
  if (sinks < 0) Fail("sinks must not be negative, got {}", sinks);
  if (window < 1 || window > 64) Fail("the retrospective window must be 1..64, got {}", window);
  if (kind == PolicyKind::kRetro && dense_layers >= num_layers) {
    Fail("retro needs at least one sparse layer: dense layers {} >= {} layers", dense_layers,
         num_layers);
  }
  if (kind == PolicyKind::kStreaming && budget.tokens > 0 && budget.tokens <= sinks) {
    Fail("a streaming budget of {} tokens leaves no room beside {} sinks", budget.tokens, sinks);
  }
}

std::unique_ptr<AttentionPolicy> MakePolicy(const PolicyConfig& config) {
  switch (config.kind) {
    case PolicyKind::kFull:
      return std::make_unique<FullAttention>(config.prompt);
    case PolicyKind::kQuest:
      return std::make_unique<QuestAttention>(config);
    case PolicyKind::kStreaming:
      return std::make_unique<StreamingAttention>(config);
    case PolicyKind::kTova:
      return std::make_unique<TovaAttention>(config);
    case PolicyKind::kRetro:
      return std::make_unique<RetroAttention>(config);
  }
  Fail("unknown policy kind");
}

}  // namespace ri
