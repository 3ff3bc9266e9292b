// A loaded model and its forward pass. Every call runs the layers over a set
// of rows (prompt tokens, the newest token of each active sequence, or
// re-run recent tokens); the matmuls see all rows at once, so one set of
// multi-row kernels serves prefill, batched decoding and RetroAttention.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attention/attention_policy.h"
#include "model/config.h"
#include "model/ops.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace ri {

namespace gguf {
class File;
}
class SequenceKvCache;
class ThreadPool;

struct ForwardRow {
  TokenId token = 0;
  int position = 0;
  RowRole role = RowRole::kDecode;
  int sequence = 0;           // index into the sequences of the call
  bool wants_logits = false;  // only these rows go through the LM head
  // A row re-run from a later layer (RetroAttention's window) starts at
  // `start_layer` from the residual stream kept for it; 0 starts at the embedding.
  int start_layer = 0;
  const float* start_residual = nullptr;
  // When set, the residual stream entering `capture_layer` is copied here.
  int capture_layer = -1;
  float* captured_residual = nullptr;
};

// The per-sequence state attention needs: its cache and its policy.
struct SequenceContext {
  SequenceKvCache* cache = nullptr;
  AttentionPolicy* policy = nullptr;
};

class Model {
 public:
  // Maps the file and checks architecture, tensors and shapes; throws
  // ri::Error. `activations` is how every matrix product meets its weights
  // (kernels/matmul.h).
  static std::unique_ptr<Model> Load(const std::string& path, ActivationPrecision activations);
  Model(std::unique_ptr<gguf::File> file, ActivationPrecision activations);
  // A model whose weights live in `storage` (tests build small random ones).
  Model(ModelConfig config, ModelWeights weights, std::shared_ptr<const void> storage);
  ~Model();

  const ModelConfig& config() const { return config_; }
  // The GGUF file; null for in-memory models.
  const gguf::File* file() const { return file_.get(); }
  const ModelWeights& weights() const { return weights_; }
  // Bytes of weights one forward pass reads (every matrix once, the LM head
  // included): what bounds decode speed besides the KV cache.
  size_t WeightBytesPerPass() const;

  // Runs every layer over `rows`. Rows of one sequence must be contiguous and
  // in increasing position order. Appends, for each row that wants logits in
  // row order, vocab_size logits to `logits` (which is cleared first).
  void Forward(std::span<const ForwardRow> rows, std::span<const SequenceContext> sequences,
               ThreadPool& pool, std::vector<float>& logits) const;

 private:
  struct Activations;
  // Runs one layer over `rows`, whose residual streams are `residual` (rows x
  // hidden) and whose RoPE angles are `rope_tables` (rows x Rope::table_size()).
  void RunLayer(int layer, std::span<const ForwardRow> rows,
                std::span<const SequenceContext> sequences, float* residual,
                const float* rope_tables, Activations& a, ThreadPool& pool) const;
  void Attention(int layer, std::span<const ForwardRow> rows,
                 std::span<const SequenceContext> sequences, float* residual,
                 const float* rope_tables, Activations& a, ThreadPool& pool) const;
  void FeedForward(int layer, int num_rows, float* residual, Activations& a,
                   ThreadPool& pool) const;

  std::unique_ptr<gguf::File> file_;
  std::shared_ptr<const void> storage_;
  ModelConfig config_;
  ModelWeights weights_;
  Rope rope_;
};

}  // namespace ri
