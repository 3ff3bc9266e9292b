// AVX-512 VNNI integer matmul kernels (Q8 activations); this file alone is
// compiled with VNNI and runs only when the CPU has it. Two weight blocks
// share a 512-bit vector: vpdpbusd multiplies their 64 unsigned codes with 64
// activation codes, leaving block A's partial sums in lanes 0-7 and B's in
// lanes 8-15, which are scaled by d s per half.
#include "kernels/matmul_q8_blocks.h"

namespace ri::simd {

namespace {

// Lanes 0-7 take element 0 of `v`, lanes 8-15 element `second`.
__m512 SpreadPair(__m128 v, int second) {
  const __m512i index = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, second, second, second, second,
                                          second, second, second, second);
  return _mm512_permutexvar_ps(index, _mm512_castps128_ps512(v));
}

// The nibble codes of blocks a and b (b null: zeros), nibbles at byte `offset`.
__m512i NibblePairCodes(const uint8_t* a, const uint8_t* b, size_t offset) {
  const __m256i first = NibblesInOrder(a + offset);
  return b == nullptr
             ? _mm512_zextsi256_si512(first)
             : _mm512_inserti64x4(_mm512_castsi256_si512(first), NibblesInOrder(b + offset), 1);
}

// Codes and scales of blocks a and b (b null: a zero block) of one format.
// Codes(a, b): the 64 codes; Scales(a, b, offsets): d over lanes 0-7 / 8-15,
// storing the blocks' offsets m at offsets[0..1].
template <class Format>
struct PairDecoder;

template <>
struct PairDecoder<FormatQ4_1> {
  static constexpr bool kSigned = false;
  static __m512i Codes(const uint8_t* a, const uint8_t* b) { return NibblePairCodes(a, b, 4); }
  static __m512 Scales(const uint8_t* a, const uint8_t* b, float* offsets) {
    const uint32_t dm_b = b == nullptr ? 0 : LoadAs<uint32_t>(b);
    const __m128 dm = _mm_cvtph_ps(
        _mm_set_epi32(0, 0, static_cast<int>(dm_b), static_cast<int>(LoadAs<uint32_t>(a))));
    _mm_storel_pi(reinterpret_cast<__m64*>(offsets),
                  _mm_shuffle_ps(dm, dm, _MM_SHUFFLE(3, 1, 3, 1)));
    return SpreadPair(dm, 2);
  }
};

template <>
struct PairDecoder<FormatQ4_0> {
  static constexpr bool kSigned = false;
  static __m512i Codes(const uint8_t* a, const uint8_t* b) { return NibblePairCodes(a, b, 2); }
  static __m512 Scales(const uint8_t* a, const uint8_t* b, float* offsets) {
    const uint32_t d_b = b == nullptr ? 0 : LoadAs<uint16_t>(b);
    const __m128 d =
        _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(LoadAs<uint16_t>(a) | d_b << 16)));
    _mm_storel_pi(reinterpret_cast<__m64*>(offsets), _mm_mul_ps(d, _mm_set1_ps(-8.0f)));
    return SpreadPair(d, 1);
  }
};

template <>
struct PairDecoder<FormatQ8_0> {
  static constexpr bool kSigned = true;
  static __m512i Codes(const uint8_t* a, const uint8_t* b) {
    const __m256i first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 2));
    return b == nullptr
               ? _mm512_zextsi256_si512(first)
               : _mm512_inserti64x4(_mm512_castsi256_si512(first),
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2)), 1);
  }
  static __m512 Scales(const uint8_t* a, const uint8_t* b, float*) {
    const uint32_t d_b = b == nullptr ? 0 : LoadAs<uint16_t>(b);
    return SpreadPair(
        _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(LoadAs<uint16_t>(a) | d_b << 16))), 1);
  }
};

// The activation scales of blocks `block` and `block` + 1 over lanes 0-7 /
// 8-15.
__m512 ActivationScales(const float* scales, int64_t block) {
  return SpreadPair(_mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(scales + block))), 1);
}

struct Avx512Vnni {
  static constexpr int kMaxTile = 8;

  // One pair of weight blocks (b null: a alone) against M activation rows at
  // block index `block` (rows' codes and scales start at codes[m], scales[m]).
  template <class Format, int M>
  static void Pair(const uint8_t* a, const uint8_t* b, const int8_t* const* codes,
                   const float* const* scales, int64_t block, float* offsets, __m512* acc) {
    using Decoder = PairDecoder<Format>;
    __m512i weights = Decoder::Codes(a, b);
    const __m512 d = Decoder::Scales(a, b, offsets + block);
    // vpdpbusd takes unsigned x signed bytes: signed weight codes give their
    // magnitude, and their signs go to the activation codes.
    __mmask64 negative = 0;
    if constexpr (Decoder::kSigned) {
      negative = _mm512_movepi8_mask(weights);
      weights = _mm512_abs_epi8(weights);
    }
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) {
      __m512i q = _mm512_load_si512(codes[m] + block * 32);
      if constexpr (Decoder::kSigned)
        q = _mm512_mask_sub_epi8(q, negative, _mm512_setzero_si512(), q);
      const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), weights, q);
      const __m512 scale = _mm512_mul_ps(d, ActivationScales(scales[m], block));
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[m]);
    }
  }

  template <class Format, int M>
  static void Row(const uint8_t* w_row, const Q8Activations& x, int first_row, float* offsets,
                  float* y, size_t y_stride) {
    constexpr size_t kBytes = Format::kBlockBytes;
    // Row pointers in locals: the offset stores may alias x's members.
    const int8_t* codes[M];
    const float* scales[M];
    __m512 acc[M];
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) {
      codes[m] = x.codes(first_row + m, 0);
      scales[m] = x.scales(first_row + m);
      acc[m] = _mm512_setzero_ps();
    }
    const int64_t num_blocks = x.num_blocks();
    int64_t block = 0;
    for (; block + 1 < num_blocks; block += 2) {
      const uint8_t* a = w_row + block * kBytes;
      Pair<Format, M>(a, a + kBytes, codes, scales, block, offsets, acc);
    }
    if (block < num_blocks)
      Pair<Format, M>(w_row + block * kBytes, nullptr, codes, scales, block, offsets, acc);
    if constexpr (Format::kHasOffsets) {
      for (int64_t i = 0; i < x.padded_blocks(); i += 16) {
        const __m512 m_values = _mm512_loadu_ps(offsets + i);
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m) {
          acc[m] =
              _mm512_fmadd_ps(m_values, _mm512_loadu_ps(x.scaled_sums(first_row + m) + i), acc[m]);
        }
      }
    }
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) y[m * y_stride] = _mm512_reduce_add_ps(acc[m]);
  }
};

}  // namespace

void MatMulQ8RowsAvx512Vnni(const WeightMatrix& w, const Q8Activations& x, float* y,
                            size_t y_stride, int64_t row_begin, int64_t row_end) {
  MatMulQ8Rows<Avx512Vnni>(w, x, y, y_stride, row_begin, row_end);
}

}  // namespace ri::simd
