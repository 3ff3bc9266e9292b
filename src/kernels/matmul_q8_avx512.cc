// AVX-512 VNNI integer matmul kernels (Q8 activations); this file alone is
// compiled with VNNI (and VBMI) and runs only when the CPU has them.
//
// Q4 weights, lane kernels: a group of 8 blocks sits in 32-bit lanes, block
// j in lanes j and 8 + j, picked from three loads by vpermt2b; the
// activations come in the same lanes (Q8Activations::group_codes and
// pair_codes), so vpdpbusd needs no broadcasts and the dot products of the
// 8 blocks land in the lanes that are their partial sums (matmul_q8_simd.h).
// One row: the two halves of a block add up after four vpdpbusd. Two to six
// rows: a pair of rows fills the lanes (row 2p in 0-7, 2p + 1 in 8-15), the
// weight codes repeated, eight vpdpbusd a pair.
// Seven or eight rows, and Q8_0 from three rows on, tile kernel: each group
// of 4 weight codes is broadcast and meets the same 4 codes of all 8 rows
// of an activation tile in one vpdpbusd, so the rows' dot products of a
// block land in the lanes of one vector, and its scaling is one multiply-add
// for all rows.
// Q8_0 with one or two rows: vpdpbusd over two blocks per vector, then the
// partial sums of eight blocks are folded into one vector of 8 block dot
// products.
//
// Signed Q8_0 codes enter as code + 128 (unsigned), and Q4_0's nibbles
// without their bias 8; the bias times the block's sum of activation codes
// is subtracted from the integer dot product.
#include <algorithm>
#include <array>
#include <utility>

#include "kernels/matmul_q8_blocks.h"

namespace ri::simd {

namespace {

// The weight bias subtracted as (sum of activation codes) << kBiasShift.
template <class Format>
constexpr int kBiasShift = std::is_same_v<Format, FormatQ8_0> ? 7
                           : Format::kCodeBias == 8           ? 3
                                                              : 0;

// A Q8_0 block's codes + 128, as unsigned bytes.
__m256i UnsignedQ8Codes(const uint8_t* block) {
  const __m256i codes =
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + FormatQ8_0::kCodesAt));
  return _mm256_xor_si256(codes, _mm256_set1_epi8(-128));
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

// SumPartials of the 8 lanes, in its order, without leaving registers.
float SumPartialLanes(__m256 p) {
  const __m256 pairs = _mm256_add_ps(p, _mm256_permute_ps(p, 0xB1));          // lanes 0, 2, 4, 6
  const __m256 quads = _mm256_add_ps(pairs, _mm256_permute_ps(pairs, 0x4E));  // lanes 0, 4
  return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(quads), _mm256_extractf128_ps(quads, 1)));
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

// vpermb indices that put the 16 code bytes of a Q4 block pair's first
// block in bytes 0-15 and 16-31 and the second's in 32-47 and 48-63 (each
// copy then yields low or high nibbles).
template <class Format>
alignas(64) constexpr auto kPairCodeBytes = [] {
  std::array<uint8_t, 64> index{};
  for (int i = 0; i < 64; ++i) index[i] = i / 32 * Format::kBlockBytes + Format::kCodesAt + i % 16;
  return index;
}();

// The bytes of `blocks` (1 or 2) Q4 blocks at `pair`, zero after them
// when `bytes_left` (to the row's end) would not cover a whole vector: a
// masked load only then, since masked loads that miss the cache are slow.
template <class Format>
[[gnu::always_inline]] inline __m512i LoadPairBytes(const uint8_t* pair, int blocks,
                                                    int64_t bytes_left) {
  static_assert(2 * Format::kBlockBytes <= 64);
  if (blocks == 2 && bytes_left >= 64) return _mm512_loadu_si512(pair);
  return _mm512_maskz_loadu_epi8((uint64_t{1} << (blocks * Format::kBlockBytes)) - 1, pair);
}

// The weight side of blocks b0 .. b0 + 7 of a row, `n` of them present
// (in the first kPairs pairs): the unsigned codes of each pair (block 2p in
// bytes 0-31, 2p + 1 in 32-63, zero where absent) and the f16 fields (lanes
// past n zero).
struct WeightGroup {
  __m512i pair_codes[4];
  BlockFields fields;
};

// Q8_0 (68 bytes a pair): two 32-byte code loads a pair, fields gathered.
// (Q4 formats have the lane kernels instead.)
template <class Format, int kPairs>
[[gnu::always_inline]] inline WeightGroup LoadGroup(const uint8_t* w_row, int64_t b0, int n) {
  static_assert(std::is_same_v<Format, FormatQ8_0>);
  WeightGroup group;
#pragma GCC unroll 4
  for (int p = 0; p < 4; ++p) {
    const uint8_t* a = w_row + (b0 + 2 * p) * FormatQ8_0::kBlockBytes;
    const int present = p >= kPairs ? 0 : p + 1 < kPairs ? 2 : n - 2 * p;
    const __m256i first = present > 0 ? UnsignedQ8Codes(a) : _mm256_setzero_si256();
    const __m256i second =
        present > 1 ? UnsignedQ8Codes(a + FormatQ8_0::kBlockBytes) : _mm256_setzero_si256();
    group.pair_codes[p] = _mm512_inserti64x4(_mm512_castsi256_si512(first), second, 1);
  }
  group.fields = GatherFields<FormatQ8_0>(w_row, b0, static_cast<__mmask8>((1u << n) - 1));
  return group;
}

// 64 bytes at p, of which the `valid` bytes before the matrix's end may be
// read (the rest zero).
[[gnu::always_inline]] inline __m512i LoadWithin(const uint8_t* p, int64_t valid) {
  if (valid >= 64) return _mm512_loadu_si512(p);
  return _mm512_maskz_loadu_epi8(valid <= 0 ? 0 : (uint64_t{1} << valid) - 1, p);
}

// A group of 8 Q4 blocks of a weight row in 32-bit lanes, block j in lanes
// j and 8 + j. Its bytes come from (up to) three loads, of blocks 0-2, 3-5
// and 6-7; vpermt2b / vpermb pick each lane's 4 code bytes from them,
// vpermt2w / vpermw the f16 fields. Layouts:
// - one activation row (Q8Activations::group_codes): code vector q in
//   {0, 1} has code bytes 8 q .. 8 q + 3 of block j in lane j and the next
//   4 in lane 8 + j; fields d in words 0-7, m in 8-15;
// - row pairs (Q8Activations::pair_codes): code vector k in 0..3 has code
//   bytes 4 k .. 4 k + 3 of block j in lanes j and 8 + j; fields d in
//   words 0-15, m in 16-31.
template <class Format, bool kPairs>
struct LaneLayout {
  static constexpr int kBytes = Format::kBlockBytes;
  static_assert(3 * kBytes <= 64 && kBytes % 2 == 0);
  static constexpr int kCodeVectors = kPairs ? 4 : 2;
  // Byte t of code vector v: lane t / 4 is block j = lane % 8, from load
  // j / 3 (loads 0 and 1 in one vpermt2b, load 2 in a masked vpermb).
  alignas(64) static constexpr auto kCodes = [] {
    std::array<std::array<uint8_t, 64>, kCodeVectors> index{};
    for (int v = 0; v < kCodeVectors; ++v) {
      for (int t = 0; t < 64; ++t) {
        const int lane = t / 4, j = lane % 8;
        const int code_byte = kPairs ? 4 * v : 8 * v + 4 * (lane / 8);
        const int at = j % 3 * kBytes + Format::kCodesAt + code_byte + t % 4;
        index[v][t] = static_cast<uint8_t>(j < 6 ? j / 3 * 64 + at : at);
      }
    }
    return index;
  }();
  static constexpr __mmask64 kLastLoadBytes = 0xFF000000FF000000;  // lanes 6, 7, 14, 15
  // Word t: d of block t % 8, or (the second run of words) the f16 at byte
  // 2 of the block (Q4_1's m).
  static constexpr int kFieldRun = kPairs ? 16 : 8;
  alignas(64) static constexpr auto kFields = [] {
    std::array<uint16_t, 32> index{};
    for (int t = 0; t < 2 * kFieldRun; ++t) {
      const int j = t % 8, word = j % 3 * kBytes / 2 + t / kFieldRun;
      index[t] = static_cast<uint16_t>(j < 6 ? j / 3 * 32 + word : word);
    }
    return index;
  }();
  static constexpr __mmask32 kLastLoadWords = kPairs ? 0xC0C0C0C0 : 0xC0C0;
};

// The weight side of a lane group: codes[2 v] and codes[2 v + 1] are the
// low and high nibbles of code vector v; the fields' words are raw f16.
template <int kCodeVectors>
struct LaneGroup {
  __m512i codes[2 * kCodeVectors];
  __m512i field_words;
};

// kLoads of the three loads are needed (blocks present: up to 3 kLoads).
template <class Format, bool kPairs, int kLoads>
[[gnu::always_inline]] inline auto LoadLaneGroup(const uint8_t* group, int64_t bytes_to_end) {
  using Layout = LaneLayout<Format, kPairs>;
  __m512i loads[3];
#pragma GCC unroll 3
  for (int i = 0; i < kLoads; ++i) {
    loads[i] = LoadWithin(group + 3 * i * Layout::kBytes, bytes_to_end - 3 * i * Layout::kBytes);
  }
  LaneGroup<Layout::kCodeVectors> lane_group;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
  for (int v = 0; v < Layout::kCodeVectors; ++v) {
    const __m512i index = _mm512_load_si512(Layout::kCodes[v].data());
    __m512i bytes;
    if constexpr (kLoads > 1) {
      bytes = _mm512_permutex2var_epi8(loads[0], index, loads[1]);
    } else {
      bytes = _mm512_permutexvar_epi8(index, loads[0]);
    }
    if constexpr (kLoads > 2) {
      bytes = _mm512_mask_permutexvar_epi8(bytes, Layout::kLastLoadBytes, index, loads[2]);
    }
    lane_group.codes[2 * v] = _mm512_and_si512(bytes, low4);
    lane_group.codes[2 * v + 1] = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), low4);
  }
  const __m512i index = _mm512_load_si512(Layout::kFields.data());
  if constexpr (kLoads > 1) {
    lane_group.field_words = _mm512_permutex2var_epi16(loads[0], index, loads[1]);
  } else {
    lane_group.field_words = _mm512_permutexvar_epi16(index, loads[0]);
  }
  if constexpr (kLoads > 2) {
    lane_group.field_words = _mm512_mask_permutexvar_epi16(lane_group.field_words,
                                                           Layout::kLastLoadWords, index, loads[2]);
  }
  return lane_group;
}

// A block pair of an activation tile: the integer dot products of its 8
// rows with blocks b, b + 1 of a weight row (before any bias), and the
// blocks' f16 fields per lane.
struct TilePair {
  __m512i dots;
  __m512 d, m;
};

// Two chains of vpdpbusd (codes 0-15, 16-31) for parallelism; group k of
// the weight codes, broadcast by `group_of(k)`, meets group k of the tile.
template <class GroupOf>
[[gnu::always_inline]] inline __m512i TileDots(const int8_t* tile_codes, GroupOf group_of) {
  __m512i dot[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 8
  for (int k = 0; k < 8; ++k) {
    dot[k / 4] =
        _mm512_dpbusd_epi32(dot[k / 4], group_of(k), _mm512_load_si512(tile_codes + 64 * k));
  }
  return _mm512_add_epi32(dot[0], dot[1]);
}

// Q4 formats: one load holds the pair; the two copies of each block's code
// bytes fill both 128-bit lanes of its half, so that vpshufd (within lanes)
// broadcasts each group of 4 codes; vpermw spreads the fields.
template <class Format>
[[gnu::always_inline]] inline TilePair TilePairOf(const uint8_t* w_row, int64_t num_blocks,
                                                  int64_t b, const int8_t* tile_codes) {
  constexpr int kBytes = Format::kBlockBytes;
  // Words 0-15: d of block b (x8) and b + 1 (x8); 16-31: m likewise.
  alignas(64) static constexpr auto kFieldWords = [] {
    std::array<uint16_t, 32> index{};
    for (int i = 0; i < 32; ++i) index[i] = i % 16 / 8 * kBytes / 2 + i / 16;
    return index;
  }();
  const int64_t at = b * kBytes;
  const bool both = b + 1 < num_blocks;
  const __m512i raw = LoadPairBytes<Format>(w_row + at, both ? 2 : 1, num_blocks * kBytes - at);
  const __m512i halves =
      _mm512_permutexvar_epi8(_mm512_load_si512(kPairCodeBytes<Format>.data()), raw);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i codes[2] = {_mm512_and_si512(halves, low4),
                            _mm512_and_si512(_mm512_srli_epi16(halves, 4), low4)};
  TilePair pair;
  pair.dots = TileDots(tile_codes, [&](int k) {
    switch (k % 4) {
      case 0:
        return _mm512_shuffle_epi32(codes[k / 4], _MM_PERM_AAAA);
      case 1:
        return _mm512_shuffle_epi32(codes[k / 4], _MM_PERM_BBBB);
      case 2:
        return _mm512_shuffle_epi32(codes[k / 4], _MM_PERM_CCCC);
      default:
        return _mm512_shuffle_epi32(codes[k / 4], _MM_PERM_DDDD);
    }
  });
  const __m512i fields = _mm512_permutexvar_epi16(_mm512_load_si512(kFieldWords.data()), raw);
  pair.d = _mm512_cvtph_ps(_mm512_castsi512_si256(fields));
  if constexpr (Format::kHasOffset) pair.m = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(fields, 1));
  return pair;
}

// Q8_0: vpermd broadcasts each group of 4 codes of the two blocks.
template <class Format>
requires std::is_same_v<Format, FormatQ8_0>
[[gnu::always_inline]] inline TilePair TilePairOf(const uint8_t* w_row, int64_t num_blocks,
                                                  int64_t b, const int8_t* tile_codes) {
  const uint8_t* a = w_row + b * Format::kBlockBytes;
  const bool both = b + 1 < num_blocks;
  const __m512i u = _mm512_inserti64x4(
      _mm512_castsi256_si512(UnsignedQ8Codes(a)),
      both ? UnsignedQ8Codes(a + Format::kBlockBytes) : _mm256_setzero_si256(), 1);
  TilePair pair;
  pair.dots = TileDots(tile_codes, [&](int k) {
    return _mm512_permutexvar_epi32(_mm512_setr_epi32(k, k, k, k, k, k, k, k, 8 + k, 8 + k, 8 + k,
                                                      8 + k, 8 + k, 8 + k, 8 + k, 8 + k),
                                    u);
  });
  pair.d = both ? PairField<Format>(a, 0) : _mm512_maskz_mov_ps(0x00FF, _mm512_set1_ps(Fp16At(a)));
  return pair;
}

struct Avx512Vnni {
  static constexpr bool kHasBatchKernel = true;

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
    int64_t b0 = 0;
    for (; b0 + kPartialSums <= num_blocks; b0 += kPartialSums) {
      AddGroup<Format, R, 4>(w_row, x, first_row, b0, kPartialSums, acc);
    }
    const int rest = static_cast<int>(num_blocks - b0);
    // The pairs of the last group are a template argument too, so that
    // only they are loaded.
    [&]<int... kPairs>(std::integer_sequence<int, kPairs...>) {
      ((rest > 2 * kPairs - 2 && rest <= 2 * kPairs &&
        (AddGroup<Format, R, kPairs>(w_row, x, first_row, b0, rest, acc), true)) ||
       ...);
    }
    (std::integer_sequence<int, 1, 2, 3, 4>{});
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) y[r * y_stride] = SumPartialLanes(acc[r]);
  }

  // Blocks b0 .. b0 + n - 1, in the first kPairs pairs of the group, into
  // the partial sums (inlined, so that full groups have n constant).
  template <class Format, int R, int kPairs>
  [[gnu::always_inline]] static void AddGroup(const uint8_t* w_row, const Q8Activations& x,
                                              int first_row, int64_t b0, int n, __m256* acc) {
    const __mmask8 lanes = static_cast<__mmask8>((1u << n) - 1);
    const WeightGroup group = LoadGroup<Format, kPairs>(w_row, b0, n);
    __m512i pairs[R][4];
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p) {
      const int j = 2 * p;
      if (p >= kPairs) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) pairs[r][p] = _mm512_setzero_si512();
        continue;
      }
      // A missing second block has zero codes; its activation codes are not
      // read (they may lie past the row).
      const __mmask64 x_bytes = j + 1 < n ? ~__mmask64{0} : 0xFFFFFFFF;
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        pairs[r][p] =
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), group.pair_codes[p],
                                _mm512_maskz_loadu_epi8(x_bytes, x.codes(first_row + r, b0 + j)));
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const int row = first_row + r;
      AddBlockDots<Format>(FoldBlockSums(pairs[r]), group.fields, x.scales(row) + b0,
                           x.code_sums(row) + b0, x.scaled_sums(row) + b0, lanes, acc[r]);
    }
  }

  // The float steps of matmul_q8_simd.h for 8 blocks of an activation row,
  // given their integer dot products before the bias and the row's scales,
  // code sums and scaled sums of the blocks, `lanes` of them present.
  template <class Format>
  [[gnu::always_inline]] static void AddBlockDots(__m256i dots, const BlockFields& fields,
                                                  const float* scales, const int32_t* code_sums,
                                                  const float* scaled_sums, __mmask8 lanes,
                                                  __m256& acc) {
    if constexpr (kBiasShift<Format> != 0) {
      const __m256i sums = _mm256_maskz_loadu_epi32(lanes, code_sums);
      dots = _mm256_sub_epi32(dots, _mm256_slli_epi32(sums, kBiasShift<Format>));
    }
    const __m256 scaled = _mm256_mul_ps(fields.d, _mm256_maskz_loadu_ps(lanes, scales));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), scaled, acc);
    if constexpr (Format::kHasOffset) {
      acc = _mm256_fmadd_ps(fields.m, _mm256_maskz_loadu_ps(lanes, scaled_sums), acc);
    }
  }

  // Group g of a Q4 weight row (kLoads of its loads needed, `lanes` of
  // its blocks present) against the single activation row, into its
  // partial sums.
  template <class Format, int kLoads>
  [[gnu::always_inline]] static void AddLaneGroup(const uint8_t* w_row, int64_t bytes_to_end,
                                                  const Q8Activations& x, int64_t g, __mmask8 lanes,
                                                  __m256& acc) {
    constexpr int64_t kGroupBytes = Q8Activations::kGroupBlocks * Format::kBlockBytes;
    const auto group = LoadLaneGroup<Format, false, kLoads>(w_row + g * kGroupBytes,
                                                            bytes_to_end - g * kGroupBytes);
    BlockFields fields;
    fields.d =
        _mm256_maskz_mov_ps(lanes, _mm256_cvtph_ps(_mm512_castsi512_si128(group.field_words)));
    if constexpr (Format::kHasOffset) {
      fields.m = _mm256_maskz_mov_ps(
          lanes, _mm256_cvtph_ps(_mm512_extracti32x4_epi32(group.field_words, 1)));
    }
    // Lanes past the group's blocks have zero activations (and scales).
    const int8_t* codes = x.group_codes(g);
    const auto dot = [&](int v, __m512i sum) {
      return _mm512_dpbusd_epi32(sum, group.codes[v], _mm512_load_si512(codes + 64 * v));
    };
    const __m512i sum = _mm512_add_epi32(dot(1, dot(0, _mm512_setzero_si512())),
                                         dot(3, dot(2, _mm512_setzero_si512())));
    // Lanes j and 8 + j hold block j's halves.
    const __m256i dots =
        _mm256_add_epi32(_mm512_castsi512_si256(sum), _mm512_extracti64x4_epi64(sum, 1));
    const int64_t b0 = g * Q8Activations::kGroupBlocks;
    AddBlockDots<Format>(dots, fields, x.scales(0) + b0, x.code_sums(0) + b0, x.scaled_sums(0) + b0,
                         lanes, acc);
  }

  // Group g of a Q4 weight row against the kPairs row pairs from
  // first_pair on, into their partial sums (lanes 0-7 the pair's first
  // row, 8-15 its second).
  template <class Format, int kPairs, int kLoads>
  [[gnu::always_inline]] static void AddPairGroup(const uint8_t* w_row, int64_t bytes_to_end,
                                                  const Q8Activations& x, int first_pair, int64_t g,
                                                  __mmask16 lanes, __m512* acc) {
    constexpr int64_t kGroupBytes = Q8Activations::kGroupBlocks * Format::kBlockBytes;
    const auto group = LoadLaneGroup<Format, true, kLoads>(w_row + g * kGroupBytes,
                                                           bytes_to_end - g * kGroupBytes);
    const __m512 d =
        _mm512_maskz_mov_ps(lanes, _mm512_cvtph_ps(_mm512_castsi512_si256(group.field_words)));
    __m512 m;
    if constexpr (Format::kHasOffset) {
      m = _mm512_maskz_mov_ps(lanes,
                              _mm512_cvtph_ps(_mm512_extracti64x4_epi64(group.field_words, 1)));
    }
    // Blocks past the last and a missing second row have zero activations.
    const int8_t* codes = x.pair_codes(g, first_pair);
    const float* scales = x.pair_scales(g, first_pair);
    const int32_t* code_sums = x.pair_code_sums(g, first_pair);
    const float* scaled_sums = x.pair_scaled_sums(g, first_pair);
    // One chain of vpdpbusd per pair, the pairs' chains interleaved so
    // that their latencies overlap.
    __m512i dots[kPairs];
#pragma GCC unroll 8
    for (int u = 0; u < 8; ++u) {
#pragma GCC unroll 4
      for (int p = 0; p < kPairs; ++p) {
        dots[p] = _mm512_dpbusd_epi32(u == 0 ? _mm512_setzero_si512() : dots[p], group.codes[u],
                                      _mm512_load_si512(codes + 512 * p + 64 * u));
      }
    }
#pragma GCC unroll 4
    for (int p = 0; p < kPairs; ++p) {
      const int at = 2 * Q8Activations::kGroupBlocks * p;
      if constexpr (kBiasShift<Format> != 0) {
        dots[p] = _mm512_sub_epi32(
            dots[p], _mm512_slli_epi32(_mm512_loadu_si512(code_sums + at), kBiasShift<Format>));
      }
      acc[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dots[p]),
                               _mm512_mul_ps(d, _mm512_loadu_ps(scales + at)), acc[p]);
      if constexpr (Format::kHasOffset) {
        acc[p] = _mm512_fmadd_ps(m, _mm512_loadu_ps(scaled_sums + at), acc[p]);
      }
    }
  }

  // Calls add.template operator()<kLoads>(g, blocks) for each group g of
  // 8 blocks of a row of `num_blocks`, `blocks` of them present and kLoads
  // of the group's weight loads needed for them.
  template <class AddGroup>
  [[gnu::always_inline]] static void ForEachLaneGroup(int64_t num_blocks, AddGroup add) {
    const int64_t whole_groups = num_blocks / Q8Activations::kGroupBlocks;
    for (int64_t g = 0; g < whole_groups; ++g) {
      add.template operator()<3>(g, Q8Activations::kGroupBlocks);
    }
    const int rest = static_cast<int>(num_blocks - whole_groups * Q8Activations::kGroupBlocks);
    if (rest > 6) {
      add.template operator()<3>(whole_groups, rest);
    } else if (rest > 3) {
      add.template operator()<2>(whole_groups, rest);
    } else if (rest > 0) {
      add.template operator()<1>(whole_groups, rest);
    }
  }

  // Q4 weights against the single activation row, by groups of 8 blocks in
  // lanes: four vpdpbusd a group.
  template <class Format>
  static float LaneRow(const uint8_t* w_row, int64_t bytes_to_end, const Q8Activations& x) {
    __m256 acc = _mm256_setzero_ps();
    ForEachLaneGroup(
        x.num_blocks(), [&]<int kLoads>(int64_t g, int blocks) __attribute__((always_inline)) {
          const auto lanes = static_cast<__mmask8>((1u << blocks) - 1);
          AddLaneGroup<Format, kLoads>(w_row, bytes_to_end, x, g, lanes, acc);
        });
    return SumPartialLanes(acc);
  }

  // Q4 weights against `rows` (up to 2 kPairs) activation rows from
  // first_row (even) on, a pair of rows in the lanes of one vector: eight
  // vpdpbusd a pair and group.
  template <class Format, int kPairs>
  static void PairRows(const uint8_t* w_row, int64_t bytes_to_end, const Q8Activations& x,
                       int first_row, int rows, float* y, size_t y_stride) {
    __m512 acc[kPairs];
    for (__m512& a : acc) a = _mm512_setzero_ps();
    const int first_pair = first_row / 2;
    ForEachLaneGroup(
        x.num_blocks(), [&]<int kLoads>(int64_t g, int blocks) __attribute__((always_inline)) {
          const auto lanes = static_cast<__mmask16>(((1u << blocks) - 1) * 0x101);
          AddPairGroup<Format, kPairs, kLoads>(w_row, bytes_to_end, x, first_pair, g, lanes, acc);
        });
#pragma GCC unroll 4
    for (int p = 0; p < kPairs; ++p) {
      y[2 * p * y_stride] = SumPartialLanes(_mm512_castps512_ps256(acc[p]));
      if (2 * p + 1 < rows) {
        y[(2 * p + 1) * y_stride] = SumPartialLanes(_mm512_extractf32x8_ps(acc[p], 1));
      }
    }
  }

  // Q4 batches of up to this many rows (of a tile) take the row-pair
  // kernel; fuller tiles the tile kernel, as fast there.
  static constexpr int kMaxPairRows = 6;

  // The activation layouts that Batch reads for `num_rows` rows.
  template <class Format>
  static unsigned Layouts(int num_rows) {
    unsigned layouts = 0;
    for (int first_row = 0; first_row < num_rows; first_row += Q8Activations::kTileRows) {
      const int rows = std::min(Q8Activations::kTileRows, num_rows - first_row);
      if constexpr (!std::is_same_v<Format, FormatQ8_0>) {
        layouts |= num_rows == 1          ? Q8Activations::kGroups
                   : rows <= kMaxPairRows ? Q8Activations::kPairs
                                          : Q8Activations::kTiles;
      } else if (rows > 2) {
        layouts |= Q8Activations::kTiles;
      }
    }
    return layouts;
  }

  // A weight row against activation rows first_row .. first_row + rows - 1
  // (at most kTileRows, first_row a multiple of it); bytes_to_end bytes
  // from w_row on may be read.
  template <class Format>
  static void Batch(const uint8_t* w_row, int64_t bytes_to_end, const Q8Activations& x,
                    int first_row, int rows, float* y, size_t y_stride) {
    if constexpr (!std::is_same_v<Format, FormatQ8_0>) {
      if (x.num_rows() == 1) {
        *y = LaneRow<Format>(w_row, bytes_to_end, x);
        return;
      }
      if (rows <= kMaxPairRows) {
        [&]<int... kPairs>(std::integer_sequence<int, kPairs...>) {
          (((rows + 1) / 2 == kPairs + 1 &&
            (PairRows<Format, kPairs + 1>(w_row, bytes_to_end, x, first_row, rows, y, y_stride),
             true)) ||
           ...);
        }
        (std::make_integer_sequence<int, kMaxPairRows / 2>{});
        return;
      }
    } else if (rows == 1) {
      *y = Row<Format>(w_row, x, first_row);
      return;
    }
    Tile<Format>(w_row, x, first_row / Q8Activations::kTileRows, rows, y, y_stride);
  }

  // Blocks go in pairs: lanes 0-7 of a vector are block 2P's 8 rows, lanes
  // 8-15 block 2P+1's, so pair slot P % 4 holds partial sums 2P % 8 and
  // 2P % 8 + 1.
  template <class Format>
  static void Tile(const uint8_t* w_row, const Q8Activations& x, int tile, int rows, float* y,
                   size_t y_stride) {
    // Two rows cost less in the row kernel, sharing the weight decoding.
    if constexpr (std::is_same_v<Format, FormatQ8_0>) {
      if (rows == 2) return Rows<Format, 2>(w_row, x, tile * Q8Activations::kTileRows, y, y_stride);
    }
    __m512 acc[kPartialSums / 2];
    for (__m512& a : acc) a = _mm512_setzero_ps();
    const int64_t num_blocks = x.num_blocks();
    for (int64_t b = 0; b < num_blocks; b += 2) {
      // A missing second block has zero codes, fields, sums and scales.
      TilePair pair = TilePairOf<Format>(w_row, num_blocks, b, x.tile_codes(tile, b));
      if constexpr (kBiasShift<Format> != 0) {
        pair.dots = _mm512_sub_epi32(
            pair.dots,
            _mm512_slli_epi32(_mm512_loadu_si512(x.tile_code_sums(tile, b)), kBiasShift<Format>));
      }
      __m512& p = acc[b / 2 % (kPartialSums / 2)];
      p = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pair.dots),
                          _mm512_mul_ps(pair.d, _mm512_loadu_ps(x.tile_scales(tile, b))), p);
      if constexpr (Format::kHasOffset) {
        p = _mm512_fmadd_ps(pair.m, _mm512_loadu_ps(x.tile_scaled_sums(tile, b)), p);
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

unsigned Q8LayoutsAvx512Vnni(TensorType type, int num_rows) {
  return Q8LayoutsFor<Avx512Vnni>(type, num_rows);
}

}  // namespace ri::simd
