// The tensors of a transformer, used in place from the GGUF memory map
// (matrices) or converted to float at load (norms, biases: they are small).
#pragma once

#include <vector>

#include "kernels/matmul.h"
#include "model/config.h"

namespace ri::gguf {
class File;
}

namespace ri {

struct LayerWeights {
  std::vector<float> attention_norm;
  WeightMatrix query, key, value, attention_output;
  std::vector<float> query_bias, key_bias, value_bias;  // qwen2
  std::vector<float> query_norm, key_norm;              // qwen3, head_dim each
  std::vector<float> ffn_norm;
  WeightMatrix ffn_gate, ffn_up, ffn_down;
};

struct ModelWeights {
  WeightMatrix token_embedding;  // vocab x hidden
  std::vector<LayerWeights> layers;
  std::vector<float> output_norm;
  WeightMatrix output;             // vocab x hidden; the embedding when tied
  std::vector<float> rope_factors;  // rope_freqs (llama 3.1 scaling): divides each frequency; empty if absent

  // Checks every tensor's presence, type and shape against the config;
  // throws ri::Error naming the first missing or mismatched tensor. Every
  // matrix multiplies with `activations`.
  static ModelWeights FromGguf(const gguf::File& file, ModelConfig& config,
                               ActivationPrecision activations);
};

}  // namespace ri
