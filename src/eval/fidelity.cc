#include "eval/fidelity.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "eval/perplexity.h"
#include "runtime/session.h"
#include "util/error.h"
#include "util/seconds.h"

namespace ri::eval {

double KlDivergence(std::span<const float> reference_logits, std::span<const float> logits) {
  if (reference_logits.size() != logits.size() || logits.empty()) {
    Fail("KL divergence of distributions over {} and {} tokens", reference_logits.size(),
         logits.size());
  }
  const double p_norm = LogSumExp(reference_logits);
  const double q_norm = LogSumExp(logits);
  double kl = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double log_p = reference_logits[i] - p_norm;
    const double log_q = logits[i] - q_norm;
    kl += std::exp(log_p) * (log_p - log_q);
  }
  return std::max(0.0, kl);  // rounding can leave a tiny negative for equal distributions
}

TokenId Argmax(std::span<const float> logits) {
  return static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

FidelityRun RunFidelity(Session& reference, std::span<Session* const> candidates,
                        std::span<const TokenId> prompt, int steps,
                        const std::function<void()>& on_step) {
  if (steps < 1) Fail("the fidelity run needs at least one decode step, got {}", steps);
  if (static_cast<int>(prompt.size()) + steps > reference.remaining()) {
    Fail("a prompt of {} tokens and {} decode steps exceed the context of {}", prompt.size(), steps,
         reference.context_size());
  }
  FidelityRun run;
  run.candidates.resize(candidates.size());
  // Prefill is full attention for every policy, so the first token is common.
  TokenId next = Argmax(reference.Prefill(prompt));
  for (Session* candidate : candidates) candidate->Prefill(prompt);
  for (int step = 0; step < steps; ++step) {
    run.generated.push_back(next);
    auto start = std::chrono::steady_clock::now();
    // Valid until the reference's next call: the candidates have their own buffers.
    const std::span<const float> reference_logits = reference.Decode(next);
    run.reference_decode_seconds += SecondsSince(start);
    const TokenId reference_top = Argmax(reference_logits);
    for (size_t c = 0; c < candidates.size(); ++c) {
      FidelityTrace& trace = run.candidates[c];
      start = std::chrono::steady_clock::now();
      const std::span<const float> logits = candidates[c]->Decode(next);
      trace.decode_seconds += SecondsSince(start);
      trace.kl.push_back(KlDivergence(reference_logits, logits));
      trace.top1_agrees.push_back(Argmax(logits) == reference_top ? 1.0 : 0.0);
    }
    next = reference_top;
    if (on_step) on_step();
  }
  return run;
}

}  // namespace ri::eval
