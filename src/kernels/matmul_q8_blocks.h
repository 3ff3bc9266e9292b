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

[[maybe_unused]] float Fp16At(const uint8_t* p) { return _cvtsh_ss(LoadAs<uint16_t>(p)); }

}  // namespace
}  // namespace ri::simd
