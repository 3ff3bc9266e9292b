// Fidelity of a policy to full attention along one generation: the reference
// (full) session generates greedily, and every candidate session is
// teacher-forced through the same tokens by its decode path; at each step the
// candidate's next-token distribution is compared with the reference's.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ri {
class Session;
}

namespace ri::eval {

// KL(P || Q) in nats of P = softmax(reference_logits) and Q = softmax(logits),
// in double precision. Throws ri::Error when the sizes differ.
double KlDivergence(std::span<const float> reference_logits, std::span<const float> logits);

// The index of the largest logit (the lowest on ties, as greedy sampling picks).
TokenId Argmax(std::span<const float> logits);

struct FidelityTrace {
  std::vector<double> kl;           // per decode step
  std::vector<double> top1_agrees;  // per decode step: 1 when the argmaxes agree, else 0
  double decode_seconds = 0;
};

struct FidelityRun {
  std::vector<TokenId> generated;  // the greedy tokens fed, the first chosen after the prefill
  double reference_decode_seconds = 0;
  std::vector<FidelityTrace> candidates;  // in the order given
};

// Prefills `prompt` into the reference and every candidate (all empty), then
// runs `steps` decode steps in lockstep: the reference's greedy token is fed to
// every session and the candidates' logits are compared with the
// reference's. Running in lockstep keeps one reference distribution in memory
// instead of all of them. Calls `on_step` after each step.
FidelityRun RunFidelity(Session& reference, std::span<Session* const> candidates,
                        std::span<const TokenId> prompt, int steps,
                        const std::function<void()>& on_step);

}  // namespace ri::eval
