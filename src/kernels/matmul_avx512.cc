// AVX-512 (F/BW/VL/DQ + FMA + F16C) matmul kernels; this file alone is
// compiled with those instruction sets and runs only when ActiveSimdLevel()
// is kAvx512. A block of 32 weights is two 16-lane vectors, one accumulator
// each.
#include "kernels/x86_intrinsics.h"

#include <cstring>

#include "kernels/matmul_simd.h"

namespace ri::simd {

namespace {

// The two f16 values at `p` (d, then m) as floats in alternate lanes.
__m512 LoadFp16Pair(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return _mm512_cvtph_ps(_mm256_set1_epi32(static_cast<int>(bits)));
}

__m512 LoadFp16Scale(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return _mm512_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(bits)));
}

__m128i Load16Bytes(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// Elements 0..15 (low nibbles of the 16 bytes at p) and 16..31 (high
// nibbles) mapped through `table`; vpermps uses only the low 4 bits of each
// index, so low nibbles need no masking.
void LookUpNibbles(const uint8_t* p, __m512 table, __m512* out) {
  const __m512i bytes = _mm512_cvtepu8_epi32(Load16Bytes(p));
  out[0] = _mm512_permutexvar_ps(bytes, table);
  out[1] = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), table);
}

struct Avx512 {
  using Vec = __m512;
  static constexpr int kLanes = 16;
  static constexpr int kVecsPerBlock = 2;
  static constexpr int kAccsPerRow = 2;
  static constexpr int kMaxTile = 8;

  static Vec Zero() { return _mm512_setzero_ps(); }
  static Vec Load(const float* p) { return _mm512_loadu_ps(p); }
  // The first `count` floats at p (any count; <= 0 loads nothing), zeros after.
  static Vec LoadPartial(const float* p, int count) {
    if (count <= 0) return Zero();
    const __mmask16 mask = count >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << count) - 1);
    return _mm512_maskz_loadu_ps(mask, p);
  }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static float ReduceAdd(const Vec* acc) { return _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1])); }

  struct DecodeF32 {
    static constexpr TensorType kType = TensorType::F32;
    static constexpr size_t kBlockBytes = 128;
    static void Decode(const uint8_t* b, Vec* out) {
      out[0] = _mm512_loadu_ps(b);
      out[1] = _mm512_loadu_ps(b + 64);
    }
  };

  struct DecodeF16 {
    static constexpr TensorType kType = TensorType::F16;
    static constexpr size_t kBlockBytes = 64;
    static void Decode(const uint8_t* b, Vec* out) {
      out[0] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)));
      out[1] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32)));
    }
  };

  // Q4_0 / Q4_1 weights through a 16-entry table per block holding the
  // weight of each nibble value exactly as the reference rounds it:
  // d * (q - 8), or d * q + m (d * q is exact, 11 x 4 significant bits, so
  // one fused rounding equals the reference's multiply then add). Measured
  // faster than converting each nibble to float.
  struct DecodeQ4_0 {
    static constexpr TensorType kType = TensorType::Q4_0;
    static constexpr size_t kBlockBytes = 18;
    static void Decode(const uint8_t* b, Vec* out) {
      const __m512 offsets = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
      LookUpNibbles(b + 2, _mm512_mul_ps(LoadFp16Scale(b), offsets), out);
    }
  };

  struct DecodeQ4_1 {
    static constexpr TensorType kType = TensorType::Q4_1;
    static constexpr size_t kBlockBytes = 20;
    static void Decode(const uint8_t* b, Vec* out) {
      const __m512 dm = LoadFp16Pair(b);  // d, m, d, m, ...
      const __m512 values = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
      const __m512 table = _mm512_fmadd_ps(_mm512_permute_ps(dm, 0x00), values, _mm512_permute_ps(dm, 0x55));
      LookUpNibbles(b + 4, table, out);
    }
  };

  // q * d as the reference.
  struct DecodeQ8_0 {
    static constexpr TensorType kType = TensorType::Q8_0;
    static constexpr size_t kBlockBytes = 34;
    static void Decode(const uint8_t* b, Vec* out) {
      const __m512 d = LoadFp16Scale(b);
      out[0] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(Load16Bytes(b + 2))), d);
      out[1] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(Load16Bytes(b + 18))), d);
    }
  };
};

}  // namespace

void MatMulRowsAvx512(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                      size_t y_stride, int64_t row_begin, int64_t row_end, float* row_scratch,
                      float* x_scratch) {
  MatMulRows<Avx512>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end, row_scratch,
                     x_scratch);
}

}  // namespace ri::simd
