// Loop structure shared by the integer (Q8-activation) matmul kernels
// (internal to ri_kernels); the float kernels' counterpart is matmul_simd.h,
// whose notes on internal linkage apply here too.
//
// Every kernel computes Y[m][r] for weight row r and activation row m with
// the same float operations in the same order:
//   p[0..7] = 0
//   for each 32-weight block b (sub-block k = b % 8 of a K format's block):
//     p = p[b % 8] (K formats: p[0], one chain)
//     p = fma((float) dot_b, scale_b * s_b, p)
//     Q4_1, Q5_1, Q4_K and Q5_K: p = fma(offset_b, x.scaled_sums(m)[b], p)
//   Y = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))
//       (K formats: Y = p[0])
// where s_b is the activation block's scale, scale_b and offset_b the
// weight block's float factors (weight = scale_b * integer weight +
// offset_b):
//   32-weight formats, Q6_K: scale_b = d; Q4_1, Q5_1: offset_b = m (f16
//   fields);
//   Q4_K, Q5_K: scale_b = d * scale_k, offset_b = -(dmin * min_k), both exact;
// and dot_b is the exact integer dot product of the integer weights (Q4_0:
// nibble - 8, Q5_0: code - 16, Q4_1, Q5_1, Q4_K and Q5_K: the code, Q8_0:
// the signed code, Q6_K: its 16-weight sub-block's int8 scale times (code -
// 32)) with the activation codes. Integer sums are exact in any order, so
// the results are bitwise identical at every SIMD level, for every batch
// size, tiling and row range. The 32-weight formats keep eight partial sums
// so that a single row has parallel work; the strip kernel reads a K
// block's eight sub-blocks one after the other, and eight accumulators per
// activation row would not fit in its registers.
//
// An `Isa` provides
//   template <class Format> static float Row(const uint8_t* w_row,
//       const Q8Activations& x, int row)
// (the AVX-512 VNNI kernel, over weight strips, has its own loop).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/dequantize.h"
#include "kernels/matmul.h"
#include "kernels/q8_activations.h"
#include "kernels/types.h"

namespace ri::simd {

// Block layouts: the tensor type, bytes per stored block, its 32-weight
// blocks (kSubBlocks), where its f16 d is (kScaleAt), whether an offset
// enters the dot product, and where the codes are.
//
// The 32-weight formats: weight = d * (code - kCodeBias), plus m (the f16 at
// byte 2) where kHasOffset; codes of kCodeBits bits (Q8_0's signed), Q5's
// fifth bits in the 32-bit word before the nibbles.
template <TensorType kT, size_t kBytes, size_t kCodes, int kBits, int kBias, bool kOffset>
struct Format32 {
  static constexpr TensorType kType = kT;
  static constexpr size_t kBlockBytes = kBytes;
  static constexpr int kSubBlocks = 1;
  static constexpr size_t kScaleAt = 0;
  static constexpr size_t kCodesAt = kCodes;
  static constexpr int kCodeBits = kBits;
  static constexpr size_t kFifthBitsAt = kBits == 5 ? kCodes - 4 : 0;
  static constexpr int kCodeBias = kBias;
  static constexpr bool kHasOffset = kOffset;
};
using FormatQ4_0 = Format32<TensorType::Q4_0, 18, 2, 4, 8, false>;
using FormatQ4_1 = Format32<TensorType::Q4_1, 20, 4, 4, 0, true>;
using FormatQ5_0 = Format32<TensorType::Q5_0, 22, 6, 5, 16, false>;
using FormatQ5_1 = Format32<TensorType::Q5_1, 24, 8, 5, 0, true>;
using FormatQ8_0 = Format32<TensorType::Q8_0, 34, 2, 8, 0, false>;
// Q4_K and Q5_K: d, dmin, 12 bytes of packed scales and mins (KScaleMin),
// then Q5_K's fifth bits and the nibbles (KCode).
template <TensorType kT, size_t kBytes>
struct FormatK {
  static constexpr TensorType kType = kT;
  static constexpr size_t kBlockBytes = kBytes;
  static constexpr int kSubBlocks = 8;
  static constexpr size_t kScaleAt = 0;
  static constexpr size_t kMinAt = 2;
  static constexpr size_t kScalesAt = 4;
  static constexpr size_t kFifthBitsAt = 16;  // Q5_K
  static constexpr size_t kCodesAt = kT == TensorType::Q5_K ? 48 : 16;
  static constexpr int kCodeBias = 0;
  static constexpr bool kHasOffset = true;
};
using FormatQ4_K = FormatK<TensorType::Q4_K, 144>;
using FormatQ5_K = FormatK<TensorType::Q5_K, 176>;
// Q6_K: codes (Q6KCode), 16 int8 scales at byte 192, d at 208.
struct FormatQ6_K {
  static constexpr TensorType kType = TensorType::Q6_K;
  static constexpr size_t kBlockBytes = 210;
  static constexpr int kSubBlocks = 8;
  static constexpr size_t kScaleAt = 208;
  static constexpr size_t kScalesAt = 192;
  static constexpr int kCodeBias = 32;
  static constexpr bool kHasOffset = false;
};

// The integer kernels' formats: those of Format structs above.
constexpr bool HasQ8Kernels(TensorType type) {
  return type == TensorType::Q4_0 || type == TensorType::Q4_1 || type == TensorType::Q5_0 ||
         type == TensorType::Q5_1 || type == TensorType::Q8_0 || type == TensorType::Q4_K ||
         type == TensorType::Q5_K || type == TensorType::Q6_K;
}

constexpr int kPartialSums = 8;

// What the strip kernels (weight_strips.h) need of a 32-weight format: the
// weight bias they subtract as (sum of activation codes) << kBiasShift
// (Q4_0's and Q5_0's codes enter without their 8 or 16, Q8_0's as code +
// 128).
template <class Format>
constexpr bool kIsQ8_0 = std::is_same_v<Format, FormatQ8_0>;
template <class Format>
constexpr int kBiasShift = kIsQ8_0<Format>           ? 7
                           : Format::kCodeBias == 16 ? 4
                           : Format::kCodeBias == 8  ? 3
                                                     : 0;

// The final sum of the partial sums p(0) .. p(7), in the order above: of
// floats, or lane by lane of the strip kernels' vectors (GCC's vector +).
// Each caller's own `p` makes each ISA file's instantiation its own.
template <class Partial>
inline auto SumPartials(Partial p) {
  return ((p(0) + p(1)) + (p(2) + p(3))) + ((p(4) + p(5)) + (p(6) + p(7)));
}

// The float steps above for weight row `w_row` against activation row
// `row`, one 32-weight block at a time: block_dot(block, k, b) gives the
// exact integer dot_b of block b (sub-block k of the stored block at
// `block`), fp16(p) the f16 value at p as a float. The one-row kernels
// without vector lanes per block share it; each ISA file instantiates it
// with its own callables, so each keeps its own copy.
template <class Format, class BlockDot, class Fp16>
float RowByBlocks(const uint8_t* w_row, const Q8Activations& x, int row, BlockDot block_dot,
                  Fp16 fp16) {
  const float* scales = x.scales(row);
  const float* scaled_sums = x.scaled_sums(row);
  float partial[kPartialSums] = {};
  for (int64_t b = 0; b < x.num_blocks(); ++b) {
    const uint8_t* block = w_row + b / Format::kSubBlocks * Format::kBlockBytes;
    const int k = static_cast<int>(b % Format::kSubBlocks);
    float& p = partial[Format::kSubBlocks == 1 ? b % kPartialSums : 0];
    float scale = fp16(block + Format::kScaleAt), offset = 0.0f;
    if constexpr (Format::kSubBlocks > 1 && Format::kHasOffset) {
      uint32_t scale_k, min_k;
      KScaleMin(block + Format::kScalesAt, k, &scale_k, &min_k);
      scale *= static_cast<float>(scale_k);
      offset = -(fp16(block + Format::kMinAt) * static_cast<float>(min_k));
    } else if constexpr (Format::kHasOffset) {
      offset = fp16(block + 2);
    }
    p = std::fma(static_cast<float>(block_dot(block, k, b)), scale * scales[b], p);
    if constexpr (Format::kHasOffset) p = std::fma(offset, scaled_sums[b], p);
  }
  if constexpr (Format::kSubBlocks > 1) return partial[0];
  return SumPartials([&](int j) { return partial[j]; });
}

// Weight rows per pass over the x tiles (as kRowChunk in matmul_simd.h).
constexpr int64_t kQ8RowChunk = 64;
constexpr int64_t kPrefetchRowsAhead = 4;

// Activation rows per pass over a chunk of weight rows.
constexpr int kQ8TileRows = 8;

template <class Isa, class Format>
void RunQ8Rows(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
               int64_t row_begin, int64_t row_end) {
  // Results of a chunk go to a local tile first (see RunRows).
  float tile[kQ8TileRows][kQ8RowChunk];
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kQ8RowChunk) {
    const int64_t rows = row_end - r0 < kQ8RowChunk ? row_end - r0 : kQ8RowChunk;
    for (int m0 = 0; m0 < x.num_rows(); m0 += kQ8TileRows) {
      const int m = x.num_rows() - m0 < kQ8TileRows ? x.num_rows() - m0 : kQ8TileRows;
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* w_row = w.data + (r0 + r) * w.row_bytes;
        // A prefetch of a later row hides the memory latency that the
        // hardware prefetcher leaves (on the first pass over the tiles: the
        // others find the chunk's rows in cache).
        if (m0 == 0 && r0 + r + kPrefetchRowsAhead < row_end) {
          const uint8_t* ahead = w_row + kPrefetchRowsAhead * w.row_bytes;
          for (size_t at = 0; at < w.row_bytes; at += 64) __builtin_prefetch(ahead + at);
        }
        for (int i = 0; i < m; ++i) tile[i][r] = Isa::template Row<Format>(w_row, x, m0 + i);
      }
      for (int i = 0; i < m; ++i) {
        float* y_row = y + (m0 + i) * y_stride + r0;
        for (int64_t r = 0; r < rows; ++r) y_row[r] = tile[i][r];
      }
    }
  }
}

// Calls run(Format{}) with the format of `type` (HasQ8Kernels).
template <class Run>
void WithFormat(TensorType type, Run run) {
  switch (type) {
    case TensorType::Q4_0:
      return run(FormatQ4_0{});
    case TensorType::Q4_1:
      return run(FormatQ4_1{});
    case TensorType::Q5_0:
      return run(FormatQ5_0{});
    case TensorType::Q5_1:
      return run(FormatQ5_1{});
    case TensorType::Q4_K:
      return run(FormatQ4_K{});
    case TensorType::Q5_K:
      return run(FormatQ5_K{});
    case TensorType::Q6_K:
      return run(FormatQ6_K{});
    default:
      return run(FormatQ8_0{});
  }
}

// Entry point of an ISA file: HasQ8Kernels(w.type).
template <class Isa>
void MatMulQ8Rows(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                  int64_t row_begin, int64_t row_end) {
  WithFormat(w.type, [&]<class Format>(Format) {
    RunQ8Rows<Isa, Format>(w, x, y, y_stride, row_begin, row_end);
  });
}

// The instantiations, compiled with their ISA's flags.
void MatMulQ8RowsScalar(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                        int64_t row_begin, int64_t row_end);
void MatMulQ8RowsAvx2(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                      int64_t row_begin, int64_t row_end);
// w.strips built (weight_strips.h). The VNNI kernel takes the activation
// rows from first_row on (a multiple of kAmxRows); the AMX kernel the first
// num_rows (a multiple of kAmxRows), where AmxActive() and for every format
// but Q6_K (AmxTiles), whose 16-weight scales a tile's 32-code dot products
// would mix.
constexpr int kAmxRows = 16;
constexpr bool AmxTiles(TensorType type) { return HasQ8Kernels(type) && type != TensorType::Q6_K; }
void MatMulQ8StripsAvx512Vnni(const WeightMatrix& w, const Q8Activations& x, int first_row,
                              float* y, size_t y_stride, int64_t row_begin, int64_t row_end);
void MatMulQ8StripsAmx(const WeightMatrix& w, const Q8Activations& x, int num_rows, float* y,
                       size_t y_stride, int64_t row_begin, int64_t row_end);

}  // namespace ri::simd
