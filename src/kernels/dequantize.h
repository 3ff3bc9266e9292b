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

// The 6-bit scale and min of sub-block s (0..7) of a Q4_K / Q5_K block, from
// the block's 12 packed bytes at `scales`. Static, so that each SIMD kernel
// file compiles its own copy with its own instructions (see matmul_simd.h).
static inline void KScaleMin(const uint8_t* scales, int s, uint32_t* scale, uint32_t* min) {
  if (s < 4) {
    *scale = scales[s] & 0x3F;
    *min = scales[s + 4] & 0x3F;
  } else {
    *scale = (scales[s + 4] & 0x0F) | ((scales[s - 4] >> 2) & 0x30);
    *min = (scales[s + 4] >> 4) | ((scales[s] >> 2) & 0x30);
  }
}

}  // namespace ri
