// AMX integer matmul kernel (Q8 activations) over weight strips
// (weight_strips.h), for 16 activation rows at a time; this file alone is
// compiled with AMX and runs only on CPUs whose OS lets the process use the
// tiles (cpu_features.h).
//
// Per strip block, one tdpbsud multiplies the 16 rows' activation codes
// (tile A: a row's 32 codes per tile row, read in place) by the strip's 16
// weight rows (tile B: the block's code vectors, which the strips already
// hold in the 4-codes-per-lane order the instruction takes; 4-, 5- and
// 6-bit codes are made bytes first, a K block's per 32-weight sub-block).
// Q6_K, whose 16-weight halves have scales of their own, runs on VNNI. The
// integer dot products it leaves (tile C, lane i for weight row i) are
// those vpdpbusd computes in matmul_q8_avx512.cc, and the float steps of
// matmul_q8_simd.h then run in the same order, so the results are the VNNI
// kernel's bit for bit.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/amx_tile_config.h"
#include "kernels/matmul_q8_simd.h"
#include "kernels/strip_lanes_avx512.h"
#include "kernels/weight_strips.h"
#include "kernels/x86_intrinsics.h"
#include "util/cache_line.h"

namespace ri::simd {

namespace {

constexpr int kTileRows = kAmxRows;  // activation rows per tile

// The tiles' shapes (palette 1), two sets of three (C, A, B: tiles 0, 1, 2
// and 3, 4, 5): C 16 x 16 int32, A 16 rows x 32 codes, B 8 rows of 4 codes x
// 16 weight rows.
AmxTileConfig MakeConfig() {
  AmxTileConfig config;
  for (int set = 0; set < 2; ++set) {
    const int c = 3 * set, a = c + 1, b = c + 2;
    config.bytes_per_row[c] = 64;
    config.rows[c] = kTileRows;
    config.bytes_per_row[a] = 32;
    config.rows[a] = kTileRows;
    config.bytes_per_row[b] = 64;
    config.rows[b] = 8;
  }
  return config;
}

// One block's integer dot products (16 x 16 int32) into tile c: tiles a and
// b (literal numbers, as the intrinsics take them) receive the activation
// codes (16 rows, row_bytes apart) and the weight codes.
#define RI_TILE_PRODUCT(c, a, b, activations, row_bytes, weights) \
  do {                                                            \
    _tile_loadd(b, weights, 64);                                  \
    _tile_loadd(a, activations, row_bytes);                       \
    _tile_zero(c);                                                \
    _tile_dpbsud(c, a, b);                                        \
  } while (false)

// A block's weight codes as tile B takes them: 8 rows of 64 bytes.
constexpr size_t kTileBBytes = 8 * 64;

// The codes of the strips [first, last] as bytes, in tile B's layout
// (NibbleCodes; a K block's per 32-weight sub-block, KCodes): 32-weight
// block k of strip s at tiles + ((s - first) * num_blocks + k) *
// kTileBBytes. Done once for every tile of rows that passes over them, and
// well before a tile load reads them (a tile load right after the stores
// that wrote its bytes waits for them to reach the cache).
template <class Format>
void UnpackStrips(const WeightStrips& strips, int64_t num_blocks, int64_t first, int64_t last,
                  uint8_t* tiles) {
  constexpr size_t kBlockBytes = WeightStrips::BlockBytes(Format::kType, ActivationPrecision::kQ8);
  for (int64_t s = first; s <= last; ++s) {
    const uint8_t* block = strips.strip(s);
    for (int64_t k = 0; k < num_blocks; k += Format::kSubBlocks, block += kBlockBytes) {
      if constexpr (Format::kSubBlocks > 1) {
#pragma GCC unroll 8
        for (int sub = 0; sub < Format::kSubBlocks; ++sub, tiles += kTileBBytes) {
#pragma GCC unroll 8
          for (int v = 0; v < 8; ++v) {
            _mm512_store_si512(tiles + 64 * v, KCodes<Format>(block, sub, v));
          }
        }
      } else {
#pragma GCC unroll 8
        for (int v = 0; v < 8; ++v) {
          _mm512_store_si512(tiles + 64 * v, NibbleCodes<Format>(block, v));
        }
        tiles += kTileBBytes;
      }
    }
  }
}

// Y for activation rows m0 .. m0 + 15 against the 16 weight rows of one
// strip: sums[r] lane i for weight row i. Block k (storage order) of the
// strip's codes in tile B's layout at b_tiles + k * b_stride. A block's dot
// products are scaled while the next block's tile product runs: vector loads
// right after the tile store that wrote their bytes would wait for it.
template <class Format>
void StripTimesTile(const uint8_t* strip, const uint8_t* b_tiles, size_t b_stride,
                    const Q8Activations& x, int m0, __m512 (&sums)[16]) {
  constexpr size_t kBlockBytes = WeightStrips::BlockBytes(Format::kType, ActivationPrecision::kQ8);
  const int64_t num_blocks = x.num_blocks();
  const size_t row_bytes = static_cast<size_t>(num_blocks) * 32;
  alignas(64) int32_t dots[2][kTileRows][16];
  // The 32-weight formats' blocks feed eight partial sums in turn, a K
  // format's sub-blocks one (matmul_q8_simd.h).
  constexpr int kChains = Format::kSubBlocks > 1 ? 1 : kPartialSums;
  alignas(64) float partial[kChains][kTileRows][16];
  // The float steps of block b (storage index k) from dots[k % 2] into acc.
  const auto scale_block = [&](int64_t k, int64_t b, __m512(&acc)[kTileRows]) {
    const uint8_t* block = strip + k / Format::kSubBlocks * kBlockBytes;
    const uint8_t* fields =
        block + WeightStrips::LaneBytes(Format::kType, ActivationPrecision::kQ8);
    __m512 d, m;
    if constexpr (Format::kSubBlocks > 1) {
      KScales(block, fields, static_cast<int>(k % Format::kSubBlocks), &d, &m);
    } else {
      d = LoadFields(fields);
      if constexpr (Format::kHasOffset) m = LoadFields(fields + WeightStrips::kFieldBytes);
    }
#pragma GCC unroll 16
    for (int r = 0; r < kTileRows; ++r) {
      __m512i dot = _mm512_load_si512(dots[k % 2][r]);
      if constexpr (kBiasShift<Format> != 0) {
        dot =
            _mm512_sub_epi32(dot, _mm512_set1_epi32(x.code_sums(m0 + r)[b] << kBiasShift<Format>));
      }
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot),
                               _mm512_mul_ps(d, _mm512_set1_ps(x.scales(m0 + r)[b])), acc[r]);
      if constexpr (Format::kHasOffset) {
        acc[r] = _mm512_fmadd_ps(m, _mm512_set1_ps(x.scaled_sums(m0 + r)[b]), acc[r]);
      }
    }
  };
  int64_t k = 0;  // storage index of block b
  for (int j = 0; j < kChains; ++j) {
    __m512 acc[kTileRows];
#pragma GCC unroll 16
    for (int r = 0; r < kTileRows; ++r) acc[r] = _mm512_setzero_ps();
    int64_t previous = -1;  // the block before b, still to be scaled
    for (int64_t b = j; b < num_blocks; b += kChains, ++k) {
      // The weight codes of the block after next, from the L2 cache: a tile
      // load waits for its data, and nothing else runs meanwhile. (The
      // tile's 16 activation rows stay in L1 while it passes over the
      // strips; prefetching them too measured slower.)
      for (size_t line = 0; line < kTileBBytes; line += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(b_tiles + (k + 2) * b_stride + line),
                     _MM_HINT_T0);
      }
      // The previous block is scaled while this block's product runs, and
      // before this block's result is stored: loads right after a tile
      // store wait for it. Consecutive blocks use different tiles.
      if (k % 2 == 0) {
        RI_TILE_PRODUCT(0, 1, 2, x.codes(m0, b), row_bytes, b_tiles + k * b_stride);
      } else {
        RI_TILE_PRODUCT(3, 4, 5, x.codes(m0, b), row_bytes, b_tiles + k * b_stride);
      }
      if (previous >= 0) scale_block(k - 1, previous, acc);
      if (k % 2 == 0) {
        _tile_stored(0, dots[0], 64);
      } else {
        _tile_stored(3, dots[1], 64);
      }
      previous = b;
    }
    if (previous >= 0) scale_block(k - 1, previous, acc);
#pragma GCC unroll 16
    for (int r = 0; r < kTileRows; ++r) _mm512_store_ps(partial[j][r], acc[r]);
  }
  for (int r = 0; r < kTileRows; ++r) {
    if constexpr (kChains == 1) {
      sums[r] = _mm512_load_ps(partial[0][r]);
    } else {
      sums[r] = SumPartials([&](int j) { return _mm512_load_ps(partial[j][r]); });
    }
  }
}

template <class Format>
void RunTiles(const WeightMatrix& w, const Q8Activations& x, int num_rows, float* y,
              size_t y_stride, int64_t row_begin, int64_t row_end) {
  static const AmxTileConfig config = MakeConfig();
  _tile_loadconfig(&config);
  constexpr size_t kBlockBytes = WeightStrips::BlockBytes(Format::kType, ActivationPrecision::kQ8);
  const WeightStrips& strips = *w.strips;
  const int64_t num_blocks = x.num_blocks();
  thread_local std::vector<uint8_t> unpacked_storage;
  // A chunk of strips is unpacked once and stays in the cache while every
  // tile of rows passes over it.
  WeightStrips::ForEachChunk(row_begin, row_end, [&](int64_t chunk, int64_t chunk_last) {
    const uint8_t* unpacked = nullptr;
    if constexpr (!kIsQ8_0<Format>) {
      uint8_t* aligned =
          CacheLineAligned(unpacked_storage, (chunk_last - chunk + 1) * num_blocks * kTileBBytes);
      UnpackStrips<Format>(strips, num_blocks, chunk, chunk_last, aligned);
      unpacked = aligned;
    }
    for (int m0 = 0; m0 < num_rows; m0 += kTileRows) {
      for (int64_t s = chunk; s <= chunk_last; ++s) {
        __m512 sums[2][kTileRows];
        // Q8_0 strips hold their codes as tile B takes them.
        if constexpr (kIsQ8_0<Format>) {
          StripTimesTile<Format>(strips.strip(s), strips.strip(s), kBlockBytes, x, m0, sums[0]);
        } else {
          StripTimesTile<Format>(strips.strip(s), unpacked + (s - chunk) * num_blocks * kTileBBytes,
                                 kTileBBytes, x, m0, sums[0]);
        }
        WeightStrips::StoreSums(sums, s, 1, kTileRows, row_begin, row_end, y + m0 * y_stride,
                                y_stride);
      }
    }
  });
  _tile_release();
}

}  // namespace

void MatMulQ8StripsAmx(const WeightMatrix& w, const Q8Activations& x, int num_rows, float* y,
                       size_t y_stride, int64_t row_begin, int64_t row_end) {
  WithFormat(w.type, [&]<class Format>(Format) {
    if constexpr (AmxTiles(Format::kType)) {
      RunTiles<Format>(w, x, num_rows, y, y_stride, row_begin, row_end);
    }
  });
}

}  // namespace ri::simd
