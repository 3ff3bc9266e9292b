// A llama layer written for clarity in double precision, one row at a time:
// the independent reference that tests compare the engine's forward pass
// and attention policies with. Keys and values are rounded to F16 as the
// engine's cache stores them.
#pragma once

#include <vector>

#include "model/model.h"

namespace ri {

// Softmax attention of one query over the given keys and values.
struct ReferenceAttentionResult {
  std::vector<double> output;   // head_dim
  double log_sum_exp = 0;
  std::vector<double> weights;  // one per key
};
ReferenceAttentionResult ReferenceAttend(const float* query, const std::vector<const float*>& keys,
                                         const std::vector<const float*>& values, int head_dim);

class ReferenceLlama {
 public:
  explicit ReferenceLlama(const Model& model) : model_(model), c_(model.config()) {}

  struct Projections {
    std::vector<float> queries;  // num_heads x head_dim, rotated
    std::vector<float> keys;     // num_kv_heads x head_dim, rotated, F16-rounded
    std::vector<float> values;   // num_kv_heads x head_dim, F16-rounded
  };

  std::vector<float> Embed(TokenId token) const;
  Projections Project(int layer, const std::vector<float>& residual, int position) const;
  // The rest of the layer after attention: output projection, residual, MLP.
  void Finish(int layer, const std::vector<float>& attention, std::vector<float>& residual) const;
  std::vector<float> Logits(const std::vector<float>& residual) const;

 private:
  std::vector<float> MatVec(const WeightMatrix& m, const std::vector<float>& x) const;
  std::vector<float> Norm(const std::vector<float>& x, const std::vector<float>& weight) const;
  void Rotate(float* head, int position) const;

  const Model& model_;
  const ModelConfig& c_;
};

}  // namespace ri
