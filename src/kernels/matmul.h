// Multiplication of a stored (possibly quantized) weight matrix with rows of
// float activations: Y = X * W^T. Each weight block is decoded once into
// registers for a group of up to 8 activation rows, so a few rows cost far
// less than separate products. Every computable type has AVX-512 and AVX2
// decoders. Every quantized type can also multiply 8-bit
// activations with integer dot products (ActivationPrecision::kQ8,
// q8_activations.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>

#include "kernels/types.h"

namespace ri {

class WeightStrips;
class ThreadPool;

// How activations meet the weights. kFloat: float activations times the
// exactly dequantized weights. kQ8: each 32-value block of an activation row
// is first rounded to 8-bit integers with one float scale, and blocks meet
// weight blocks in integer dot products, which on AVX-512 VNNI makes 8 rows
// cost about half as much as in float; the rounding adds an error of at most
// half a step (the block's largest magnitude / 254) per activation. The
// quantized types have integer kernels; F32, F16 and BF16 always use
// kFloat.
enum class ActivationPrecision { kFloat, kQ8 };

// A row-major weight matrix as stored in a GGUF file: `rows` output features,
// each a row of `cols` input features stored in `row_bytes` bytes.
struct WeightMatrix {
  TensorType type = TensorType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  ActivationPrecision activations = ActivationPrecision::kFloat;
  // The same weights regrouped for this CPU's kernels, when they read them
  // (PrepareForKernels).
  std::shared_ptr<const WeightStrips> strips = nullptr;
};

// Builds what this CPU's kernels read besides the stored weights, on
// AVX-512: WeightStrips for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and
// Q6_K weights (with Q8 activations, those need VNNI too).
// Call once the matrix's activations are set. With Q8 activations results
// do not change, only speed; with float activations the AVX-512 sums run in
// another order.
void PrepareForKernels(WeightMatrix& w);

// Whether products with `w` quantize the activations (kQ8 and a type with
// integer kernels).
bool UsesQ8Activations(const WeightMatrix& w);

// Y[m][r] = sum_c W[r][c] * X[m][c] for weight rows r in [row_begin, row_end)
// and activation rows m in [0, num_x). X rows are x_stride floats apart,
// Y rows y_stride floats apart; Y outside those rows and columns is untouched.
// Throws ri::Error for an uncomputable type, a row that is not whole blocks,
// a row range outside the matrix, or (num_x > 1) strides shorter than rows.
//
// At a given SIMD level, Y[m][r] depends only on weight row r and activation
// row m: not on num_x, the row range or (for MatMul) the thread count. Levels
// differ only by float rounding. The weights used are exactly the
// DequantizeRow values and only the summation order differs from a plain
// loop, except in the AVX-512 float kernel over weight strips, which
// factors each sub-block's scale out of its sum (matmul_strips_avx512.cc).
// With Q8 activations the same holds for the quantized activations, and the
// levels agree bit for bit (matmul_q8_simd.h).
void MatMulRows(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                size_t y_stride, int64_t row_begin, int64_t row_end);

// The whole product, weight rows split over the pool's threads.
// X is num_x x w.cols (dense), Y is num_x x w.rows (dense).
void MatMul(const WeightMatrix& w, const float* x, int num_x, float* y, ThreadPool& pool);

// Several products of the same activations in one parallel pass (one thread
// hand-off instead of one per matrix): ys[i] = X * ws[i]^T, each dense
// num_x x ws[i].rows. Every output equals what MatMul computes.
void MatMulSameInput(std::initializer_list<const WeightMatrix*> ws, const float* x, int num_x,
                     std::initializer_list<float*> ys, ThreadPool& pool);

}  // namespace ri
