#include "kernels/q8_activations.h"

// GCC 12 reports the deliberately undefined pass-through operand inside the
// AVX-512 reduction intrinsics as uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include <cstring>

#include "kernels/cpu_features.h"
#include "util/error.h"

namespace ri {

namespace {

// One block of 32 floats: codes, scale and sum of codes. SSE2's cvtps2dq
// rounds to nearest even under the default rounding mode.
void QuantizeBlock(const float* x, int8_t* codes, float* scale, int32_t* sum) {
  const __m128 sign = _mm_set1_ps(-0.0f);
  __m128 max_abs = _mm_setzero_ps();
  for (int i = 0; i < 32; i += 4)
    max_abs = _mm_max_ps(max_abs, _mm_andnot_ps(sign, _mm_loadu_ps(x + i)));
  max_abs = _mm_max_ps(max_abs, _mm_shuffle_ps(max_abs, max_abs, _MM_SHUFFLE(1, 0, 3, 2)));
  max_abs = _mm_max_ps(max_abs, _mm_shuffle_ps(max_abs, max_abs, _MM_SHUFFLE(2, 3, 0, 1)));
  const float amax = _mm_cvtss_f32(max_abs);
  if (amax == 0.0f) {
    std::memset(codes, 0, 32);
    *scale = 0.0f;
    *sum = 0;
    return;
  }
  *scale = amax / 127.0f;
  const __m128 inverse = _mm_set1_ps(127.0f / amax);
  __m128i sums = _mm_setzero_si128();
  for (int i = 0; i < 32; i += 16) {
    __m128i q[4];
    for (int j = 0; j < 4; ++j)
      q[j] = _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(x + i + 4 * j), inverse));
    sums = _mm_add_epi32(sums, _mm_add_epi32(_mm_add_epi32(q[0], q[1]), _mm_add_epi32(q[2], q[3])));
    // |q| <= 127 (127.5 cannot be reached), so the saturating packs are exact.
    const __m128i bytes = _mm_packs_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + i), bytes);
  }
  sums = _mm_add_epi32(sums, _mm_shuffle_epi32(sums, _MM_SHUFFLE(1, 0, 3, 2)));
  sums = _mm_add_epi32(sums, _mm_shuffle_epi32(sums, _MM_SHUFFLE(2, 3, 0, 1)));
  *sum = _mm_cvtsi128_si32(sums);
}

// The same block with AVX-512: the same float operations (an exact max, one
// multiply per value, cvtps2dq's rounding, exact integer sums), so the same
// codes, scale and sum.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void QuantizeBlockAvx512(
    const float* x, int8_t* codes, float* scale, int32_t* sum) {
  const __m512 low = _mm512_loadu_ps(x), high = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(low), _mm512_abs_ps(high)));
  if (amax == 0.0f) {
    std::memset(codes, 0, 32);
    *scale = 0.0f;
    *sum = 0;
    return;
  }
  *scale = amax / 127.0f;
  const __m512 inverse = _mm512_set1_ps(127.0f / amax);
  const __m512i q_low = _mm512_cvtps_epi32(_mm512_mul_ps(low, inverse));
  const __m512i q_high = _mm512_cvtps_epi32(_mm512_mul_ps(high, inverse));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(codes), _mm512_cvtsepi32_epi8(q_low));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + 16), _mm512_cvtsepi32_epi8(q_high));
  *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q_low, q_high));
}

// The codes of blocks b and b + 1 of a full tile's 8 rows (`rows[r]` points
// at row r's block b, block b + 1 right after it) in tile order: group k
// (64 bytes at out + 64 k) holds codes 4k..4k+3 of block b for rows 0-7,
// then of block b + 1. An 8x8 transpose of 4-byte words in each 256-bit
// half (block b in the low half of every vector, b + 1 in the high).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void TransposeTilePair(
    const int8_t* const* rows, int8_t* out) {
  __m512i v[8], t[8];
  for (int r = 0; r < 8; ++r) v[r] = _mm512_loadu_si512(rows[r]);
  for (int r = 0; r < 8; r += 2) {
    t[r] = _mm512_unpacklo_epi32(v[r], v[r + 1]);
    t[r + 1] = _mm512_unpackhi_epi32(v[r], v[r + 1]);
  }
  for (int r = 0; r < 8; r += 4) {
    v[r] = _mm512_unpacklo_epi64(t[r], t[r + 2]);
    v[r + 1] = _mm512_unpackhi_epi64(t[r], t[r + 2]);
    v[r + 2] = _mm512_unpacklo_epi64(t[r + 1], t[r + 3]);
    v[r + 3] = _mm512_unpackhi_epi64(t[r + 1], t[r + 3]);
  }
  // v[j] (j < 4) holds rows 0-3 of word j (its 128-bit lane 0) and j + 4
  // (lane 1) in each half; v[4 + j] rows 4-7.
  const __m512i low_lanes = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i high_lanes = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  for (int j = 0; j < 4; ++j) {
    _mm512_storeu_si512(out + 64 * j, _mm512_permutex2var_epi64(v[j], low_lanes, v[4 + j]));
    _mm512_storeu_si512(out + 64 * (j + 4), _mm512_permutex2var_epi64(v[j], high_lanes, v[4 + j]));
  }
}

// `bytes` bytes of `storage`, 64-byte aligned.
int8_t* AlignedBytes(std::vector<int8_t>& storage, size_t bytes) {
  if (storage.size() < bytes + 64) storage.resize(bytes + 64);
  return storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
}

}  // namespace

void Q8Activations::Quantize(const float* x, int num_rows, size_t stride, int64_t cols,
                             unsigned layouts) {
  if (cols % 32 != 0 || num_rows < 0) {
    Fail("Q8 activations: {} rows of {} values are not whole blocks of 32", num_rows, cols);
  }
  num_rows_ = num_rows;
  num_blocks_ = cols / 32;
  const size_t blocks = static_cast<size_t>(num_rows) * num_blocks_;
  codes_ = AlignedBytes(storage_, blocks * 32);
  scales_.resize(blocks);
  code_sums_.resize(blocks);
  scaled_sums_.resize(blocks);
  const auto quantize_block =
      ActiveSimdLevel() == SimdLevel::kAvx512 ? QuantizeBlockAvx512 : QuantizeBlock;
  for (int row = 0; row < num_rows; ++row) {
    for (int64_t b = 0; b < num_blocks_; ++b) {
      const size_t i = Index(row, b);
      quantize_block(x + row * stride + b * 32, codes_ + i * 32, &scales_[i], &code_sums_[i]);
      scaled_sums_[i] = scales_[i] * static_cast<float>(code_sums_[i]);
    }
  }
  if (num_rows == 1 && (layouts & kGroups) != 0) BuildGroups();
  if (num_rows >= 2 && (layouts & kPairs) != 0) BuildPairs();
  if (num_rows >= 2 && (layouts & kTiles) != 0) BuildTiles();
}

void Q8Activations::BuildGroups() {
  group_codes_ = AlignedBytes(group_storage_, num_groups() * 256);
  std::memset(group_codes_, 0, num_groups() * 256);
  for (int64_t b = 0; b < num_blocks_; ++b) {
    const int lane = b % kGroupBlocks;
    for (int v = 0; v < 4; ++v) {
      for (int half = 0; half < 2; ++half) {
        std::memcpy(group_codes_ + b / kGroupBlocks * 256 + 64 * v + 4 * (8 * half + lane),
                    codes(0, b) + kGroupCodesAt[v] + 4 * half, 4);
      }
    }
  }
}

void Q8Activations::BuildPairs() {
  const size_t entries = static_cast<size_t>(num_groups()) * num_pairs() * 2 * kGroupBlocks;
  pair_codes_ = AlignedBytes(pair_storage_, entries * 32);
  std::memset(pair_codes_, 0, entries * 32);
  pair_scales_.assign(entries, 0.0f);
  pair_code_sums_.assign(entries, 0);
  pair_scaled_sums_.assign(entries, 0.0f);
  for (int row = 0; row < num_rows_; ++row) {
    for (int64_t b = 0; b < num_blocks_; ++b) {
      const size_t at = PairIndex(b / kGroupBlocks, row / 2);
      const int lane = row % 2 * kGroupBlocks + b % kGroupBlocks;
      for (int k = 0; k < 4; ++k) {
        for (int h = 0; h < 2; ++h) {
          std::memcpy(pair_codes_ + at * 32 + 64 * (2 * k + h) + 4 * lane,
                      codes(row, b) + 16 * h + 4 * k, 4);
        }
      }
      pair_scales_[at + lane] = scales_[Index(row, b)];
      pair_code_sums_[at + lane] = code_sums_[Index(row, b)];
      pair_scaled_sums_[at + lane] = scaled_sums_[Index(row, b)];
    }
  }
}

void Q8Activations::BuildTiles() {
  const int num_tiles = (num_rows_ + kTileRows - 1) / kTileRows;
  const size_t entries = static_cast<size_t>(num_tiles) * tile_blocks() * kTileRows;
  tile_codes_ = AlignedBytes(tile_storage_, entries * 32);
  tile_scales_.assign(entries, 0.0f);
  tile_code_sums_.assign(entries, 0);
  tile_scaled_sums_.assign(entries, 0.0f);
  std::memset(tile_codes_, 0, entries * 32);
  // Whole tiles' block pairs by transposes where AVX-512 may run; partial
  // tiles and a last unpaired block code by code.
  const bool transpose = ActiveSimdLevel() == SimdLevel::kAvx512;
  for (int row = 0; row < num_rows_; ++row) {
    const int tile = row / kTileRows, lane = row % kTileRows;
    const bool in_transposed_tile = transpose && (tile + 1) * kTileRows <= num_rows_;
    for (int64_t b = 0; b < num_blocks_; ++b) {
      const bool unpaired = b + 1 == num_blocks_ && b % 2 == 0;
      if (!in_transposed_tile || unpaired) {
        int8_t* group = tile_codes_ + TileIndex(tile, b - b % 2) * 32 + b % 2 * 32 + lane * 4;
        for (int k = 0; k < 8; ++k) std::memcpy(group + k * 64, codes(row, b) + k * 4, 4);
      }
      const size_t t = TileIndex(tile, b);
      tile_scales_[t + lane] = scales_[Index(row, b)];
      tile_code_sums_[t + lane] = code_sums_[Index(row, b)];
      tile_scaled_sums_[t + lane] = scaled_sums_[Index(row, b)];
    }
  }
  if (!transpose) return;
  for (int tile = 0; (tile + 1) * kTileRows <= num_rows_; ++tile) {
    for (int64_t b = 0; b + 1 < num_blocks_; b += 2) {
      const int8_t* rows[kTileRows];
      for (int r = 0; r < kTileRows; ++r) rows[r] = codes(tile * kTileRows + r, b);
      TransposeTilePair(rows, tile_codes_ + TileIndex(tile, b) * 32);
    }
  }
}

}  // namespace ri
