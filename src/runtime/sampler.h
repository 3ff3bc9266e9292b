// Next-token sampling from logits: repetition penalty, temperature, top-k,
// top-p, min-p; greedy when temperature is 0. Deterministic for a seed.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ri {

struct SamplerOptions {
  float temperature = 0.0f;  // 0: greedy (argmax, lowest id on ties)
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty = 1.0f;  // 1: off (CTRL-style: divide positive logits, multiply negative)
  int repetition_window = 64;       // how many recent tokens the penalty looks at
  uint64_t seed = 0;
};

class Sampler {
 public:
  // Throws ri::Error for out-of-range options (negative temperature, top_p
  // outside (0, 1], min_p outside [0, 1], repetition_penalty <= 0, ...).
  explicit Sampler(const SamplerOptions& options);

  // Picks the next token. `recent` is the token history for the penalty.
  TokenId Sample(std::span<const float> logits, std::span<const TokenId> recent);

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, TokenId>> candidates_;
};

}  // namespace ri
