// Block-reading helpers of the SIMD integer matmul kernels (internal to ri_kernels; included only
// by files compiled with at least AVX2). They sit in an anonymous namespace so that each ISA file
// keeps its own copy, built with its own instruction set (see matmul_simd.h).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/matmul_q8_simd.h"
#include "kernels/x86_intrinsics.h"

namespace ri::simd {
namespace {

template <class T>
T LoadAs(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

float Fp16At(const uint8_t* p) { return _cvtsh_ss(LoadAs<uint16_t>(p)); }

// The 32 nibbles of the 16 bytes at p as bytes in element order: low
// nibbles (elements 0-15), then high nibbles (16-31).
__m256i NibblesInOrder(const uint8_t* p) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i low4 = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), low4),
                          _mm_and_si128(bytes, low4));
}

// The block's 32 weight codes as bytes: unsigned nibbles (Q4_0 before its
// bias of 8), or Q8_0's signed codes.
template <class Format>
__m256i BlockCodes(const uint8_t* block) {
  if constexpr (std::is_same_v<Format, FormatQ8_0>) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + Format::kCodesAt));
  } else {
    return NibblesInOrder(block + Format::kCodesAt);
  }
}

}  // namespace
}  // namespace ri::simd
