// AVX2 + FMA + F16C matmul kernels; this file alone is compiled with those
// instruction sets and runs only when ActiveSimdLevel() is kAvx2.
// A block of 32 weights is four 8-lane vectors; vectors 0, 2 and 1, 3 share
// the two accumulators of a (weight row, x row) pair so that four x rows fit
// in the 16 registers.
#include <immintrin.h>

#include <cstring>

#include "kernels/matmul_simd.h"

namespace ri::simd {

namespace {

// The two f16 values at `p` (d, then m) as floats in lanes 0 and 1.
__m128 LoadTwoFp16(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
}

__m256 LoadFp16Scale(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(bits)));
}

__m128i Load16Bytes(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// The 32 nibbles of 16 bytes in element order (low nibbles of bytes 0..15,
// then high nibbles) as four vectors of 8 int32.
void UnpackNibbles(const uint8_t* p, __m256i* q) {
  const __m128i bytes = Load16Bytes(p);
  const __m256i first = _mm256_cvtepu8_epi32(bytes);
  const __m256i second = _mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8));
  const __m256i mask = _mm256_set1_epi32(0xF);
  q[0] = _mm256_and_si256(first, mask);
  q[1] = _mm256_and_si256(second, mask);
  q[2] = _mm256_srli_epi32(first, 4);
  q[3] = _mm256_srli_epi32(second, 4);
}

struct Avx2 {
  using Vec = __m256;
  static constexpr int kLanes = 8;
  static constexpr int kVecsPerBlock = 4;
  static constexpr int kAccsPerRow = 2;
  static constexpr int kMaxTile = 4;

  static Vec Zero() { return _mm256_setzero_ps(); }
  static Vec Load(const float* p) { return _mm256_loadu_ps(p); }
  // The first `count` floats at p (any count; <= 0 loads nothing), zeros after.
  static Vec LoadPartial(const float* p, int count) {
    if (count <= 0) return Zero();
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lanes);
    return _mm256_maskload_ps(p, mask);
  }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static float ReduceAdd(const Vec* acc) {
    const __m256 sum = _mm256_add_ps(acc[0], acc[1]);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  struct DecodeF32 {
    static constexpr TensorType kType = TensorType::F32;
    static constexpr size_t kBlockBytes = 128;
    static void Decode(const uint8_t* b, Vec* out) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) out[i] = _mm256_loadu_ps(reinterpret_cast<const float*>(b) + 8 * i);
    }
  };

  struct DecodeF16 {
    static constexpr TensorType kType = TensorType::F16;
    static constexpr size_t kBlockBytes = 64;
    static void Decode(const uint8_t* b, Vec* out) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) out[i] = _mm256_cvtph_ps(Load16Bytes(b + 16 * i));
    }
  };

  // Weights as the reference dequantizer rounds them: d * (q - 8).
  struct DecodeQ4_0 {
    static constexpr TensorType kType = TensorType::Q4_0;
    static constexpr size_t kBlockBytes = 18;
    static void Decode(const uint8_t* b, Vec* out) {
      const __m256 d = LoadFp16Scale(b);
      __m256i q[4];
      UnpackNibbles(b + 2, q);
      const __m256i eight = _mm256_set1_epi32(8);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) out[i] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(q[i], eight)));
    }
  };

  // d * q + m rounded as the reference: d * q is exact (11 x 4 significant
  // bits), so the fused multiply-add rounds once, like the separate add.
  struct DecodeQ4_1 {
    static constexpr TensorType kType = TensorType::Q4_1;
    static constexpr size_t kBlockBytes = 20;
    static void Decode(const uint8_t* b, Vec* out) {
      const __m128 dm = LoadTwoFp16(b);
      const __m256 d = _mm256_broadcastss_ps(dm);
      const __m256 m = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
      __m256i q[4];
      UnpackNibbles(b + 4, q);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) out[i] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q[i]), m);
    }
  };

  struct DecodeQ8_0 {
    static constexpr TensorType kType = TensorType::Q8_0;
    static constexpr size_t kBlockBytes = 34;
    static void Decode(const uint8_t* b, Vec* out) {
      const __m256 d = LoadFp16Scale(b);
#pragma GCC unroll 2
      for (int i = 0; i < 2; ++i) {
        const __m128i bytes = Load16Bytes(b + 2 + 16 * i);
        out[2 * i] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)), d);
        out[2 * i + 1] =
            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(bytes, 8))), d);
      }
    }
  };
};

}  // namespace

void MatMulRowsAvx2(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                    size_t y_stride, int64_t row_begin, int64_t row_end, float* row_scratch,
                    float* x_scratch) {
  MatMulRows<Avx2>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end, row_scratch, x_scratch);
}

}  // namespace ri::simd
