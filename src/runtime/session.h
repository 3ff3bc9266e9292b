// One sequence being generated: its token history, paged KV cache and
// attention policy, advanced by prefill (prompt chunks) and decode steps.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "attention/attention_policy.h"
#include "attention/policy_config.h"
#include "kv/paged_kv_cache.h"
#include "tokenizer/tokenizer.h"

namespace ri {

class Model;
class ThreadPool;
struct ForwardRow;

class Session {
 public:
  // `context_size` caps the sequence length (at most the model's trained context).
  Session(const Model& model, KvPagePool& pages, const PolicyConfig& policy, int context_size,
          ThreadPool& threads);

  // Runs prompt tokens through the model in chunks (full attention rows of
  // role prefill) and returns the logits after the last one. Throws ri::Error
  // when they do not fit in the context.
  std::span<const float> Prefill(std::span<const TokenId> tokens);
  // Runs one token through the decode path and returns its logits.
  std::span<const float> Decode(TokenId token);
  // A new session holding a copy of this one's tokens and KV cache, with a
  // fresh `policy` (for comparing policies after one shared prefill).
  std::unique_ptr<Session> Fork(const PolicyConfig& policy) const;

  // Forgets everything (the KV pages go back to the pool, the policy starts afresh).
  void Reset();

  const std::vector<TokenId>& tokens() const { return tokens_; }
  // Logits after the last token fed (prefill or decode).
  std::span<const float> logits() const { return logits_; }
  int position() const { return static_cast<int>(tokens_.size()); }
  int context_size() const { return context_size_; }
  int remaining() const { return context_size_ - position(); }
  const AttentionPolicy& policy() const { return *policy_; }
  const Model& model() const { return model_; }
  // K/V bytes that full attention would have read over this session's decode
  // steps: the yardstick for a sparse policy's reads.
  uint64_t full_attention_kv_bytes() const { return full_attention_kv_bytes_; }
  const SequenceKvCache& cache() const { return cache_; }

  static constexpr int kPrefillChunk = 256;

 private:
  friend void DecodeTogether(std::span<Session* const> sessions, std::span<const TokenId> tokens);
  // This session's rows of a decode step (its window replays, then the token).
  void AddDecodeRows(TokenId token, int sequence_index, std::vector<ForwardRow>& rows);
  void FinishDecode(TokenId token, std::span<const float> logits);

  const Model& model_;
  KvPagePool& pages_;
  ThreadPool& threads_;
  PolicyConfig policy_config_;
  std::unique_ptr<AttentionPolicy> policy_;
  SequenceKvCache cache_;
  int context_size_;
  std::vector<TokenId> tokens_;
  std::vector<float> logits_;
  uint64_t full_attention_kv_bytes_ = 0;
};

// A loaded model and what its sessions share (non-owning): the view the
// CLI, the evaluations and the server hand around.
struct EngineView {
  const Model& model;
  const Tokenizer& tokenizer;
  KvPagePool& pages;
  ThreadPool& threads;
  int context = 0;  // tokens per sequence

  std::unique_ptr<Session> NewSession(const PolicyConfig& policy) const {
    return std::make_unique<Session>(model, pages, policy, context, threads);
  }
};

// One decode step for several sessions in a single forward pass (their
// matmuls share the weight reads): tokens[i] is fed to sessions[i]. Each
// session's logits are then in its Decode-style state (see logits()).
void DecodeTogether(std::span<Session* const> sessions, std::span<const TokenId> tokens);

}  // namespace ri
