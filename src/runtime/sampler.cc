#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace ri {
namespace {

// Higher value (logit or probability) first, equal values by lower id, so
// every order is total and results do not depend on the sort algorithm.
bool Before(const std::pair<float, TokenId>& a, const std::pair<float, TokenId>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

void ValidateOptions(const SamplerOptions& o) {
  // Written as !(in range) so that NaN fails too.
  if (!(o.temperature >= 0.0f && std::isfinite(o.temperature))) {
    Fail("sampler option temperature must be a finite number >= 0 (got {})", o.temperature);
  }
  if (o.top_k < 0) {
    Fail("sampler option top_k must be >= 0, 0 meaning off (got {})", o.top_k);
  }
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f)) {
    Fail("sampler option top_p must be in (0, 1], 1 meaning off (got {})", o.top_p);
  }
  if (!(o.min_p >= 0.0f && o.min_p <= 1.0f)) {
    Fail("sampler option min_p must be in [0, 1], 0 meaning off (got {})", o.min_p);
  }
  if (!(o.repetition_penalty > 0.0f && std::isfinite(o.repetition_penalty))) {
    Fail("sampler option repetition_penalty must be a finite number > 0, 1 meaning off (got {})",
         o.repetition_penalty);
  }
  if (o.repetition_window < 0) {
    Fail("sampler option repetition_window must be >= 0 (got {})", o.repetition_window);
  }
}

}  // namespace

Sampler::Sampler(const SamplerOptions& options) : options_(options), rng_(options.seed) {
  ValidateOptions(options_);
}

TokenId Sampler::Sample(std::span<const float> logits, std::span<const TokenId> recent) {
  if (logits.empty()) Fail("cannot sample from an empty logits vector");
  const auto vocab = static_cast<TokenId>(logits.size());

  // (logit, id) pairs in id order; the filters below may reorder them.
  candidates_.resize(logits.size());
  bool any_finite = false;
  for (TokenId id = 0; id < vocab; ++id) {
    const float logit = logits[id];
    // -inf marks a forbidden token; NaN or +inf mean the model output is broken.
    if (std::isnan(logit) || logit == std::numeric_limits<float>::infinity()) {
      Fail("logit of token {} is {}; cannot sample", id, logit);
    }
    any_finite |= std::isfinite(logit);
    candidates_[id] = {logit, id};
  }
  if (!any_finite) Fail("every token has logit -inf; cannot sample");

  if (options_.repetition_penalty != 1.0f) {
    const size_t window = std::min(recent.size(), static_cast<size_t>(options_.repetition_window));
    for (TokenId id : recent.last(window)) {
      if (id < 0 || id >= vocab) {
        Fail("recent token id {} is outside the vocabulary [0, {})", id, vocab);
      }
      // Computed from the original logit, so a repeated token is penalized once.
      const float logit = logits[id];
      candidates_[id].first =
          logit > 0.0f ? logit / options_.repetition_penalty : logit * options_.repetition_penalty;
    }
  }

  if (options_.temperature == 0.0f) {
    // The first maximum in id order is the lowest id among ties.
    return std::max_element(candidates_.begin(), candidates_.end(),
                            [](const auto& a, const auto& b) { return a.first < b.first; })
        ->second;
  }

  // Candidates stay in id order unless a filter below needs them sorted by
  // value; the draw walks them in id order.
  bool in_id_order = true;
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < candidates_.size()) {
    std::partial_sort(candidates_.begin(), candidates_.begin() + options_.top_k, candidates_.end(),
                      Before);
    candidates_.resize(options_.top_k);
    in_id_order = false;
  }

  // Softmax numerators replace the logits; the top token's is exactly 1.
  const float max_logit =
      std::max_element(candidates_.begin(), candidates_.end(), [](const auto& a, const auto& b) {
        return a.first < b.first;
      })->first;
  double total = 0.0;
  for (auto& [weight, id] : candidates_) {
    weight = std::exp((weight - max_logit) / options_.temperature);
    total += weight;
  }

  // min-p keeps p >= min_p * p_max, i.e. weight >= min_p. Both min-p and top-p
  // keep a prefix of the probability order, so applying min-p first (with
  // top-p still measured against the full total) gives the same set as the
  // documented order, and shrinks the sort. Zero weights (-inf logits,
  // underflow) go too, so they can never be drawn.
  std::erase_if(candidates_,
                [&](const auto& c) { return c.first < options_.min_p || c.first == 0.0f; });

  if (options_.top_p < 1.0f) {
    // Walks in probability order (ties by id), sorting in growing chunks only
    // as far as the walk goes: the top-p set is usually small.
    const double needed = options_.top_p * total;
    double cumulative = 0.0;
    size_t keep = 0, sorted = 0;
    while (keep < candidates_.size() && cumulative < needed) {
      if (keep == sorted) {
        const auto from = candidates_.begin() + sorted;
        sorted = std::min(candidates_.size(), std::max<size_t>(64, 2 * sorted));
        std::nth_element(from, candidates_.begin() + sorted, candidates_.end(), Before);
        std::sort(from, candidates_.begin() + sorted, Before);
      }
      cumulative += candidates_[keep++].first;
    }
    candidates_.resize(keep);
    in_id_order = false;
  }
  if (!in_id_order) {
    std::sort(candidates_.begin(), candidates_.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
  }

  // Own uniform in [0, 1) from the top 53 bits, identical on every standard
  // library (unlike std::uniform_real_distribution).
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  total = 0.0;
  for (const auto& c : candidates_) total += c.first;
  const double target = u * total;
  double cumulative = 0.0;
  for (const auto& [weight, id] : candidates_) {
    cumulative += weight;
    if (target < cumulative) return id;
  }
  return candidates_.back().second;  // target rounded up to the total
}

}  // namespace ri
