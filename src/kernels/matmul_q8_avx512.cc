// AVX-512 VNNI integer matmul kernels (Q8 activations); this file alone is
// compiled with VNNI and runs only when the CPU has it.
//
// One activation row: vpdpbusd over two blocks per 512-bit vector, then the
// partial sums of eight blocks are folded into one vector of 8 block dot
// products, whose lanes are the 8 partial sums of matmul_q8_simd.h.
// Two to eight rows: each group of 4 weight codes is broadcast and meets the
// same 4 codes of all 8 rows of an activation tile in one vpdpbusd, so the
// rows' dot products of a block land in the lanes of one vector, and its
// scaling is one multiply-add for all rows.
//
// Signed Q8_0 codes enter as code + 128 (unsigned), and Q4_0's nibbles
// without their bias 8; the bias times the block's sum of activation codes
// is subtracted from the integer dot product.
#include "kernels/matmul_q8_blocks.h"

namespace ri::simd {

namespace {

// The weight bias subtracted as (sum of activation codes) << kBiasShift.
template <class Format>
constexpr int kBiasShift = std::is_same_v<Format, FormatQ8_0> ? 7
                           : Format::kCodeBias == 8           ? 3
                                                              : 0;

// Unsigned weight codes of a block.
template <class Format>
__m256i UnsignedCodes(const uint8_t* block) {
  static_assert(Format::kCodeBias == 0 || Format::kCodeBias == 8);
  const __m256i codes = BlockCodes<Format>(block);
  if constexpr (std::is_same_v<Format, FormatQ8_0>) {
    return _mm256_xor_si256(codes, _mm256_set1_epi8(-128));
  }
  return codes;
}

// Lane j: the sum of lanes 8j..8j+7 of the block-pair products (pair p
// holds block 2p in lanes 0-7 and block 2p+1 in lanes 8-15).
__m256i FoldBlockSums(const __m512i* pairs) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const auto fold = [&](__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_permutex2var_epi32(a, even, b),
                            _mm512_permutex2var_epi32(a, odd, b));
  };
  const __m512i quarters = fold(fold(pairs[0], pairs[1]), fold(pairs[2], pairs[3]));
  return _mm512_cvtepi64_epi32(_mm512_add_epi32(quarters, _mm512_srli_epi64(quarters, 32)));
}

// The f16 fields of blocks b0 .. b0 + 7 of a row (lanes past `lanes` zero):
// d, and Q4_1's m.
struct BlockFields {
  __m256 d, m;
};
template <class Format>
BlockFields GatherFields(const uint8_t* w_row, int64_t b0, __mmask8 lanes) {
  const __m256i offsets = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                             _mm256_set1_epi32(Format::kBlockBytes));
  const __m256i words = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), lanes, offsets,
                                                     w_row + b0 * Format::kBlockBytes, 1);
  BlockFields fields;
  fields.d = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(words));
  if constexpr (Format::kHasOffset) {
    fields.m = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(_mm256_srli_epi32(words, 16)));
  }
  return fields;
}

// The f16 field at byte `at` of blocks a (lanes 0-7) and a + 1 (8-15), as floats.
template <class Format>
__m512 PairField(const uint8_t* a, size_t at) {
  const __m128 both = _mm_cvtph_ps(_mm_cvtsi32_si128(
      LoadAs<uint16_t>(a + at) | LoadAs<uint16_t>(a + Format::kBlockBytes + at) << 16));
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                               _mm512_castps128_ps512(both));
}

struct Avx512Vnni {
  static constexpr bool kHasTileKernel = true;

  template <class Format>
  static float Row(const uint8_t* w_row, const Q8Activations& x, int row) {
    float y;
    Rows<Format, 1>(w_row, x, row, &y, 1);
    return y;
  }

  // One weight row against activation rows first_row .. first_row + R - 1
  // (R small: the weight codes and fields are read once for all of them).
  template <class Format, int R>
  static void Rows(const uint8_t* w_row, const Q8Activations& x, int first_row, float* y,
                   size_t y_stride) {
    const int64_t num_blocks = x.num_blocks();
    __m256 acc[R];
    for (__m256& a : acc) a = _mm256_setzero_ps();
    for (int64_t b0 = 0; b0 < num_blocks; b0 += kPartialSums) {
      const int n =
          num_blocks - b0 < kPartialSums ? static_cast<int>(num_blocks - b0) : kPartialSums;
      const __mmask8 lanes = static_cast<__mmask8>((1u << n) - 1);
      __m512i pairs[R][4];
#pragma GCC unroll 4
      for (int p = 0; p < 4; ++p) {
        const int j = 2 * p;
        const uint8_t* a = w_row + (b0 + j) * Format::kBlockBytes;
        if (j >= n) {
          for (int r = 0; r < R; ++r) pairs[r][p] = _mm512_setzero_si512();
        } else if (j + 1 < n) {
          const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(UnsignedCodes<Format>(a)),
                                               UnsignedCodes<Format>(a + Format::kBlockBytes), 1);
          for (int r = 0; r < R; ++r) {
            pairs[r][p] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w,
                                              _mm512_loadu_si512(x.codes(first_row + r, b0 + j)));
          }
        } else {
          const __m256i w = UnsignedCodes<Format>(a);
          for (int r = 0; r < R; ++r) {
            pairs[r][p] = _mm512_zextsi256_si512(_mm256_dpbusd_epi32(
                _mm256_setzero_si256(), w,
                _mm256_load_si256(
                    reinterpret_cast<const __m256i*>(x.codes(first_row + r, b0 + j)))));
          }
        }
      }
      const BlockFields fields = GatherFields<Format>(w_row, b0, lanes);
      for (int r = 0; r < R; ++r) {
        const int row = first_row + r;
        __m256i dots = FoldBlockSums(pairs[r]);
        if constexpr (kBiasShift<Format> != 0) {
          const __m256i sums = _mm256_maskz_loadu_epi32(lanes, x.code_sums(row) + b0);
          dots = _mm256_sub_epi32(dots, _mm256_slli_epi32(sums, kBiasShift<Format>));
        }
        const __m256 scales =
            _mm256_mul_ps(fields.d, _mm256_maskz_loadu_ps(lanes, x.scales(row) + b0));
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), scales, acc[r]);
        if constexpr (Format::kHasOffset) {
          acc[r] = _mm256_fmadd_ps(fields.m, _mm256_maskz_loadu_ps(lanes, x.scaled_sums(row) + b0),
                                   acc[r]);
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      alignas(32) float partial[kPartialSums];
      _mm256_store_ps(partial, acc[r]);
      y[r * y_stride] = SumPartials(partial);
    }
  }

  // Blocks go in pairs: lanes 0-7 of a vector are block 2P's 8 rows, lanes
  // 8-15 block 2P+1's, so pair slot P % 4 holds partial sums 2P % 8 and
  // 2P % 8 + 1.
  template <class Format>
  static void Tile(const uint8_t* w_row, const Q8Activations& x, int tile, int rows, float* y,
                   size_t y_stride) {
    // Two rows cost less in the row kernel, sharing the weight decoding.
    if (rows == 2) return Rows<Format, 2>(w_row, x, tile * Q8Activations::kTileRows, y, y_stride);
    __m512 acc[kPartialSums / 2];
    for (__m512& a : acc) a = _mm512_setzero_ps();
    const int64_t num_blocks = x.num_blocks();
    for (int64_t b = 0; b < num_blocks; b += 2) {
      const uint8_t* a = w_row + b * Format::kBlockBytes;
      const bool both = b + 1 < num_blocks;
      const __m512i u = _mm512_inserti64x4(
          _mm512_castsi256_si512(UnsignedCodes<Format>(a)),
          both ? UnsignedCodes<Format>(a + Format::kBlockBytes) : _mm256_setzero_si256(), 1);
      const int8_t* q = x.tile_codes(tile, b);
      // Two chains of dot products (codes 0-15, 16-31) for parallelism.
      __m512i dot[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        const __m512i group =
            _mm512_permutexvar_epi32(_mm512_setr_epi32(k, k, k, k, k, k, k, k, 8 + k, 8 + k, 8 + k,
                                                       8 + k, 8 + k, 8 + k, 8 + k, 8 + k),
                                     u);
        dot[k / 4] = _mm512_dpbusd_epi32(dot[k / 4], group, _mm512_load_si512(q + 64 * k));
      }
      __m512i dots = _mm512_add_epi32(dot[0], dot[1]);
      if constexpr (kBiasShift<Format> != 0) {
        dots = _mm512_sub_epi32(
            dots,
            _mm512_slli_epi32(_mm512_loadu_si512(x.tile_code_sums(tile, b)), kBiasShift<Format>));
      }
      // A missing second block has zero codes, sums and scales: its lanes add 0.
      const __m512 d =
          both ? PairField<Format>(a, 0) : _mm512_maskz_mov_ps(0x00FF, _mm512_set1_ps(Fp16At(a)));
      __m512& p = acc[b / 2 % (kPartialSums / 2)];
      p = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dots),
                          _mm512_mul_ps(d, _mm512_loadu_ps(x.tile_scales(tile, b))), p);
      if constexpr (Format::kHasOffset) {
        const __m512 m = both ? PairField<Format>(a, 2)
                              : _mm512_maskz_mov_ps(0x00FF, _mm512_set1_ps(Fp16At(a + 2)));
        p = _mm512_fmadd_ps(m, _mm512_loadu_ps(x.tile_scaled_sums(tile, b)), p);
      }
    }
    // p[2i] and p[2i+1] are the low and high halves of acc[i].
    const auto pair_sum = [](__m512 v) {
      return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    };
    const __m256 sum = _mm256_add_ps(_mm256_add_ps(pair_sum(acc[0]), pair_sum(acc[1])),
                                     _mm256_add_ps(pair_sum(acc[2]), pair_sum(acc[3])));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, sum);
    for (int i = 0; i < rows; ++i) y[i * y_stride] = lanes[i];
  }
};

}  // namespace

void MatMulQ8RowsAvx512Vnni(const WeightMatrix& w, const Q8Activations& x, float* y,
                            size_t y_stride, int64_t row_begin, int64_t row_end) {
  MatMulQ8Rows<Avx512Vnni>(w, x, y, y_stride, row_begin, row_end);
}

}  // namespace ri::simd
