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

// The 8 bytes at p, one per 32-bit lane.
__m256i Widen8Bytes(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

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

// Q5_0 / Q5_1 codes: UnpackNibbles with bit e of `high_bits` as element e's
// fifth bit.
void UnpackFiveBits(const uint8_t* p, uint32_t high_bits, __m256i* q) {
  UnpackNibbles(p, q);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i one = _mm256_set1_epi32(1);
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    const __m256i bits =
        _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(high_bits >> (8 * i))), lanes);
    q[i] = _mm256_or_si256(q[i], _mm256_slli_epi32(_mm256_and_si256(bits, one), 4));
  }
}

// Q4_K / Q5_K: d * scale of sub-block s at out[s] and dmin * min at
// out[8 + s], as the reference computes them (exact: 11 x 6 significant bits).
void UnpackKScales(const uint8_t* block, float* out) {
  alignas(32) uint32_t bits[16];
  for (int s = 0; s < 8; ++s) KScaleMin(block + 4, s, &bits[s], &bits[8 + s]);
  const __m128 dm = LoadTwoFp16(block);
  const __m256 d = _mm256_broadcastss_ps(dm);
  const __m256 dmin = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
  const auto* lanes = reinterpret_cast<const __m256i*>(bits);
  _mm256_store_ps(out, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_load_si256(lanes)), d));
  _mm256_store_ps(out + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_load_si256(lanes + 1)), dmin));
}

struct Avx2 {
  using Vec = __m256;
  static constexpr int kLanes = 8;
  static constexpr int kVecsPerSubBlock = 4;
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

  struct DecodeF32 : BlockDecoder<TensorType::F32, 128> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) out[i] = _mm256_loadu_ps(reinterpret_cast<const float*>(b) + 8 * i);
    }
  };

  struct DecodeF16 : BlockDecoder<TensorType::F16, 64> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) out[i] = _mm256_cvtph_ps(Load16Bytes(b + 16 * i));
    }
  };

  // The weights of a block's 32 codes `q` as the reference dequantizer
  // rounds them: d * (q - bias), with the f16 d at `fields` (exact).
  static void ScaledLessBias(const uint8_t* fields, const __m256i* q, int bias, Vec* out) {
    const __m256 d = LoadFp16Scale(fields);
    const __m256i offset = _mm256_set1_epi32(bias);
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      out[i] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(q[i], offset)));
    }
  }

  // d * q + m, with the f16 pair d, m at `fields`: d * q is exact (11 x 5
  // significant bits at most), so the fused multiply-add rounds once, like
  // the reference's separate add.
  static void ScaledPlusOffset(const uint8_t* fields, const __m256i* q, Vec* out) {
    const __m128 dm = LoadTwoFp16(fields);
    const __m256 d = _mm256_broadcastss_ps(dm);
    const __m256 m = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) out[i] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q[i]), m);
  }

  struct DecodeQ4_0 : BlockDecoder<TensorType::Q4_0, 18> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
      __m256i q[4];
      UnpackNibbles(b + 2, q);
      ScaledLessBias(b, q, 8, out);
    }
  };

  struct DecodeQ4_1 : BlockDecoder<TensorType::Q4_1, 20> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
      __m256i q[4];
      UnpackNibbles(b + 4, q);
      ScaledPlusOffset(b, q, out);
    }
  };

  struct DecodeQ8_0 : BlockDecoder<TensorType::Q8_0, 34> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
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

  // A BF16 value is the top half of a float's bits.
  struct DecodeBF16 : BlockDecoder<TensorType::BF16, 64> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        out[i] = _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(Load16Bytes(b + 16 * i)), 16));
      }
    }
  };

  struct DecodeQ5_0 : BlockDecoder<TensorType::Q5_0, 22> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
      __m256i q[4];
      UnpackFiveBits(b + 6, LoadU32(b + 2), q);
      ScaledLessBias(b, q, 16, out);
    }
  };

  struct DecodeQ5_1 : BlockDecoder<TensorType::Q5_1, 24> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
      __m256i q[4];
      UnpackFiveBits(b + 8, LoadU32(b + 4), q);
      ScaledPlusOffset(b, q, out);
    }
  };

  // Q4_K and Q5_K: the block's unpacked scales and the 4-bit codes of its
  // sub-blocks, in the 32 bytes at kCodes + 32 * (s / 2) (layouts described
  // in matmul_avx512.cc).
  template <TensorType kT, size_t kBytes, size_t kCodes>
  struct KQuantDecoder : BlockDecoder<kT, kBytes, 8> {
    explicit KQuantDecoder(const uint8_t* block) : BlockDecoder<kT, kBytes, 8>(block) {
      UnpackKScales(block, scales);
    }
    // Codes 8 * i ... 8 * i + 7 of sub-block s.
    __m256i Nibbles(int s, int i) const {
      const __m256i bytes = Widen8Bytes(this->b + kCodes + 32 * (s / 2) + 8 * i);
      return _mm256_and_si256(_mm256_srli_epi32(bytes, 4 * (s % 2)), _mm256_set1_epi32(0xF));
    }
    // d * scale * q - dmin * min, one rounding (the product is exact).
    __m256 Weights(int s, __m256i q) const {
      return _mm256_fmsub_ps(_mm256_set1_ps(scales[s]), _mm256_cvtepi32_ps(q),
                             _mm256_set1_ps(scales[8 + s]));
    }
    alignas(32) float scales[16];
  };

  struct DecodeQ4_K : KQuantDecoder<TensorType::Q4_K, 144, 16> {
    using KQuantDecoder::KQuantDecoder;
    void Decode(int s, Vec* out) const {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) out[i] = Weights(s, Nibbles(s, i));
    }
  };

  // Q4_K's codes with bit s of the 32 bytes at 16 as the fifth bit.
  struct DecodeQ5_K : KQuantDecoder<TensorType::Q5_K, 176, 48> {
    using KQuantDecoder::KQuantDecoder;
    void Decode(int s, Vec* out) const {
      const __m256i one = _mm256_set1_epi32(1);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        const __m256i high =
            _mm256_and_si256(_mm256_srli_epi32(Widen8Bytes(b + 16 + 8 * i), s), one);
        out[i] = Weights(s, _mm256_or_si256(Nibbles(s, i), _mm256_slli_epi32(high, 4)));
      }
    }
  };

  struct DecodeQ6_K : BlockDecoder<TensorType::Q6_K, 210, 8> {
    explicit DecodeQ6_K(const uint8_t* block) : BlockDecoder(block) {
      const __m256 d = LoadFp16Scale(block + 208);
      const __m128i scale_bytes = Load16Bytes(block + 192);
      _mm256_store_ps(scales,
                      _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(scale_bytes))));
      _mm256_store_ps(scales + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                                       _mm_srli_si128(scale_bytes, 8)))));
    }
    void Decode(int s, Vec* out) const {
      const int half = s / 4;
      const int quarter = s % 4;
      const uint8_t* low_bytes = b + 64 * half + 32 * (quarter % 2);
      const uint8_t* high_bytes = b + 128 + 32 * half;
      const int low_shift = 4 * (quarter / 2);
      const int high_shift = 2 * quarter;
      const __m256i nibble = _mm256_set1_epi32(0xF);
      const __m256i two_bits = _mm256_set1_epi32(0x3);
      const __m256i thirty_two = _mm256_set1_epi32(32);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        const __m256i low =
            _mm256_and_si256(_mm256_srli_epi32(Widen8Bytes(low_bytes + 8 * i), low_shift), nibble);
        const __m256i high = _mm256_and_si256(
            _mm256_srli_epi32(Widen8Bytes(high_bytes + 8 * i), high_shift), two_bits);
        const __m256i q =
            _mm256_sub_epi32(_mm256_or_si256(low, _mm256_slli_epi32(high, 4)), thirty_two);
        out[i] = _mm256_mul_ps(_mm256_set1_ps(scales[2 * s + i / 2]), _mm256_cvtepi32_ps(q));
      }
    }
    alignas(32) float scales[16];  // d * scale of weights 16 * i ... 16 * i + 15
  };
};

}  // namespace

void MatMulRowsAvx2(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                    size_t y_stride, int64_t row_begin, int64_t row_end, float* x_scratch) {
  MatMulRows<Avx2>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end, x_scratch);
}

}  // namespace ri::simd
