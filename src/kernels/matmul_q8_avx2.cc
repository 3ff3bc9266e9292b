// AVX2 integer matmul kernels (Q8 activations), also used by AVX-512 CPUs
// without VNNI; compiled with AVX2 + FMA + F16C. vpmaddubsw multiplies
// unsigned weight codes with signed activation codes into pairs of 16-bit
// sums (at most 2 * 128 * 127, so never saturating), which vpmaddwd widens
// to 8 sums of 4 (Q6_K: weighted by its 16-weight sub-blocks' scales). Every
// row runs the one-row kernel.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/dequantize.h"
#include "kernels/matmul_q8_simd.h"
#include "kernels/x86_intrinsics.h"

namespace ri::simd {

namespace {

float Fp16At(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return _cvtsh_ss(bits);
}

// The 32 nibbles of the 16 bytes at p as bytes in element order: low
// nibbles (elements 0-15), then high nibbles (16-31).
__m256i NibblesInOrder(const uint8_t* p) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i low4 = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), low4),
                          _mm_and_si128(bytes, low4));
}

// The 32 bytes at p.
__m256i Load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Bits [from, from + count) of each of the 32 bytes at p, moved to bit `to`
// onward (16-bit shifts move bits across bytes; the mask drops them).
__m256i BitsAt(const uint8_t* p, int from, int count, int to) {
  const __m256i bytes = Load32(p);
  const __m256i moved =
      from < to ? _mm256_slli_epi16(bytes, to - from) : _mm256_srli_epi16(bytes, from - to);
  return _mm256_and_si256(moved, _mm256_set1_epi8(static_cast<char>(((1 << count) - 1) << to)));
}

// Bit e of the 32-bit word at p as bit 4 of byte e (Q5's fifth bits): byte
// e takes the word's byte e / 8 and keeps bit e % 8.
__m256i FifthBits(const uint8_t* p) {
  const __m256i word = _mm256_set1_epi32(static_cast<int>(LoadU32(p)));
  const __m256i bytes = _mm256_shuffle_epi8(
      word, _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// The 32 weight codes of sub-block k of a block as bytes, in element order:
// unsigned (Q4_0 and Q5_0 before their bias of 8 or 16, Q6_K before its
// 32), or Q8_0's signed codes.
template <class Format>
__m256i BlockCodes(const uint8_t* block, int k) {
  if constexpr (std::is_same_v<Format, FormatQ8_0>) {
    return Load32(block + Format::kCodesAt);
  } else if constexpr (std::is_same_v<Format, FormatQ6_K>) {
    // Elements 32 k ..: nibble (k % 4) / 2 of ql bytes 64 (k / 4) + 32 (k %
    // 2) .., bits 2 (k % 4) of qh bytes 128 + 32 (k / 4) ...
    const int half = k / 4, quarter = k % 4;
    return _mm256_or_si256(BitsAt(block + 64 * half + 32 * (k % 2), 4 * (quarter / 2), 4, 0),
                           BitsAt(block + 128 + 32 * half, 2 * quarter, 2, 4));
  } else if constexpr (Format::kSubBlocks > 1) {
    const __m256i nibbles = BitsAt(block + Format::kCodesAt + 32 * (k / 2), 4 * (k % 2), 4, 0);
    if constexpr (Format::kType == TensorType::Q4_K) return nibbles;
    return _mm256_or_si256(nibbles, BitsAt(block + Format::kFifthBitsAt, k, 1, 4));
  } else if constexpr (Format::kCodeBits == 5) {
    return _mm256_or_si256(NibblesInOrder(block + Format::kCodesAt),
                           FifthBits(block + Format::kFifthBitsAt));
  } else {
    return NibblesInOrder(block + Format::kCodesAt);
  }
}

int HorizontalSum(__m256i v) {
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(sum);
}

struct Avx2 {
  template <class Format>
  static float Row(const uint8_t* w_row, const Q8Activations& x, int row) {
    const int32_t* code_sums = x.code_sums(row);
    const auto block_dot = [&](const uint8_t* block, int k, int64_t b) {
      const __m256i ones = _mm256_set1_epi16(1);
      const __m256i codes = BlockCodes<Format>(block, k);
      const __m256i q = _mm256_load_si256(reinterpret_cast<const __m256i*>(x.codes(row, b)));
      if constexpr (std::is_same_v<Format, FormatQ8_0>) {
        // Signed codes: their magnitudes times activation codes carrying their signs.
        return HorizontalSum(_mm256_madd_epi16(
            _mm256_maddubs_epi16(_mm256_sign_epi8(codes, codes), _mm256_sign_epi8(q, codes)),
            ones));
      } else if constexpr (std::is_same_v<Format, FormatQ6_K>) {
        // Pairs of products of each 16-weight half weighted by its scale,
        // less 32 times each half's activation code sum times its scale.
        const int first = static_cast<int8_t>(block[Format::kScalesAt + 2 * k]);
        const int second = static_cast<int8_t>(block[Format::kScalesAt + 2 * k + 1]);
        const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(second)),
                                                _mm_set1_epi16(static_cast<int16_t>(first)));
        const int32_t half_sum = x.half_code_sums(row)[b];
        return HorizontalSum(_mm256_madd_epi16(_mm256_maddubs_epi16(codes, q), scales)) -
               Format::kCodeBias * (first * half_sum + second * (code_sums[b] - half_sum));
      } else if constexpr (Format::kSubBlocks > 1) {
        return HorizontalSum(_mm256_madd_epi16(_mm256_maddubs_epi16(codes, q), ones));
      } else {
        return HorizontalSum(_mm256_madd_epi16(_mm256_maddubs_epi16(codes, q), ones)) -
               Format::kCodeBias * code_sums[b];
      }
    };
    return RowByBlocks<Format>(w_row, x, row, block_dot, Fp16At);
  }
};

}  // namespace

void MatMulQ8RowsAvx2(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                      int64_t row_begin, int64_t row_end) {
  MatMulQ8Rows<Avx2>(w, x, y, y_stride, row_begin, row_end);
}

}  // namespace ri::simd
