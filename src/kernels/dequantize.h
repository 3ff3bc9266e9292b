// Dequantization of GGUF tensor data to float, bit-identical to the `gguf`
// Python package's reference dequantizer.
#pragma once

#include <cstdint>

#include "kernels/types.h"

namespace ri {

// Dequantizes `n` elements stored in `type` from `blocks` into `out`.
// `n` must be a multiple of the type's block size; `blocks` starts at a block.
// Throws ri::Error for types that are not computable.
void DequantizeRow(TensorType type, const void* blocks, float* out, int64_t n);

}  // namespace ri
