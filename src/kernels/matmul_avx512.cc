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

// The f16 value at `p` in every lane (a broadcast, then one conversion:
// fewer instructions than converting the scalar first).
__m512 LoadFp16Scale(const uint8_t* p) {
  int16_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return _mm512_cvtph_ps(_mm256_set1_epi16(bits));
}

__m128i Load16Bytes(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// The 16 bytes at p, one per 32-bit lane.
__m512i WidenBytes(const uint8_t* p) { return _mm512_cvtepu8_epi32(Load16Bytes(p)); }

// 0, 1, ..., 15: the codes a 16-entry table is indexed by.
__m512 Codes() { return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }

// Elements 0..15 (low nibbles of the 16 bytes at p) and 16..31 (high
// nibbles) mapped through `table`; vpermps uses only the low 4 bits of each
// index, so low nibbles need no masking.
void LookUpNibbles(const uint8_t* p, __m512 table, __m512* out) {
  const __m512i bytes = WidenBytes(p);
  out[0] = _mm512_permutexvar_ps(bytes, table);
  out[1] = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), table);
}

// Q5_0 / Q5_1: the nibbles of LookUpNibbles with bit e of `high_bits` as
// element e's fifth bit, mapped through the 32-entry table whose entries
// 0..15 are `low` and 16..31 `high` (vpermt2ps reads 5 index bits).
void LookUpFiveBits(const uint8_t* p, uint32_t high_bits, __m512 low, __m512 high, __m512* out) {
  const __m512i bytes = WidenBytes(p);
  const __m512i sixteen = _mm512_set1_epi32(16);
  const __m512i first = _mm512_and_epi32(bytes, _mm512_set1_epi32(0xF));
  const __m512i second = _mm512_srli_epi32(bytes, 4);
  const auto first_bits = static_cast<__mmask16>(high_bits);
  const auto second_bits = static_cast<__mmask16>(high_bits >> 16);
  out[0] =
      _mm512_permutex2var_ps(low, _mm512_mask_or_epi32(first, first_bits, first, sixteen), high);
  out[1] =
      _mm512_permutex2var_ps(low, _mm512_mask_or_epi32(second, second_bits, second, sixteen), high);
}

// Q4_K / Q5_K: d * scale of sub-block s at out[s] and dmin * min at
// out[8 + s], as the reference computes them (exact: 11 x 6 significant bits).
// The 16 6-bit fields are KScaleMin's (dequantize.h), unpacked in vector
// lanes: each is (A >> a_shift) & a_mask, or'ed with bits 6-7 of B moved to
// bits 4-5 where b_mask keeps them. (Unpacked one by one and then loaded as a
// vector, the Q4_K product took 1.66x as long.)
void UnpackKScales(const uint8_t* block, float* out) {
  const __m512i bytes = WidenBytes(block + 4);
  const __m512i a = _mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11), bytes);
  const __m512i b = _mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 4, 5, 6, 7), bytes);
  const __m512i a_shift = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4);
  const __m512i a_mask =
      _mm512_setr_epi32(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15);
  const __m512i b_mask = _mm512_setr_epi32(0, 0, 0, 0, 48, 48, 48, 48, 0, 0, 0, 0, 48, 48, 48, 48);
  const __m512i bits = _mm512_or_epi32(_mm512_and_epi32(_mm512_srlv_epi32(a, a_shift), a_mask),
                                       _mm512_and_epi32(_mm512_srli_epi32(b, 2), b_mask));
  int16_t d, dmin;
  std::memcpy(&d, block, sizeof d);
  std::memcpy(&dmin, block + 2, sizeof dmin);
  const __m512 factors = _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16(dmin), _mm_set1_epi16(d)));
  _mm512_store_ps(out, _mm512_mul_ps(_mm512_cvtepi32_ps(bits), factors));
}

struct Avx512 {
  using Vec = __m512;
  static constexpr int kLanes = 16;
  static constexpr int kVecsPerSubBlock = 2;
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

  struct DecodeF32 : BlockDecoder<TensorType::F32, 128> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
      out[0] = _mm512_loadu_ps(b);
      out[1] = _mm512_loadu_ps(b + 64);
    }
  };

  struct DecodeF16 : BlockDecoder<TensorType::F16, 64> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
      out[0] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)));
      out[1] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32)));
    }
  };

  // A BF16 value is the top half of a float's bits.
  struct DecodeBF16 : BlockDecoder<TensorType::BF16, 64> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
#pragma GCC unroll 2
      for (int v = 0; v < 2; ++v) {
        const __m256i halves = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32 * v));
        out[v] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(halves), 16));
      }
    }
  };

  // The Q4 and Q5 formats go through a table per block holding the weight of
  // each code exactly as the reference rounds it: d * (q - 8), d * q + m, ...
  // (d * q is exact, 11 x 5 significant bits at most, so one fused rounding
  // equals the reference's multiply then add). For Q4_0 and Q4_1 this
  // measured faster than converting each code to float.
  struct DecodeQ4_0 : BlockDecoder<TensorType::Q4_0, 18> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
      const __m512 table =
          _mm512_mul_ps(LoadFp16Scale(b), _mm512_sub_ps(Codes(), _mm512_set1_ps(8)));
      LookUpNibbles(b + 2, table, out);
    }
  };

  struct DecodeQ4_1 : BlockDecoder<TensorType::Q4_1, 20> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
      const __m512 dm = LoadFp16Pair(b);  // d, m, d, m, ...
      const __m512 table =
          _mm512_fmadd_ps(_mm512_permute_ps(dm, 0x00), Codes(), _mm512_permute_ps(dm, 0x55));
      LookUpNibbles(b + 4, table, out);
    }
  };

  struct DecodeQ5_0 : BlockDecoder<TensorType::Q5_0, 22> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
      const __m512 d = LoadFp16Scale(b);
      const __m512 low = _mm512_mul_ps(d, _mm512_sub_ps(Codes(), _mm512_set1_ps(16)));
      LookUpFiveBits(b + 6, LoadU32(b + 2), low, _mm512_mul_ps(d, Codes()), out);
    }
  };

  struct DecodeQ5_1 : BlockDecoder<TensorType::Q5_1, 24> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
      const __m512 dm = LoadFp16Pair(b);
      const __m512 d = _mm512_permute_ps(dm, 0x00);
      const __m512 m = _mm512_permute_ps(dm, 0x55);
      const __m512 low = _mm512_fmadd_ps(d, Codes(), m);
      const __m512 high = _mm512_fmadd_ps(d, _mm512_add_ps(Codes(), _mm512_set1_ps(16)), m);
      LookUpFiveBits(b + 8, LoadU32(b + 4), low, high, out);
    }
  };

  // q * d as the reference.
  struct DecodeQ8_0 : BlockDecoder<TensorType::Q8_0, 34> {
    using BlockDecoder::BlockDecoder;
    void Decode(int /*sub*/, Vec* out) const {
      const __m512 d = LoadFp16Scale(b);
      out[0] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(Load16Bytes(b + 2))), d);
      out[1] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(Load16Bytes(b + 18))), d);
    }
  };

  // Q4_K and Q5_K: the block's unpacked scales (UnpackKScales), and sub-block
  // s's codes: the low (even s) or high (odd s) nibbles of the 32 bytes at
  // kCodes + 32 * (s / 2). A weight is d * scale * q - dmin * min (d * scale
  // * q exact: 17 x 5 significant bits at most).
  template <TensorType kT, size_t kBytes, size_t kCodes>
  struct KQuantDecoder : BlockDecoder<kT, kBytes, 8> {
    explicit KQuantDecoder(const uint8_t* block) : BlockDecoder<kT, kBytes, 8>(block) {
      UnpackKScales(block, scales);
    }
    // Codes 16 * v ... 16 * v + 15 of sub-block s in bits 0-3 of each lane
    // (the bits above are the other nibble's, for even s).
    __m512i Nibbles(int s, int v) const {
      return _mm512_srli_epi32(WidenBytes(this->b + kCodes + 32 * (s / 2) + 16 * v), 4 * (s % 2));
    }
    // The weight of each code 0..15 + offset, exactly.
    __m512 Table(int s, float offset) const {
      return _mm512_fmsub_ps(_mm512_set1_ps(scales[s]),
                             _mm512_add_ps(Codes(), _mm512_set1_ps(offset)),
                             _mm512_set1_ps(scales[8 + s]));
    }
    alignas(64) float scales[16];
  };

  struct DecodeQ4_K : KQuantDecoder<TensorType::Q4_K, 144, 16> {
    using KQuantDecoder::KQuantDecoder;
    void Decode(int s, Vec* out) const {
      const __m512 table = Table(s, 0);
      // vpermps reads the low 4 bits of each index only.
      out[0] = _mm512_permutexvar_ps(Nibbles(s, 0), table);
      out[1] = _mm512_permutexvar_ps(Nibbles(s, 1), table);
    }
  };

  // Q4_K's codes with bit s of the 32 bytes at 16 as the fifth bit.
  struct DecodeQ5_K : KQuantDecoder<TensorType::Q5_K, 176, 48> {
    using KQuantDecoder::KQuantDecoder;
    void Decode(int s, Vec* out) const {
      const __m512 low = Table(s, 0);
      const __m512 high = Table(s, 16);
      // Rotating the high-bit bytes by 4 - s puts bit s at bit 4 of the index.
      const __m512i rotation = _mm512_set1_epi32((4 - s) & 31);
#pragma GCC unroll 2
      for (int v = 0; v < 2; ++v) {
        const __m512i high_bit = _mm512_rolv_epi32(WidenBytes(b + 16 + 16 * v), rotation);
        // Bits 0-3 from the nibble, the others from `high_bit` (0xCA: a ? b :
        // c); vpermt2ps reads bits 0-4 only.
        const __m512i index =
            _mm512_ternarylogic_epi32(_mm512_set1_epi32(0x0F), Nibbles(s, v), high_bit, 0xCA);
        out[v] = _mm512_permutex2var_ps(low, index, high);
      }
    }
  };

  // Sub-block s (half h = s / 4 of the block, quarter t = s % 4 of the half):
  // low 4 bits from the bytes at 64 * h + 32 * (t % 2) (high nibbles when
  // t >= 2), high 2 bits at shift 2 * t of the bytes at 128 + 32 * h; the
  // weight is (d * scale) * (q - 32), with one int8 scale per 16 weights.
  struct DecodeQ6_K : BlockDecoder<TensorType::Q6_K, 210, 8> {
    explicit DecodeQ6_K(const uint8_t* block) : BlockDecoder(block) {
      const __m512i scale_bytes = _mm512_cvtepi8_epi32(Load16Bytes(block + 192));
      _mm512_store_ps(scales,
                      _mm512_mul_ps(LoadFp16Scale(block + 208), _mm512_cvtepi32_ps(scale_bytes)));
    }
    void Decode(int s, Vec* out) const {
      const int half = s / 4;
      const int quarter = s % 4;
      const uint8_t* low_bytes = b + 64 * half + 32 * (quarter % 2);
      const uint8_t* high_bytes = b + 128 + 32 * half;
      const int low_shift = 4 * (quarter / 2);
      const int high_shift = 2 * quarter;
#pragma GCC unroll 2
      for (int v = 0; v < 2; ++v) {
        const __m512i low = _mm512_srli_epi32(WidenBytes(low_bytes + 16 * v), low_shift);
        const __m512i high =
            _mm512_slli_epi32(_mm512_srli_epi32(WidenBytes(high_bytes + 16 * v), high_shift), 4);
        // Bits 0-3 from `low`, the others from `high` (0xCA: a ? b : c), then 6 bits.
        const __m512i q =
            _mm512_and_epi32(_mm512_ternarylogic_epi32(_mm512_set1_epi32(0x0F), low, high, 0xCA),
                             _mm512_set1_epi32(0x3F));
        const __m512 ds = _mm512_set1_ps(scales[2 * s + v]);
        out[v] = _mm512_mul_ps(ds, _mm512_cvtepi32_ps(_mm512_sub_epi32(q, _mm512_set1_epi32(32))));
      }
    }
    alignas(64) float scales[16];  // d * scale of weights 16 * i ... 16 * i + 15
  };
};

}  // namespace

void MatMulRowsAvx512(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                      size_t y_stride, int64_t row_begin, int64_t row_end, float* x_scratch) {
  MatMulRows<Avx512>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end, x_scratch);
}

}  // namespace ri::simd
