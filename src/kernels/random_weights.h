// Random weight matrices of any computable type, for the kernel tests and
// benchmarks (header-only; not part of the engine).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/types.h"
#include "util/fp16.h"

namespace ri {

// Byte offsets of the f16 scale fields (d, m, dmin) inside a block.
inline std::vector<size_t> ScaleOffsets(TensorType type) {
  switch (type) {
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::Q8_0:
      return {0};
    case TensorType::Q4_1:
    case TensorType::Q5_1:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
      return {0, 2};
    case TensorType::Q6_K:
      return {208};
    default:
      return {};
  }
}

// `num_blocks` blocks of `type`: random quant bits with scales uniform in
// [-0.05, 0.05], or normally distributed values for the float types (never
// a NaN or an infinity, which would time differently).
inline std::vector<uint8_t> RandomWeightBytes(TensorType type, size_t num_blocks,
                                              std::mt19937& rng) {
  const TensorTypeTraits& traits = Traits(type);
  std::vector<uint8_t> bytes(num_blocks * traits.type_size);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  for (size_t i = 0; i < bytes.size(); i += traits.type_size) {
    uint8_t* block = &bytes[i];
    if (type == TensorType::F32) {
      const float v = normal(rng);
      std::memcpy(block, &v, 4);
    } else if (type == TensorType::F16 || type == TensorType::BF16) {
      const float v = normal(rng);
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      const uint16_t h =
          type == TensorType::F16 ? FloatToFp16(v) : static_cast<uint16_t>(bits >> 16);
      std::memcpy(block, &h, 2);
    } else {
      // Four random bytes per draw: the benchmarks fill 256 MB at a time.
      for (size_t j = 0; j < traits.type_size; j += 4) {
        const uint32_t word = rng();
        std::memcpy(block + j, &word, std::min<size_t>(4, traits.type_size - j));
      }
      for (size_t offset : ScaleOffsets(type)) {
        const uint16_t h = FloatToFp16(scale(rng));
        std::memcpy(block + offset, &h, 2);
      }
    }
  }
  return bytes;
}

}  // namespace ri
