// The tensor element formats of GGUF files (ids as stored in the file) and
// their block geometry: `block_size` elements are stored in `type_size` bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ri {

enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct TensorTypeTraits {
  std::string_view name;
  uint32_t block_size;  // elements per block
  uint32_t type_size;   // bytes per block
  bool computable;      // this engine can dequantize it and multiply with it
};

// Traits of a raw type id from a file; nullopt for ids this engine does not know.
std::optional<TensorTypeTraits> FindTensorTypeTraits(uint32_t type_id);
// Traits of a known type.
const TensorTypeTraits& Traits(TensorType type);

}  // namespace ri
