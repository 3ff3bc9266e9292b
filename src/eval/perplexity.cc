#include "eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "runtime/session.h"
#include "util/error.h"
#include "util/seconds.h"

namespace ri::eval {

double NegativeLogLikelihood(std::span<const float> logits, TokenId target) {
  if (target < 0 || static_cast<size_t>(target) >= logits.size()) {
    Fail("token {} is outside the vocabulary of {} logits", target, logits.size());
  }
  return LogSumExp(logits) - logits[target];
}

double LogSumExp(std::span<const float> logits) {
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float logit : logits) sum += std::exp(logit - max_logit);
  return max_logit + std::log(sum);
}

TeacherForcedResult TeacherForcedNll(Session& session, std::span<const TokenId> tokens,
                                     int prompt_tokens, const std::function<void()>& on_step) {
  if (session.position() != 0) Fail("teacher forcing needs an empty session");
  if (prompt_tokens < 1) Fail("the prompt must have at least one token");
  const int total = static_cast<int>(tokens.size());
  if (total < prompt_tokens + 2) {
    Fail("{} tokens leave nothing to score after a prompt of {} (one decode step needs {})", total,
         prompt_tokens, prompt_tokens + 2);
  }
  // The last token is only a target: it is never fed.
  if (total - 1 > session.remaining()) {
    Fail("{} tokens to feed exceed the context of {}", total - 1, session.context_size());
  }
  session.Prefill(tokens.first(prompt_tokens));
  TeacherForcedResult result;
  result.nlls.reserve(total - prompt_tokens - 1);
  for (int i = prompt_tokens; i + 1 < total; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const std::span<const float> logits = session.Decode(tokens[i]);
    result.decode_seconds += SecondsSince(start);
    result.nlls.push_back(NegativeLogLikelihood(logits, tokens[i + 1]));
    if (on_step) on_step();
  }
  return result;
}

double Perplexity(const Bucket& nlls) { return std::exp(nlls.Mean()); }

}  // namespace ri::eval
