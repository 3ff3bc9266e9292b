// AVX2 integer matmul kernels (Q8 activations), also used by AVX-512 CPUs
// without VNNI; compiled with AVX2 + FMA + F16C. One weight block fills a
// 256-bit vector; vpmaddubsw multiplies unsigned weight codes with signed
// activation codes into pairs of 16-bit sums (at most 2 * 128 * 127, so
// never saturating), which vpmaddwd widens to 8 sums of 4.
#include "kernels/matmul_q8_blocks.h"

namespace ri::simd {

namespace {

float Fp16At(const uint8_t* p) {
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(LoadAs<uint16_t>(p))));
}

// Codes(block) and Scale(block, offset): d, storing the offset m.
template <class Format>
struct BlockDecoder;

template <>
struct BlockDecoder<FormatQ4_1> {
  static constexpr bool kSigned = false;
  static __m256i Codes(const uint8_t* b) { return NibblesInOrder(b + 4); }
  static float Scale(const uint8_t* b, float* offset) {
    *offset = Fp16At(b + 2);
    return Fp16At(b);
  }
};

template <>
struct BlockDecoder<FormatQ4_0> {
  static constexpr bool kSigned = false;
  static __m256i Codes(const uint8_t* b) { return NibblesInOrder(b + 2); }
  static float Scale(const uint8_t* b, float* offset) {
    const float d = Fp16At(b);
    *offset = -8.0f * d;
    return d;
  }
};

template <>
struct BlockDecoder<FormatQ8_0> {
  static constexpr bool kSigned = true;
  static __m256i Codes(const uint8_t* b) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2));
  }
  static float Scale(const uint8_t* b, float*) { return Fp16At(b); }
};

struct Avx2 {
  static constexpr int kMaxTile = 8;

  template <class Format, int M>
  static void Row(const uint8_t* w_row, const Q8Activations& x, int first_row, float* offsets,
                  float* y, size_t y_stride) {
    using Decoder = BlockDecoder<Format>;
    const __m256i ones = _mm256_set1_epi16(1);
    // Row pointers in locals: the offset stores may alias x's members.
    const int8_t* codes_of[M];
    const float* scales_of[M];
    __m256 acc[M];
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) {
      codes_of[m] = x.codes(first_row + m, 0);
      scales_of[m] = x.scales(first_row + m);
      acc[m] = _mm256_setzero_ps();
    }
    for (int64_t block = 0; block < x.num_blocks(); ++block) {
      const uint8_t* b = w_row + block * Format::kBlockBytes;
      const __m256i codes = Decoder::Codes(b);
      const float d = Decoder::Scale(b, offsets + block);
      // Signed weight codes: their magnitude times the activation codes
      // carrying their signs.
      const __m256i magnitudes = Decoder::kSigned ? _mm256_sign_epi8(codes, codes) : codes;
#pragma GCC unroll 8
      for (int m = 0; m < M; ++m) {
        __m256i q = _mm256_load_si256(reinterpret_cast<const __m256i*>(codes_of[m] + block * 32));
        if constexpr (Decoder::kSigned) q = _mm256_sign_epi8(q, codes);
        const __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(magnitudes, q), ones);
        const __m256 scale = _mm256_set1_ps(d * scales_of[m][block]);
        acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc[m]);
      }
    }
    if constexpr (Format::kHasOffsets) {
      for (int64_t i = 0; i < x.padded_blocks(); i += 8) {
        const __m256 m_values = _mm256_loadu_ps(offsets + i);
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m) {
          acc[m] =
              _mm256_fmadd_ps(m_values, _mm256_loadu_ps(x.scaled_sums(first_row + m) + i), acc[m]);
        }
      }
    }
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) y[m * y_stride] = ReduceAdd(acc[m]);
  }

  static float ReduceAdd(__m256 v) {
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    return _mm_cvtss_f32(_mm_add_ss(sum, _mm_movehdup_ps(sum)));
  }
};

}  // namespace

void MatMulQ8RowsAvx2(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                      int64_t row_begin, int64_t row_end) {
  MatMulQ8Rows<Avx2>(w, x, y, y_stride, row_begin, row_end);
}

}  // namespace ri::simd
