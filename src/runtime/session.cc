#include "runtime/session.h"

#include <algorithm>

#include "model/model.h"
#include "util/error.h"

namespace ri {

Session::Session(const Model& model, KvPagePool& pages, const PolicyConfig& policy,
                 int context_size, ThreadPool& threads)
    : model_(model),
      pages_(pages),
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
  Session* self = this;
  DecodeTogether({&self, 1}, {&token, 1});
  return logits_;
}

void Session::AddDecodeRows(TokenId token, int sequence_index, std::vector<ForwardRow>& rows) {
  if (remaining() <= 0) Fail("the context of {} tokens is full", context_size_);
  const DecodePlan plan = policy_->PlanDecodeStep(position(), model_.config().hidden_size);
  for (const ReplayRow& replay : plan.replays) {
    rows.push_back({.token = tokens_[replay.position],
                    .position = replay.position,
                    .role = RowRole::kRetro,
                    .sequence = sequence_index,
                    .start_layer = replay.start_layer,
                    .start_residual = replay.residual});
  }
  rows.push_back({.token = token,
                  .position = position(),
                  .role = RowRole::kDecode,
                  .sequence = sequence_index,
                  .wants_logits = true,
                  .capture_layer = plan.keep_layer,
                  .captured_residual = plan.kept_residual});
}

void Session::FinishDecode(TokenId token, std::span<const float> logits) {
  policy_->EndDecodeStep();
  const ModelConfig& c = model_.config();
  full_attention_kv_bytes_ += static_cast<uint64_t>(position() + 1) * c.num_layers *
                              c.num_kv_heads * 2 * cache_.pool().position_bytes();
  tokens_.push_back(token);
  logits_.assign(logits.begin(), logits.end());
}

void DecodeTogether(std::span<Session* const> sessions, std::span<const TokenId> tokens) {
  if (sessions.empty()) return;
  if (sessions.size() != tokens.size()) Fail("{} sessions but {} tokens", sessions.size(), tokens.size());
  const Model& model = sessions[0]->model_;
  std::vector<ForwardRow> rows;
  std::vector<SequenceContext> contexts;
  for (size_t i = 0; i < sessions.size(); ++i) {
    Session& session = *sessions[i];
    if (&session.model_ != &model || &session.threads_ != &sessions[0]->threads_) {
      Fail("sessions decoded together must share the model and the threads");
    }
    session.AddDecodeRows(tokens[i], static_cast<int>(i), rows);
    contexts.push_back({&session.cache_, session.policy_.get()});
  }
  std::vector<float> logits;
  model.Forward(rows, contexts, sessions[0]->threads_, logits);
  const size_t vocab = model.config().vocab_size;
  for (size_t i = 0; i < sessions.size(); ++i) {
    sessions[i]->FinishDecode(tokens[i], std::span(logits).subspan(i * vocab, vocab));
  }
}

std::unique_ptr<Session> Session::Fork(const PolicyConfig& policy) const {
  auto fork = std::make_unique<Session>(model_, pages_, policy, context_size_, threads_);
  fork->cache_.CopyFrom(cache_);
  fork->tokens_ = tokens_;
  fork->logits_ = logits_;
  return fork;
}

void Session::Reset() {
  cache_.Clear();
  tokens_.clear();
  policy_ = MakePolicy(policy_config_);
  full_attention_kv_bytes_ = 0;
}

}  // namespace ri
