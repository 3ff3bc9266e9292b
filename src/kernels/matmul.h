// Multiplication of a stored (possibly quantized) weight matrix with a few
// rows of float activations: Y = X * W^T. Each weight block is decoded once
// for all activation rows, so M rows cost little more than one (decode is
// bound by reading the weights).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/types.h"

namespace ri {

class ThreadPool;

// A row-major weight matrix as stored in a GGUF file: `rows` output features,
// each a row of `cols` input features stored in `row_bytes` bytes.
struct WeightMatrix {
  TensorType type = TensorType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
};

// Y[m][r] = sum_c W[r][c] * X[m][c] for weight rows r in [row_begin, row_end)
// and activation rows m in [0, num_x). X rows are x_stride floats apart,
// Y rows y_stride floats apart.
void MatMulRows(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                size_t y_stride, int64_t row_begin, int64_t row_end);

// The whole product, weight rows split over the pool's threads.
// X is num_x x w.cols (dense), Y is num_x x w.rows (dense).
void MatMul(const WeightMatrix& w, const float* x, int num_x, float* y, ThreadPool& pool);

}  // namespace ri
