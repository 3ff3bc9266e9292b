// PG-19-style long-generation perplexity: prefill a prompt, then feed the
// following tokens one at a time through a session's decode path (teacher
// forcing: the code path of generation, with the policy under test) and score
// each prediction. BucketedMean groups the NLLs by how far into the
// generation a prediction is, as in the paper's perplexity-against-length figure.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "eval/buckets.h"
#include "tokenizer/tokenizer.h"

namespace ri {
class Session;
}

namespace ri::eval {

// -log softmax(logits)[target], computed in double precision.
double NegativeLogLikelihood(std::span<const float> logits, TokenId target);

// log(sum(exp(logits))), in double.
double LogSumExp(std::span<const float> logits);

// Prefills tokens[0, prompt_tokens) and then decodes tokens[prompt_tokens],
// tokens[prompt_tokens + 1], ...: the logits of decode step i score
// tokens[prompt_tokens + i + 1]. Scores each of the tokens.size() -
// prompt_tokens - 1 predictions, and calls `on_step` after each decode step.
// The session must be empty. Throws ri::Error when there is nothing to score
// or the tokens do not fit the session's context.
struct TeacherForcedResult {
  std::vector<double> nlls;   // negative log-likelihood per decode step
  double decode_seconds = 0;  // time in Session::Decode
};
TeacherForcedResult TeacherForcedNll(Session& session, std::span<const TokenId> tokens,
                                     int prompt_tokens, const std::function<void()>& on_step);

// exp(mean NLL) of the predictions pooled in a bucket of NLLs.
double Perplexity(const Bucket& nlls);

}  // namespace ri::eval
