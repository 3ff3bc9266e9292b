// AVX2 integer matmul kernels (Q8 activations), also used by AVX-512 CPUs
// without VNNI; compiled with AVX2 + FMA + F16C. vpmaddubsw multiplies
// unsigned weight codes with signed activation codes into pairs of 16-bit
// sums (at most 2 * 128 * 127, so never saturating), which vpmaddwd widens
// to 8 sums of 4. Every row runs the one-row kernel.
#include "kernels/matmul_q8_blocks.h"

namespace ri::simd {

namespace {

int HorizontalSum(__m256i v) {
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(sum);
}

float Fma(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

struct Avx2 {
  static constexpr bool kHasTileKernel = false;

  template <class Format>
  static float Row(const uint8_t* w_row, const Q8Activations& x, int row) {
    const float* scales = x.scales(row);
    const int32_t* code_sums = x.code_sums(row);
    const float* scaled_sums = x.scaled_sums(row);
    const __m256i ones = _mm256_set1_epi16(1);
    float partial[kPartialSums] = {};
    for (int64_t b = 0; b < x.num_blocks(); ++b) {
      const uint8_t* block = w_row + b * Format::kBlockBytes;
      const __m256i codes = BlockCodes<Format>(block);
      const __m256i q = _mm256_load_si256(reinterpret_cast<const __m256i*>(x.codes(row, b)));
      int dot;
      if constexpr (std::is_same_v<Format, FormatQ8_0>) {
        // Signed codes: their magnitudes times activation codes carrying their signs.
        dot = HorizontalSum(_mm256_madd_epi16(
            _mm256_maddubs_epi16(_mm256_sign_epi8(codes, codes), _mm256_sign_epi8(q, codes)),
            ones));
      } else {
        dot = HorizontalSum(_mm256_madd_epi16(_mm256_maddubs_epi16(codes, q), ones)) -
              Format::kCodeBias * code_sums[b];
      }
      float& p = partial[b % kPartialSums];
      p = Fma(static_cast<float>(dot), Fp16At(block) * scales[b], p);
      if constexpr (Format::kHasOffset) p = Fma(Fp16At(block + 2), scaled_sums[b], p);
    }
    return SumPartials(partial);
  }
};

}  // namespace

void MatMulQ8RowsAvx2(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                      int64_t row_begin, int64_t row_end) {
  MatMulQ8Rows<Avx2>(w, x, y, y_stride, row_begin, row_end);
}

}  // namespace ri::simd
