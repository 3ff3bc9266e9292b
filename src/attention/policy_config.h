// Which attention policy a sequence uses, with its parameters, as chosen on
// the command line (--attention, --budget, ...) or in a compact spec string
// ("quest:b=0.1", "retro:b=0.1:w=4", "streaming:b=2048") for the evaluation
// tools and the server.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "attention/bf16_prompt_tiles.h"

namespace ri {

class AttentionPolicy;

enum class PolicyKind { kFull, kQuest, kStreaming, kTova, kRetro };

// A KV budget: a fraction of the current context (0 < b <= 1) or a token count (> 1).
struct Budget {
  double fraction = 0;  // used when tokens == 0
  int tokens = 0;

  // Parses "0.15" (fraction) or "2048" (tokens); throws ri::Error otherwise.
  static Budget Parse(std::string_view text);
  // Tokens allowed when the context holds `context` positions (at least 1).
  int TokensFor(int context) const;
  std::string ToString() const;
};

struct PolicyConfig {
  PolicyKind kind = PolicyKind::kFull;
  Budget budget{.fraction = 1.0};
  int dense_layers = 2;  // Quest: the first layers attend densely
  int sinks = 4;         // StreamingLLM: attention-sink positions kept
  int window = 2;        // RetroAttention: w (w = 1 is Quest)
  PromptAttention prompt = PromptAttention::kExact;  // arithmetic of prompt tiles

  // Parses "full", "quest:b=0.1", "quest:b=0.1:dense=2", "streaming:b=0.1",
  // "tova:b=512", "retro:b=0.1:w=4", any of them with ":prompt=bf16" (or
  // "exact"); throws ri::Error naming the bad part.
  static PolicyConfig Parse(std::string_view spec);
  std::string ToString() const;
  // Throws ri::Error for invalid combinations.
  void Validate(int num_layers) const;

 private:
  std::string SpecWithoutPrompt() const;
};

std::string_view PolicyKindName(PolicyKind kind);
PolicyKind ParsePolicyKind(std::string_view name);
std::string_view PromptAttentionName(PromptAttention prompt);
PromptAttention ParsePromptAttention(std::string_view name);

// A fresh policy (with empty per-sequence state) for one sequence.
std::unique_ptr<AttentionPolicy> MakePolicy(const PolicyConfig& config);

}  // namespace ri
