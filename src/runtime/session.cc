#include "runtime/session.h"

#include <algorithm>

#include "model/model.h"
#include "util/error.h"

namespace ri {

Session::Session(const Model& model, KvPagePool& pages, const PolicyConfig& policy,
                 int context_size, ThreadPool& threads)
    : model_(model),
      threads_(threads),
      policy_config_(policy),
      policy_(MakePolicy(policy)),
      cache_(pages),
      context_size_(context_size) {
  if (context_size <= 0 || context_size > model.config().context_length) {
    Fail("context size {} is outside 1..{} (the model's trained context)", context_size,
         model.config().context_length);
  }
}

std::span<const float> Session::Prefill(std::span<const TokenId> tokens) {
  if (tokens.empty()) Fail("the prompt is empty");
  if (tokens.size() > static_cast<size_t>(remaining())) {
    Fail("the prompt has {} tokens but only {} of the context of {} are left", tokens.size(),
         remaining(), context_size_);
  }
  const SequenceContext sequence{&cache_, policy_.get()};
  std::vector<ForwardRow> rows;
  for (size_t begin = 0; begin < tokens.size(); begin += kPrefillChunk) {
    const size_t end = std::min(tokens.size(), begin + kPrefillChunk);
    rows.clear();
    for (size_t i = begin; i < end; ++i) {
      rows.push_back({.token = tokens[i],
                      .position = position() + static_cast<int>(i - begin),
                      .role = RowRole::kPrefill,
                      .sequence = 0,
                      .wants_logits = i + 1 == tokens.size()});
    }
    model_.Forward(rows, {&sequence, 1}, threads_, logits_);
    tokens_.insert(tokens_.end(), tokens.begin() + begin, tokens.begin() + end);
  }
  return logits_;
}

std::span<const float> Session::Decode(TokenId token) {
  if (remaining() <= 0) Fail("the context of {} tokens is full", context_size_);
  const SequenceContext sequence{&cache_, policy_.get()};
  const DecodePlan plan = policy_->PlanDecodeStep(position(), model_.config().hidden_size);
  std::vector<ForwardRow> rows;
  for (const ReplayRow& replay : plan.replays) {
    rows.push_back({.token = tokens_[replay.position],
                    .position = replay.position,
                    .role = RowRole::kRetro,
                    .start_layer = replay.start_layer,
                    .start_residual = replay.residual});
  }
  rows.push_back({.token = token,
                  .position = position(),
                  .role = RowRole::kDecode,
                  .wants_logits = true,
                  .capture_layer = plan.keep_layer,
                  .captured_residual = plan.kept_residual});
  model_.Forward(rows, {&sequence, 1}, threads_, logits_);
  policy_->EndDecodeStep();
  const ModelConfig& c = model_.config();
  full_attention_kv_bytes_ += static_cast<uint64_t>(position() + 1) * c.num_layers *
                              c.num_kv_heads * 2 * cache_.pool().position_bytes();
  tokens_.push_back(token);
  return logits_;
}

void Session::Reset() {
  cache_.Clear();
  tokens_.clear();
  policy_ = MakePolicy(policy_config_);
  full_attention_kv_bytes_ = 0;
}

}  // namespace ri
