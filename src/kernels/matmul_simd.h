// Loop structure shared by the SIMD matmul kernels (internal to ri_kernels).
//
// Each ISA file (matmul_avx2.cc, matmul_avx512.cc) instantiates these
// templates with its own `Isa` struct declared in an anonymous namespace. That
// gives every instantiation internal linkage, so no code compiled with wider
// instructions can be picked by the linker for baseline callers. For the same
// reason this header holds templates only.
//
// An `Isa` provides: `Vec` (a float vector of kLanes lanes), kVecsPerSubBlock
// vectors per 32 weights, kAccsPerRow accumulators per (weight row, x row),
// kMaxTile x rows per pass, Zero/Load/LoadPartial/Fma/ReduceAdd, and a decoder
// struct per computable type (DecodeF32, DecodeQ4_K, ...) deriving from its
// BlockDecoder, constructed from a block's bytes (once per block: K formats
// unpack their scales there), with Decode(sub_block, Vec*), which gives every
// weight exactly as DequantizeRow does.
//
// Y[m][r] depends only on weight row r and x row m: every (r, m) pair runs
// the same sequence of operations whatever the row range, the number of x
// rows and the tiling, so results are identical for any split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/dequantize.h"
#include "kernels/matmul.h"

namespace ri::simd {

// What every decoder holds: the block it decodes (`b`), its type, the bytes
// of a block and its sub-blocks of 32 weights (the float types count 32
// weights as a block).
template <TensorType kT, size_t kBytes, int kSubs = 1>
struct BlockDecoder {
  static constexpr TensorType kType = kT;
  static constexpr size_t kBlockBytes = kBytes;
  static constexpr int kSubBlocks = kSubs;
  explicit BlockDecoder(const uint8_t* block) : b(block) {}
  const uint8_t* b;
};

// Weight rows per pass over the x tiles: a chunk stays in cache while all x
// tiles (prefill) stream past it.
constexpr int64_t kRowChunk = 64;

// Floats per 64-byte cache line: activation rows are copied to rows aligned
// to it when they are not, since loads straddling lines are slow.
constexpr size_t kLineFloats = 16;

// How far ahead of its reads a weight row stream asks for its bytes: the
// hardware prefetcher alone left a one-row Q8_0 product from DRAM at 10 GB/s.
constexpr size_t kPrefetchBytes = 2048;

// Y[m] for one weight row and `M` x rows. `tail` (< 32) weights follow the
// `num_blocks` full blocks (only for one-element-block types).
// Weight rows are deliberately not interleaved: several concurrent row
// streams defeat the hardware prefetcher (Q8_0 from DRAM measured 3.5x
// slower with four rows interleaved).
template <class Isa, class Decoder, int M>
void KernelRow(const uint8_t* w_row, int64_t num_blocks, int tail, const float* x,
               size_t x_stride, float* y, size_t y_stride) {
  using Vec = typename Isa::Vec;
  constexpr int kV = Isa::kVecsPerSubBlock;
  constexpr int kA = Isa::kAccsPerRow;
  Vec acc[M][kA];
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
#pragma GCC unroll 4
    for (int a = 0; a < kA; ++a) acc[m][a] = Isa::Zero();
  }
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* bytes = w_row + b * Decoder::kBlockBytes;
    __builtin_prefetch(bytes + kPrefetchBytes);
    const Decoder block{bytes};
    // Unrolled, each sub-block's offsets and shifts are constants.
#pragma GCC unroll 8
    for (int s = 0; s < Decoder::kSubBlocks; ++s) {
      Vec wv[kV];
      block.Decode(s, wv);
#pragma GCC unroll 16
      for (int m = 0; m < M; ++m) {
        const float* xb = x + m * x_stride + (b * Decoder::kSubBlocks + s) * 32;
#pragma GCC unroll 4
        for (int v = 0; v < kV; ++v) {
          acc[m][v % kA] = Isa::Fma(wv[v], Isa::Load(xb + v * Isa::kLanes), acc[m][v % kA]);
        }
      }
    }
  }
  if (tail > 0) {
    alignas(64) float weights[32] = {};
    DequantizeRow(Decoder::kType, w_row + num_blocks * Decoder::kBlockBytes, weights, tail);
    for (int m = 0; m < M; ++m) {
      const float* xb = x + m * x_stride + num_blocks * Decoder::kSubBlocks * 32;
      for (int v = 0; v < kV; ++v) {
        acc[m][v % kA] = Isa::Fma(Isa::Load(weights + v * Isa::kLanes),
                                  Isa::LoadPartial(xb + v * Isa::kLanes, tail - v * Isa::kLanes),
                                  acc[m][v % kA]);
      }
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) y[m * y_stride] = Isa::ReduceAdd(acc[m]);
}

// All `num_rows` weight rows against `m` (<= M) x rows.
template <class Isa, class Decoder, int M>
void TileRows(int m, const uint8_t* w_rows, size_t row_bytes, int64_t num_rows, int64_t num_blocks,
              int tail, const float* x, size_t x_stride, float* y, size_t y_stride) {
  if constexpr (M > 1) {
    if (m < M) {
      TileRows<Isa, Decoder, M - 1>(m, w_rows, row_bytes, num_rows, num_blocks, tail, x, x_stride,
                                    y, y_stride);
      return;
    }
  }
  for (int64_t r = 0; r < num_rows; ++r) {
    KernelRow<Isa, Decoder, M>(w_rows + r * row_bytes, num_blocks, tail, x, x_stride, y + r,
                               y_stride);
  }
}

// Weight rows [row_begin, row_end) of rows `row_bytes` apart, `cols` wide.
template <class Isa, class Decoder>
void RunRows(const uint8_t* data, size_t row_bytes, int64_t cols, const float* x, int num_x,
             size_t x_stride, float* y, size_t y_stride, int64_t row_begin, int64_t row_end) {
  const int64_t num_blocks = cols / (32 * Decoder::kSubBlocks);
  const int tail = static_cast<int>(cols % 32);
  // Results of a chunk go to a local tile first: scattered single-float
  // stores into many long Y rows stall once Y outgrows the cache.
  float tile[Isa::kMaxTile][kRowChunk];
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kRowChunk) {
    const int64_t rows = row_end - r0 < kRowChunk ? row_end - r0 : kRowChunk;
    for (int m0 = 0; m0 < num_x; m0 += Isa::kMaxTile) {
      const int m = num_x - m0 < Isa::kMaxTile ? num_x - m0 : Isa::kMaxTile;
      TileRows<Isa, Decoder, Isa::kMaxTile>(m, data + r0 * row_bytes, row_bytes, rows, num_blocks,
                                            tail, x + m0 * x_stride, x_stride, &tile[0][0],
                                            kRowChunk);
      for (int i = 0; i < m; ++i) {
        float* y_row = y + (m0 + i) * y_stride + r0;
        for (int64_t r = 0; r < rows; ++r) y_row[r] = tile[i][r];
      }
    }
  }
}

// The activations with rows 64-byte aligned: the rows themselves when they
// are, else a copy in `x_scratch` (64-byte aligned, room for
// num_x * RoundUp(cols, 16) floats). Updates *x_stride. (`Isa` only gives
// the instantiation internal linkage.)
template <class Isa>
const float* AlignActivations(const float* x, int num_x, size_t* x_stride, int64_t cols,
                              float* x_scratch) {
  if (reinterpret_cast<uintptr_t>(x) % 64 == 0 && *x_stride % kLineFloats == 0) return x;
  const size_t stride = (static_cast<size_t>(cols) + kLineFloats - 1) / kLineFloats * kLineFloats;
  for (int m = 0; m < num_x; ++m) {
    for (int64_t c = 0; c < cols; ++c) x_scratch[m * stride + c] = x[m * *x_stride + c];
  }
  *x_stride = stride;
  return x_scratch;
}

// Entry point of an ISA file.
template <class Isa>
void MatMulRows(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                size_t y_stride, int64_t row_begin, int64_t row_end, float* x_scratch) {
  x = AlignActivations<Isa>(x, num_x, &x_stride, w.cols, x_scratch);
  const auto run = [&](auto type_tag) {
    RunRows<Isa, typename decltype(type_tag)::type>(w.data, w.row_bytes, w.cols, x, num_x, x_stride,
                                                    y, y_stride, row_begin, row_end);
  };
  switch (w.type) {
    case TensorType::F32:
      return run(std::type_identity<typename Isa::DecodeF32>{});
    case TensorType::F16:
      return run(std::type_identity<typename Isa::DecodeF16>{});
    case TensorType::BF16:
      return run(std::type_identity<typename Isa::DecodeBF16>{});
    case TensorType::Q4_0:
      return run(std::type_identity<typename Isa::DecodeQ4_0>{});
    case TensorType::Q4_1:
      return run(std::type_identity<typename Isa::DecodeQ4_1>{});
    case TensorType::Q5_0:
      return run(std::type_identity<typename Isa::DecodeQ5_0>{});
    case TensorType::Q5_1:
      return run(std::type_identity<typename Isa::DecodeQ5_1>{});
    case TensorType::Q8_0:
      return run(std::type_identity<typename Isa::DecodeQ8_0>{});
    case TensorType::Q4_K:
      return run(std::type_identity<typename Isa::DecodeQ4_K>{});
    case TensorType::Q5_K:
      return run(std::type_identity<typename Isa::DecodeQ5_K>{});
    case TensorType::Q6_K:
      return run(std::type_identity<typename Isa::DecodeQ6_K>{});
    default:
      // MatMulRows (matmul.cc) accepts computable types only, and every one
      // has a decoder above.
      __builtin_unreachable();
  }
}

// The instantiations, compiled with their ISA's flags; `x_scratch` (64-byte
// aligned) holds num_x * RoundUp(w.cols, 16) floats.
void MatMulRowsAvx2(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                    size_t y_stride, int64_t row_begin, int64_t row_end, float* x_scratch);
void MatMulRowsAvx512(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                      size_t y_stride, int64_t row_begin, int64_t row_end, float* x_scratch);

// Float activations over the strips of a Q4_0, Q4_1 or Q4_K matrix
// (weight_strips.h), compiled with AVX-512: Y rows y_stride apart, weight rows
// [row_begin, row_end).
void MatMulStripsAvx512(const WeightMatrix& w, const float* x, int num_x, size_t x_stride,
                        float* y, size_t y_stride, int64_t row_begin, int64_t row_end);

}  // namespace ri::simd
