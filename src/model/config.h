// Hyper-parameters of a transformer, read from GGUF metadata.
#pragma once

#include <string>

namespace ri::gguf {
class File;
}

namespace ri {

// How RoPE pairs the dimensions of a head.
enum class RopeLayout {
  kAdjacentPairs,  // (0,1), (2,3), ...: llama GGUFs (Q/K rows are stored permuted for it)
  kHalves,         // (i, i + d/2): qwen2, qwen3 ("NEOX" order)
};

struct ModelConfig {
  std::string architecture;  // "llama", "qwen2", "qwen3"
  std::string name;          // general.name
  int num_layers = 0;
  int hidden_size = 0;
  int ffn_size = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  int context_length = 0;  // trained context
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  int rope_dims = 0;            // leading dims of a head that rotate
  float rope_linear_scale = 1;  // positions are divided by it (rope.scaling.type = linear)
  RopeLayout rope_layout = RopeLayout::kAdjacentPairs;
  bool qkv_bias = false;  // qwen2
  bool qk_norm = false;   // qwen3: RMSNorm of each q and k head before RoPE

  // Throws ri::Error for unknown architectures and missing or inconsistent keys.
  static ModelConfig FromGguf(const gguf::File& file);
};

}  // namespace ri
