#include "model/weights.h"

#include <fmt/ranges.h>

#include "gguf/gguf_file.h"
#include "kernels/dequantize.h"
#include "util/error.h"

namespace ri {

namespace {

class TensorLoader {
 public:
  TensorLoader(const gguf::File& file, ActivationPrecision activations)
      : file_(file), activations_(activations) {}

  const gguf::TensorInfo* Find(const std::string& name) const { return file_.FindTensor(name); }

  const gguf::TensorInfo& Require(const std::string& name) const {
    const gguf::TensorInfo* info = file_.FindTensor(name);
    if (info == nullptr) Fail("model file has no tensor '{}'", name);
    return *info;
  }

  // A [rows x cols] matrix (GGUF dims {cols, rows}) in a computable type.
  // The kernels read weight strips instead of the stored bytes, when they
  // have them, so those leave memory (not the token embedding's, whose rows
  // are looked up).
  WeightMatrix Matrix(const std::string& name, int64_t rows, int64_t cols) const {
    const gguf::TensorInfo& info = Require(name);
    WeightMatrix matrix = MatrixOf(info, rows, cols);
    matrix.activations = activations_;
    PrepareForKernels(matrix);
    if (matrix.strips != nullptr) file_.EvictFromMemory(info);
    return matrix;
  }

  static WeightMatrix MatrixOf(const gguf::TensorInfo& info, int64_t rows, int64_t cols) {
    const auto& traits = Traits(info.type);
    if (info.dims.size() != 2 || info.dims[0] != static_cast<uint64_t>(cols) ||
        info.dims[1] != static_cast<uint64_t>(rows)) {
      Fail("tensor '{}' has shape [{}], expected [{}, {}]", info.name,
           fmt::join(info.dims, ", "), cols, rows);
    }
    if (!traits.computable) Fail("tensor '{}' has unsupported type {}", info.name, traits.name);
    return WeightMatrix{.type = info.type,
                        .data = info.data,
                        .rows = rows,
                        .cols = cols,
                        .row_bytes = static_cast<size_t>(cols / traits.block_size) * traits.type_size};
  }

  // A vector of `size` elements converted to float.
  std::vector<float> Vector(const std::string& name, int64_t size) const {
    const gguf::TensorInfo& info = Require(name);
    if (info.num_elements != static_cast<uint64_t>(size) || info.dims.size() != 1) {
      Fail("tensor '{}' has shape [{}], expected [{}]", name, fmt::join(info.dims, ", "), size);
    }
    if (!Traits(info.type).computable) {
      Fail("tensor '{}' has unsupported type {}", name, Traits(info.type).name);
    }
    std::vector<float> values(size);
    DequantizeRow(info.type, info.data, values.data(), size);
    return values;
  }

 private:
  const gguf::File& file_;
  ActivationPrecision activations_;
};

}  // namespace

ModelWeights ModelWeights::FromGguf(const gguf::File& file, ModelConfig& config,
                                    ActivationPrecision activations) {
  const TensorLoader loader(file, activations);
  ModelWeights weights;
  const gguf::TensorInfo& embedding = loader.Require("token_embd.weight");
  if (embedding.dims.size() != 2) Fail("tensor 'token_embd.weight' is not a matrix");
  if (embedding.dims[1] == 0 || embedding.dims[1] > (1u << 24)) {
    Fail("vocabulary size {} is out of range", embedding.dims[1]);
  }
  config.vocab_size = static_cast<int>(embedding.dims[1]);
  const int hidden = config.hidden_size;
  const int q_size = config.num_heads * config.head_dim;
  const int kv_size = config.num_kv_heads * config.head_dim;
  weights.token_embedding = TensorLoader::MatrixOf(embedding, config.vocab_size, hidden);

  for (int l = 0; l < config.num_layers; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    LayerWeights layer;
    layer.attention_norm = loader.Vector(p + "attn_norm.weight", hidden);
    layer.query = loader.Matrix(p + "attn_q.weight", q_size, hidden);
    layer.key = loader.Matrix(p + "attn_k.weight", kv_size, hidden);
    layer.value = loader.Matrix(p + "attn_v.weight", kv_size, hidden);
    layer.attention_output = loader.Matrix(p + "attn_output.weight", hidden, q_size);
    if (config.qkv_bias) {
      layer.query_bias = loader.Vector(p + "attn_q.bias", q_size);
      layer.key_bias = loader.Vector(p + "attn_k.bias", kv_size);
      layer.value_bias = loader.Vector(p + "attn_v.bias", kv_size);
    }
    if (config.qk_norm) {
      layer.query_norm = loader.Vector(p + "attn_q_norm.weight", config.head_dim);
      layer.key_norm = loader.Vector(p + "attn_k_norm.weight", config.head_dim);
    }
    layer.ffn_norm = loader.Vector(p + "ffn_norm.weight", hidden);
    layer.ffn_gate = loader.Matrix(p + "ffn_gate.weight", config.ffn_size, hidden);
    layer.ffn_up = loader.Matrix(p + "ffn_up.weight", config.ffn_size, hidden);
    layer.ffn_down = loader.Matrix(p + "ffn_down.weight", hidden, config.ffn_size);
    weights.layers.push_back(std::move(layer));
  }
  weights.output_norm = loader.Vector("output_norm.weight", hidden);
  if (loader.Find("output.weight")) {
    weights.output = loader.Matrix("output.weight", config.vocab_size, hidden);
  } else {  // tied: the embedding's matrix, prepared for products (lookups need no strips)
    weights.output = weights.token_embedding;
    weights.output.activations = activations;
    PrepareForKernels(weights.output);
  }
  if (loader.Find("rope_freqs.weight")) {
    weights.rope_factors = loader.Vector("rope_freqs.weight", config.rope_dims / 2);
  }
  return weights;
}

}  // namespace ri
