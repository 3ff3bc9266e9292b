#include "model/reference_llama.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"
#include "util/fp16.h"

namespace ri {

ReferenceAttentionResult ReferenceAttend(const float* query, const std::vector<const float*>& keys,
                                         const std::vector<const float*>& values, int head_dim) {
  ReferenceAttentionResult result;
  result.output.assign(head_dim, 0.0);
  std::vector<double> scores;
  double max_score = -INFINITY;
  for (const float* key : keys) {
    double dot = 0;
    for (int d = 0; d < head_dim; ++d) dot += static_cast<double>(query[d]) * key[d];
    scores.push_back(dot / std::sqrt(static_cast<double>(head_dim)));
    max_score = std::max(max_score, scores.back());
  }
  double sum = 0;
  for (double& score : scores) sum += (score = std::exp(score - max_score));
  for (size_t i = 0; i < keys.size(); ++i) {
    result.weights.push_back(scores[i] / sum);
    for (int d = 0; d < head_dim; ++d) result.output[d] += scores[i] / sum * values[i][d];
  }
  result.log_sum_exp = max_score + std::log(sum);
  return result;
}

std::vector<float> ReferenceLlama::MatVec(const WeightMatrix& m, const std::vector<float>& x) const {
  if (m.type != TensorType::F32) Fail("the reference reads F32 weights only");
  const float* data = reinterpret_cast<const float*>(m.data);
  std::vector<float> y(m.rows);
  for (int64_t r = 0; r < m.rows; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < m.cols; ++c) sum += static_cast<double>(data[r * m.cols + c]) * x[c];
    y[r] = static_cast<float>(sum);
  }
  return y;
}

std::vector<float> ReferenceLlama::Norm(const std::vector<float>& x,
                                        const std::vector<float>& weight) const {
  double squares = 0;
  for (float v : x) squares += static_cast<double>(v) * v;
  const double scale = 1 / std::sqrt(squares / x.size() + c_.rms_norm_eps);
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = static_cast<float>(x[i] * scale * weight[i]);
  return y;
}

void ReferenceLlama::Rotate(float* head, int position) const {
  for (int i = 0; i < c_.head_dim / 2; ++i) {
    const double angle = position * std::pow(c_.rope_theta, -2.0 * i / c_.head_dim);
    const double a = head[2 * i], b = head[2 * i + 1];
    head[2 * i] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
    head[2 * i + 1] = static_cast<float>(a * std::sin(angle) + b * std::cos(angle));
  }
}

std::vector<float> ReferenceLlama::Embed(TokenId token) const {
  const WeightMatrix& m = model_.weights().token_embedding;
  const float* row = reinterpret_cast<const float*>(m.data) + token * m.cols;
  return {row, row + m.cols};
}

ReferenceLlama::Projections ReferenceLlama::Project(int layer, const std::vector<float>& residual,
                                                    int position) const {
  const LayerWeights& w = model_.weights().layers[layer];
  const std::vector<float> h = Norm(residual, w.attention_norm);
  Projections p{MatVec(w.query, h), MatVec(w.key, h), MatVec(w.value, h)};
  for (int head = 0; head < c_.num_heads; ++head) Rotate(&p.queries[head * c_.head_dim], position);
  for (int head = 0; head < c_.num_kv_heads; ++head) Rotate(&p.keys[head * c_.head_dim], position);
  for (float& k : p.keys) k = Fp16ToFloat(FloatToFp16(k));
  for (float& v : p.values) v = Fp16ToFloat(FloatToFp16(v));
  return p;
}

void ReferenceLlama::Finish(int layer, const std::vector<float>& attention,
                            std::vector<float>& residual) const {
  const LayerWeights& w = model_.weights().layers[layer];
  const std::vector<float> projected = MatVec(w.attention_output, attention);
  for (size_t i = 0; i < residual.size(); ++i) residual[i] += projected[i];
  const std::vector<float> h = Norm(residual, w.ffn_norm);
  std::vector<float> gate = MatVec(w.ffn_gate, h);
  const std::vector<float> up = MatVec(w.ffn_up, h);
  for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
  const std::vector<float> down = MatVec(w.ffn_down, gate);
  for (size_t i = 0; i < residual.size(); ++i) residual[i] += down[i];
}

std::vector<float> ReferenceLlama::Logits(const std::vector<float>& residual) const {
  return MatVec(model_.weights().output, Norm(residual, model_.weights().output_norm));
}

}  // namespace ri
