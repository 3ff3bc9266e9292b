// Reading the blocks of weight strips (weight_strips.h) in the AVX-512
// kernels (internal to ri_kernels): lane vectors, f16 fields, the K
// formats' scales, and codes as the integer kernels take them. Every
// function is always inlined, so each kernel file's calls compile with that
// file's instruction set (see matmul_simd.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/matmul.h"
#include "kernels/weight_strips.h"
#include "kernels/x86_intrinsics.h"

namespace ri::simd {

// A block's 16 f16 fields at `fields` (d, and m or dmin after them), as floats.
[[gnu::always_inline]] inline __m512 LoadFields(const uint8_t* fields) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(fields)));
}

// Lane vector `v` of a strip block (blocks are only 32-byte aligned).
[[gnu::always_inline]] inline __m512i LoadLane(const uint8_t* block, int v) {
  return _mm512_loadu_si512(block + WeightStrips::kVectorBytes * v);
}

// Lane byte `n` of a block (byte n % 4 of lane vector n / 4) of each row,
// sign-extended: Q6_K's scales.
[[gnu::always_inline]] inline __m512i SignedLaneByte(const uint8_t* block, int n) {
  return _mm512_srai_epi32(_mm512_slli_epi32(LoadLane(block, n / 4), 24 - 8 * (n % 4)), 24);
}

// Scale and min k of a Q4_K / Q5_K block (KScaleMin, dequantize.h) in 16
// lanes, as d_k = d * scale and the min term -dmin * min (both exact): lane
// vectors 0 .. 2 hold packed bytes 0-3, 4-7 and 8-11 of each row, `fields`
// the block's d and dmin.
[[gnu::always_inline]] inline void KScales(const uint8_t* block, const uint8_t* fields, int k,
                                           __m512* d, __m512* m) {
  const __m512i lanes[3] = {LoadLane(block, 0), LoadLane(block, 1), LoadLane(block, 2)};
  const __m512i low6 = _mm512_set1_epi32(0x3F);
  __m512i scale, min;
  if (k < 4) {
    scale = _mm512_and_epi32(_mm512_srli_epi32(lanes[0], 8 * k), low6);
    min = _mm512_and_epi32(_mm512_srli_epi32(lanes[1], 8 * k), low6);
  } else {
    // Bits 0-3 from byte k + 4, bits 4-5 from bits 6-7 of byte k - 4 (the
    // scale) or k (the min); 0xCA: a ? b : c.
    const int at = 8 * (k - 4);
    const __m512i low4 = _mm512_set1_epi32(0x0F);
    scale = _mm512_and_epi32(_mm512_ternarylogic_epi32(low4, _mm512_srli_epi32(lanes[2], at),
                                                       _mm512_srli_epi32(lanes[0], at + 2), 0xCA),
                             low6);
    min = _mm512_and_epi32(_mm512_ternarylogic_epi32(low4, _mm512_srli_epi32(lanes[2], at + 4),
                                                     _mm512_srli_epi32(lanes[1], at + 2), 0xCA),
                           low6);
  }
  *d = _mm512_mul_ps(LoadFields(fields), _mm512_cvtepi32_ps(scale));
  const __m512 minus_dmin =
      _mm512_xor_ps(LoadFields(fields + WeightStrips::kFieldBytes), _mm512_set1_ps(-0.0F));
  *m = _mm512_mul_ps(minus_dmin, _mm512_cvtepi32_ps(min));
}

// The lane vector of a block in the integer kernels' layout (weight_strips.h)
// that holds stored byte `at` of each row.
template <TensorType kType>
[[gnu::always_inline]] inline __m512i LaneHolding(const uint8_t* block, size_t at) {
  constexpr size_t kFrom = WeightStrips::LayoutOf(kType, ActivationPrecision::kQ8).lane_from;
  return LoadLane(block, static_cast<int>((at - kFrom) / 4));
}

// Each byte's bits from bit `from` on moved to bit `to` on (32-bit shifts
// move bits across bytes too: callers mask them off).
[[gnu::always_inline]] inline __m512i MoveBits(__m512i v, int from, int to) {
  if (from == to) return v;
  return from < to ? _mm512_slli_epi32(v, to - from) : _mm512_srli_epi32(v, from - to);
}

// `nibbles` (a byte per code) with their fifth bits, bit `bit` of each byte
// of `fifth_bits`, added as bit 4 (the other bits move too, and are masked
// off; 0xF8: a | (b & c)).
[[gnu::always_inline]] inline __m512i WithFifthBit(__m512i nibbles, __m512i fifth_bits, int bit) {
  return _mm512_ternarylogic_epi32(nibbles, MoveBits(fifth_bits, bit, 4), _mm512_set1_epi8(0x10),
                                   0xF8);
}

// Codes 4v .. 4v + 3 (v < 8) of a Q4_0, Q4_1, Q5_0 or Q5_1 block in the
// integer kernels' layout, a byte each, for the 16 rows of a strip: the
// nibbles of lane vector v % 4 (the low ones for v < 4), and Q5's fifth bits
// from the vector after them.
template <class Format>
[[gnu::always_inline]] inline __m512i NibbleCodes(const uint8_t* block, int v) {
  const __m512i nibbles =
      _mm512_and_si512(MoveBits(LoadLane(block, v % 4), 4 * (v / 4), 0), _mm512_set1_epi8(0x0F));
  if constexpr (Format::kCodeBits == 4) return nibbles;
  return WithFifthBit(nibbles, LoadLane(block, 4), v);
}

// Codes 4v .. 4v + 3 of 32-weight sub-block k of a K block, a byte each,
// for the 16 rows of a strip: nibbles (sub-blocks 2g and 2g + 1 share
// bytes), and Q5_K's fifth bit (bit k of its fifth-bit byte) or Q6_K's two
// high bits (bits 2 (k % 4) of its qh byte) as bits 4 on.
template <class Format>
[[gnu::always_inline]] inline __m512i KCodes(const uint8_t* block, int k, int v) {
  constexpr TensorType kT = Format::kType;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  if constexpr (kT == TensorType::Q6_K) {
    const int half = k / 4, quarter = k % 4;
    const __m512i low = LaneHolding<kT>(block, 64 * half + 32 * (k % 2) + 4 * v);
    const __m512i high = LaneHolding<kT>(block, 128 + 32 * half + 4 * v);
    return _mm512_ternarylogic_epi32(_mm512_and_si512(MoveBits(low, 4 * (quarter / 2), 0), low4),
                                     MoveBits(high, 2 * quarter, 4), _mm512_set1_epi8(0x30), 0xF8);
  } else {
    const __m512i nibbles = _mm512_and_si512(
        MoveBits(LaneHolding<kT>(block, Format::kCodesAt + 32 * (k / 2) + 4 * v), 4 * (k % 2), 0),
        low4);
    if constexpr (kT == TensorType::Q4_K) return nibbles;
    return WithFifthBit(nibbles, LaneHolding<kT>(block, Format::kFifthBitsAt + 4 * v), k);
  }
}

}  // namespace ri::simd
