// Quantized weights regrouped 16 rows side by side for the AVX-512 kernels:
// one vector holds the same 4 stored bytes of 16 weight rows, one row per
// 32-bit lane. With Q8 activations (matmul_q8_avx512.cc, VNNI; every
// format here), vpdpbusd against 4 activation codes broadcast to every lane
// yields the partial dot products of 16 rows at once, and a block's scaling
// is one multiply-add per activation row for all 16. With float activations
// (matmul_strips_avx512.cc; every format here), a shift and a table lookup
// (5-, 6- and 8-bit codes: a shift and a bitwise select) decode one code of
// 16 rows. Built once at load (PrepareForKernels);
// the codes and scales are the stored ones exactly, 5- and 6-bit codes
// repacked for the float kernels.
//
// Strip s holds weight rows 16 s .. 16 s + 15 (rows past the matrix are
// zero). The 32-weight blocks of Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 are stored
// in the order of the partial sums they feed (matmul_q8_simd.h): blocks j,
// j + 8, j + 16, ... for j = 0 .. 7; the K formats' 256-weight blocks in
// order. A block:
//   lane vectors of 64 bytes, lane i of vector k for row i: stored bytes
//     4k .. 4k + 3 of the block's lane bytes (LayoutOf), which are
//     Q4_0 and Q4_1: the 16 code bytes (low nibbles: codes 0 .., high
//       nibbles: codes 16 ..), so vector k holds codes 4k .., 16 + 4k ..;
//     Q8_0: the 32 codes plus 128 (unsigned, as vpdpbusd takes them);
//     Q4_K: the 12 bytes of packed 6-bit scales and mins, then the 128 code
//       bytes (vectors 3 + 8g .. 10 + 8g: sub-blocks 2g in the low
//       nibbles and 2g + 1 in the high ones);
//     Q5_K: the 12 bytes of packed 6-bit scales and mins;
//     Q6_K: the 16 int8 scales;
//   then, for 5- and 6-bit codes (Q5Code, KCode, Q6KCode), the codes
//     repacked (as many bits as stored) in sub-blocks of PackedSubBlock(bits)
//     codes (Q6_K: its 16-weight sub-blocks; else 32), PackedWords(bits)
//     vectors each, sub-block by sub-block: the vector w of a sub-block holds
//     its codes PackedPerWord(bits) * w + j at bit bits * j, and at its top
//     PackedSpareBits(bits) bits the sub-block's leftover codes (those past
//     PackedPerWord(bits) * PackedWords(bits)) as a bit string, spare bit g
//     (at bit 32 - spare + g % spare of vector g / spare) being bit g % bits
//     of leftover code g / bits: each code one shift away from its place;
//   then each f16 field for the 16 rows (row i at 2i): d, and Q4_1's and
//   Q5_1's m or Q4_K's and Q5_K's dmin.
// For the integer kernels (Q8 activations), the 5- and 6-bit codes are not
// repacked: each code's bits are a shift and a mask away from a byte of
// their own. Q5_K and Q6_K keep all their stored bytes but the fields as
// lane bytes (Q5_K: 12 bytes of scales and mins, 32 of fifth bits, 128 of
// nibbles; Q6_K: 128 bytes of low nibbles, 64 of high bits, 16 scales);
// Q5_0 and Q5_1 their 16 nibble bytes, then a vector of their fifth bits
// spread so that bit 8 t + v of a lane is the fifth bit of code 4 v + t.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/types.h"
#include "kernels/x86_intrinsics.h"

namespace ri {

class WeightStrips {
 public:
  static constexpr int kRows = 16;
  static constexpr size_t kVectorBytes = 64;
  static constexpr size_t kFieldBytes = 32;  // 16 f16

  // Where a strip block's parts are in a stored block: bytes [lane_from,
  // lane_from + lane_bytes) go four to a lane, then come packed_vectors
  // vectors of repacked codes of code_bits bits, then f16 fields from
  // fields_at.
  struct Layout {
    size_t lane_from = 0;
    size_t lane_bytes = 0;
    int num_fields = 0;
    size_t fields_at[2] = {};
    int code_bits = 0;
    size_t packed_vectors = 0;
    size_t fifth_bits_at = 0;  // Q5's, for the integer kernels: one vector
  };
  // The layout read by the float kernels, or by the integer ones (`reader`
  // kQ8) where theirs differs.
  static constexpr Layout LayoutOf(TensorType type,
                                   ActivationPrecision reader = ActivationPrecision::kFloat) {
    if (reader == ActivationPrecision::kQ8 && type == TensorType::Q5_0) {
      return {6, 16, 1, {0}, 0, 0, 2};
    }
    if (reader == ActivationPrecision::kQ8 && type == TensorType::Q5_1) {
      return {8, 16, 2, {0, 2}, 0, 0, 4};
    }
    if (reader == ActivationPrecision::kQ8 && type == TensorType::Q5_K) return {4, 172, 2, {0, 2}};
    if (reader == ActivationPrecision::kQ8 && type == TensorType::Q6_K) return {0, 208, 1, {208}};
    switch (type) {
      case TensorType::Q4_0:
        return {2, 16, 1, {0}};
      case TensorType::Q4_1:
        return {4, 16, 2, {0, 2}};
      case TensorType::Q8_0:
        return {2, 32, 1, {0}};
      case TensorType::Q5_0:
        return {0, 0, 1, {0}, 5, 5};
      case TensorType::Q5_1:
        return {0, 0, 2, {0, 2}, 5, 5};
      case TensorType::Q4_K:
        return {4, 140, 2, {0, 2}};
      case TensorType::Q5_K:
        return {4, 12, 2, {0, 2}, 5, 40};
      case TensorType::Q6_K:
        return {192, 16, 1, {208}, 6, 48};
      default:  // no strips
        return {};
    }
  }
  // Codes of `bits` bits packed (5, 6; 8 as Q8_0's lane bytes are): see above.
  static constexpr int PackedSubBlock(int bits) { return bits == 6 ? 16 : 32; }
  static constexpr int PackedWords(int bits) { return bits * PackedSubBlock(bits) / 32; }
  static constexpr int PackedPerWord(int bits) { return 32 / bits; }
  static constexpr int PackedSpareBits(int bits) { return 32 - bits * PackedPerWord(bits); }

  // Bytes of a block's lane vectors: its fields follow them.
  static constexpr size_t LaneBytes(TensorType type,
                                    ActivationPrecision reader = ActivationPrecision::kFloat) {
    const Layout layout = LayoutOf(type, reader);
    return (layout.lane_bytes / 4 + layout.packed_vectors + (layout.fifth_bits_at > 0 ? 1 : 0)) *
           kVectorBytes;
  }
  static constexpr size_t BlockBytes(TensorType type,
                                     ActivationPrecision reader = ActivationPrecision::kFloat) {
    return LaneBytes(type, reader) + kFieldBytes * LayoutOf(type, reader).num_fields;
  }
  // Blocks j, j + kInterleave, ... are stored together (see above).
  static constexpr int64_t Interleave(TensorType type) {
    return type == TensorType::Q4_K || type == TensorType::Q5_K || type == TensorType::Q6_K ? 1 : 8;
  }

  // Whether strips of `type` can be built: those of a layout.
  static constexpr bool Holds(TensorType type) { return LaneBytes(type) > 0; }
  // `w` is of a type Holds; throws ri::Error otherwise. The layout is the
  // integer kernels' when UsesQ8Activations(w).
  explicit WeightStrips(const WeightMatrix& w);

  int64_t num_strips() const { return num_strips_; }
  // Strip s's blocks in storage order; strips are 64-byte aligned, blocks
  // of Q4_0 and Q8_0 (288 and 544 bytes) only 32-byte aligned.
  const uint8_t* strip(int64_t s) const { return data_ + s * strip_bytes_; }
  size_t strip_bytes() const { return strip_bytes_; }

  // The lanes (weight rows) of strip s inside rows [row_begin, row_end), as
  // a 16-bit mask: what a kernel stores of the strip's results.
  static uint16_t LanesInRange(int64_t s, int64_t row_begin, int64_t row_end) {
    const int64_t first = s * kRows;
    const int64_t from = std::max(row_begin, first) - first;
    const int64_t to = std::min(row_end, first + kRows) - first;
    return static_cast<uint16_t>(((1u << to) - 1) & ~((1u << from) - 1));
  }

  // Stores what the AVX-512 kernels computed for `strips` strips from s and
  // `rows` activation rows (sums[t][r], lane i for weight row i of strip
  // s + t): the lanes inside [row_begin, row_end) of y's rows, y_stride
  // floats apart. Instantiated only in files compiled for AVX-512.
  template <int kMaxRows>
  static void StoreSums(const __m512 (&sums)[2][kMaxRows], int64_t s, int strips, int rows,
                        int64_t row_begin, int64_t row_end, float* y, size_t y_stride) {
    for (int t = 0; t < strips; ++t) {
      const __mmask16 lanes = LanesInRange(s + t, row_begin, row_end);
      for (int r = 0; r < rows; ++r) {
        _mm512_mask_storeu_ps(y + r * y_stride + (s + t) * kRows, lanes, sums[t][r]);
      }
    }
  }

  // Bytes ahead of the block in use that a lone strip's reader prefetches.
  static constexpr size_t kPrefetchAhead = 4096;

  // Prefetches for the blocks at `block` of `kStrips` consecutive strips,
  // read side by side (prefetches past the matrix do not fault). A lone
  // strip asks for the bytes kPrefetchAhead on; strips read together ask
  // each for its block of the next group, which the hardware would not
  // guess (kPrefetchAhead would fall inside the group being read).
  template <size_t kBlockBytes, int kStrips>
  [[gnu::always_inline]] static void PrefetchAhead(const uint8_t* block, size_t strip_bytes) {
    const size_t ahead = kStrips == 1 ? kPrefetchAhead : kStrips * strip_bytes;
#pragma GCC unroll 2
    for (int t = 0; t < kStrips; ++t) {
#pragma GCC unroll 9
      for (size_t line = 0; line < kBlockBytes; line += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(block + t * strip_bytes + ahead + line),
                     _MM_HINT_T0);
      }
    }
  }

  // Strips per chunk when many activation rows pass over them (prefill):
  // the chunk stays in cache while every group of rows passes over it,
  // instead of all the activations streaming past every strip.
  static constexpr int64_t kChunkStrips = 16;

  // Calls use(first, last) for each chunk of strips [first, last] that
  // covers weight rows [row_begin, row_end), in order.
  template <class Use>
  static void ForEachChunk(int64_t row_begin, int64_t row_end, Use use) {
    const int64_t last_strip = (row_end - 1) / kRows;
    for (int64_t first = row_begin / kRows; first <= last_strip; first += kChunkStrips) {
      use(first, std::min(last_strip, first + kChunkStrips - 1));
    }
  }

 private:
  int64_t num_strips_ = 0;
  size_t strip_bytes_ = 0;
  std::vector<uint8_t> storage_;  // data_ points 64-byte aligned into it
  uint8_t* data_ = nullptr;
};

}  // namespace ri
