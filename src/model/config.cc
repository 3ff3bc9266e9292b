#include "model/config.h"

#include "gguf/gguf_file.h"
#include "util/error.h"

namespace ri {

namespace {

struct ArchitectureTraits {
  std::string_view name;
  RopeLayout rope_layout;
  bool qkv_bias;
  bool qk_norm;
};

constexpr ArchitectureTraits kArchitectures[] = {
    {"llama", RopeLayout::kAdjacentPairs, false, false},
    {"qwen2", RopeLayout::kHalves, true, false},
    {"qwen3", RopeLayout::kHalves, false, true},
};

int PositiveInt(const gguf::File& file, const std::string& key) {
  const uint64_t value = file.GetUint(key);
  if (value == 0 || value > (1u << 30)) Fail("metadata '{}' = {} is out of range", key, value);
  return static_cast<int>(value);
}

}  // namespace

ModelConfig ModelConfig::FromGguf(const gguf::File& file) {
  ModelConfig config;
  config.architecture = file.GetString("general.architecture");
  const ArchitectureTraits* traits = nullptr;
  for (const auto& candidate : kArchitectures) {
    if (candidate.name == config.architecture) traits = &candidate;
  }
  if (traits == nullptr) {
    Fail("unsupported architecture '{}' (supported: llama, qwen2, qwen3)", config.architecture);
  }
  const std::string prefix = config.architecture + ".";
  config.name = file.GetStringOr("general.name", "");
  config.num_layers = PositiveInt(file, prefix + "block_count");
  config.hidden_size = PositiveInt(file, prefix + "embedding_length");
  config.ffn_size = PositiveInt(file, prefix + "feed_forward_length");
  config.num_heads = PositiveInt(file, prefix + "attention.head_count");
  config.num_kv_heads = file.Find(prefix + "attention.head_count_kv")
                            ? PositiveInt(file, prefix + "attention.head_count_kv")
                            : config.num_heads;
  config.context_length = PositiveInt(file, prefix + "context_length");
  config.head_dim = file.Find(prefix + "attention.key_length")
                        ? PositiveInt(file, prefix + "attention.key_length")
                        : config.hidden_size / config.num_heads;
  if (file.Find(prefix + "attention.value_length") &&
      PositiveInt(file, prefix + "attention.value_length") != config.head_dim) {
    Fail("different key and value head sizes are not supported");
  }
  config.rms_norm_eps =
      static_cast<float>(file.GetFloatOr(prefix + "attention.layer_norm_rms_epsilon", 1e-5));
  config.rope_theta = static_cast<float>(file.GetFloatOr(prefix + "rope.freq_base", 10000.0));
  config.rope_dims = file.Find(prefix + "rope.dimension_count")
                         ? PositiveInt(file, prefix + "rope.dimension_count")
                         : config.head_dim;
  const std::string scaling = file.GetStringOr(prefix + "rope.scaling.type", "none");
  if (scaling == "linear") {
    config.rope_linear_scale =
        static_cast<float>(file.GetFloatOr(prefix + "rope.scaling.factor", 1.0));
  } else if (scaling != "none") {
    Fail("unsupported rope scaling type '{}'", scaling);
  }
  config.rope_layout = traits->rope_layout;
  config.qkv_bias = traits->qkv_bias;
  config.qk_norm = traits->qk_norm;

  if (config.num_heads % config.num_kv_heads != 0) {
    Fail("head count {} is not a multiple of the kv head count {}", config.num_heads,
         config.num_kv_heads);
  }
  if (config.rope_dims > config.head_dim || config.rope_dims % 2 != 0) {
    Fail("rope dimension count {} does not fit head size {}", config.rope_dims, config.head_dim);
  }
  if (config.rms_norm_eps <= 0 || config.rope_theta <= 0 || config.rope_linear_scale <= 0) {
    Fail("non-positive rms epsilon, rope base or rope scale in metadata");
  }
  return config;
}

}  // namespace ri
