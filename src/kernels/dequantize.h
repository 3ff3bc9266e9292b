// Dequantization of GGUF tensor data to float, bit-identical to the `gguf`
// Python package's reference dequantizer.
#pragma once

#include <cstdint>
#include <cstring>

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

// The little-endian 32-bit word at `p` (Q5_0 / Q5_1's fifth bits).
static inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Q4_0 / Q4_1 / Q5_x nibble order: byte j holds element j (low nibble) and
// element j + 16 (high nibble).
static inline uint32_t Nibble32(const uint8_t* qs, int e) {
  return (qs[e % 16] >> (4 * (e / 16))) & 0xF;
}

// The 5-bit code of element e of a Q5_0 / Q5_1 block: a nibble of qs, and
// bit e of the block's 32-bit qh as the fifth bit.
static inline uint32_t Q5Code(const uint8_t* qs, uint32_t qh, int e) {
  return Nibble32(qs, e) | (((qh >> e) & 1) << 4);
}

// The code of element e (0..255) of a Q4_K (qh null) or Q5_K block: eight
// sub-blocks of 32; sub-block s takes the low (even s) or high (odd s)
// nibbles of qs bytes 32 * (s / 2) ... + 31; Q5_K adds bit s of qh[e % 32]
// as the fifth bit.
static inline uint32_t KCode(const uint8_t* qs, const uint8_t* qh, int e) {
  const int s = e / 32, i = e % 32;
  const uint32_t nibble = (qs[32 * (s / 2) + i] >> (4 * (s % 2))) & 0xF;
  return qh == nullptr ? nibble : nibble | (((qh[i] >> s) & 1) << 4);
}

// The 6-bit code (0..63) of element e (0..255) of a Q6_K block: its low 4
// bits from ql (bytes 0..127), its high 2 bits from qh (bytes 128..191).
static inline uint32_t Q6KCode(const uint8_t* block, int e) {
  const int half = e / 128, j = e % 128;
  const uint32_t low = (block[64 * half + j % 64] >> (4 * (j / 64))) & 0xF;
  const uint32_t high = (block[128 + 32 * half + j % 32] >> (2 * (j / 32))) & 0x3;
  return low | (high << 4);
}

// The unsigned code of element e of a stored block of a 4-, 5- or 6-bit
// type (Q4_0 and Q5_0 before their bias 8 or 16, Q6_K before its 32), as
// the functions above read it; `type` is a constant wherever speed matters,
// so the switch folds away.
static inline uint32_t StoredCode(TensorType type, const uint8_t* block, int e) {
  switch (type) {
    case TensorType::Q4_0:
      return Nibble32(block + 2, e);
    case TensorType::Q4_1:
      return Nibble32(block + 4, e);
    case TensorType::Q5_0:
      return Q5Code(block + 6, LoadU32(block + 2), e);
    case TensorType::Q5_1:
      return Q5Code(block + 8, LoadU32(block + 4), e);
    case TensorType::Q4_K:
      return KCode(block + 16, nullptr, e);
    case TensorType::Q5_K:
      return KCode(block + 48, block + 16, e);
    default:  // Q6_K
      return Q6KCode(block, e);
  }
}

}  // namespace ri
