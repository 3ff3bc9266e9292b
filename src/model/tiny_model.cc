#include "model/tiny_model.h"

#include <cmath>
#include <random>
#include <vector>

namespace ri {

std::unique_ptr<Model> MakeTinyRandomModel(const TinyModelShape& shape, uint32_t seed) {
  ModelConfig config;
  config.architecture = "llama";
  config.name = "tiny-random";
  config.num_layers = shape.num_layers;
  config.hidden_size = shape.hidden_size;
  config.ffn_size = shape.ffn_size;
  config.num_heads = shape.num_heads;
  config.num_kv_heads = shape.num_kv_heads;
  config.head_dim = shape.head_dim;
  config.vocab_size = shape.vocab_size;
  config.context_length = shape.context_length;
  config.rope_dims = shape.head_dim;
  config.rope_theta = 10000.0f;

  std::mt19937 rng(seed);
  auto storage = std::make_shared<std::vector<std::vector<float>>>();
  // A rows x cols F32 matrix of normal values with the given standard deviation.
  const auto matrix = [&](int64_t rows, int64_t cols, float deviation) {
    std::normal_distribution<float> normal(0.0f, deviation);
    std::vector<float>& data = storage->emplace_back(rows * cols);
    for (float& x : data) x = normal(rng);
    return WeightMatrix{.type = TensorType::F32,
                        .data = reinterpret_cast<const uint8_t*>(data.data()),
                        .rows = rows,
                        .cols = cols,
                        .row_bytes = static_cast<size_t>(cols) * sizeof(float)};
  };
  const auto norm = [&](int size) {
    std::uniform_real_distribution<float> uniform(0.8f, 1.2f);
    std::vector<float> weights(size);
    for (float& x : weights) x = uniform(rng);
    return weights;
  };
  const int hidden = shape.hidden_size;
  const int q_size = shape.num_heads * shape.head_dim;
  const int kv_size = shape.num_kv_heads * shape.head_dim;
  const float input_scale = 1.0f / std::sqrt(static_cast<float>(hidden));
  ModelWeights weights;
  weights.token_embedding = matrix(shape.vocab_size, hidden, 1.0f);
  for (int l = 0; l < shape.num_layers; ++l) {
    LayerWeights layer;
    layer.attention_norm = norm(hidden);
    // Larger query/key weights make attention peaked, so policies differ.
    layer.query = matrix(q_size, hidden, 3 * input_scale);
    layer.key = matrix(kv_size, hidden, 3 * input_scale);
    layer.value = matrix(kv_size, hidden, input_scale);
    layer.attention_output = matrix(hidden, q_size, 1.0f / std::sqrt(static_cast<float>(q_size)));
    layer.ffn_norm = norm(hidden);
    layer.ffn_gate = matrix(shape.ffn_size, hidden, input_scale);
    layer.ffn_up = matrix(shape.ffn_size, hidden, input_scale);
    layer.ffn_down =
        matrix(hidden, shape.ffn_size, 1.0f / std::sqrt(static_cast<float>(shape.ffn_size)));
    weights.layers.push_back(std::move(layer));
  }
  weights.output_norm = norm(hidden);
  weights.output = matrix(shape.vocab_size, hidden, input_scale);
  return std::make_unique<Model>(std::move(config), std::move(weights), std::move(storage));
}

}  // namespace ri
