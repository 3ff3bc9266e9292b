#include "kernels/matmul.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/dequantize.h"
#include "kernels/matmul_simd.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace ri {

namespace {

// Weight rows per thread-pool chunk: enough work to amortize the hand-off.
constexpr size_t kRowGrain = 16;

void CheckArguments(const WeightMatrix& w, int num_x, size_t x_stride, size_t y_stride,
                    int64_t row_begin, int64_t row_end) {
  const TensorTypeTraits& traits = Traits(w.type);
  if (!traits.computable) Fail("matmul: tensor type {} is not supported", traits.name);
  if (w.rows < 0 || w.cols < 0 || w.cols % traits.block_size != 0) {
    Fail("matmul: {} weight matrix of {}x{} is not a whole number of blocks per row", traits.name,
         w.rows, w.cols);
  }
  const size_t needed = static_cast<size_t>(w.cols / traits.block_size) * traits.type_size;
  if (w.row_bytes < needed) {
    Fail("matmul: {} rows of {} elements need {} bytes, row_bytes is {}", traits.name, w.cols,
         needed, w.row_bytes);
  }
  if (num_x < 0) Fail("matmul: negative number of activation rows {}", num_x);
  if (row_begin < 0 || row_begin > row_end || row_end > w.rows) {
    Fail("matmul: row range [{}, {}) outside the {} weight rows", row_begin, row_end, w.rows);
  }
  if (num_x > 1 && (x_stride < static_cast<size_t>(w.cols) || y_stride < static_cast<size_t>(w.rows))) {
    Fail("matmul: strides {} / {} shorter than the rows ({} / {})", x_stride, y_stride, w.cols,
         w.rows);
  }
}

// Portable fallback: each weight row is dequantized exactly, then dotted with
// eight interleaved partial sums.
void MatMulRowsScalar(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                      size_t y_stride, int64_t row_begin, int64_t row_end, float* scratch) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    DequantizeRow(w.type, w.data + r * w.row_bytes, scratch, w.cols);
    for (int m = 0; m < num_x; ++m) {
      const float* xm = x + m * x_stride;
      float partial[8] = {};
      for (int64_t c = 0; c < w.cols; ++c) partial[c % 8] += scratch[c] * xm[c];
      y[m * y_stride + r] = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                            ((partial[4] + partial[5]) + (partial[6] + partial[7]));
    }
  }
}

// A dequantized weight row for the paths that decode a whole row first.
float* RowScratch(int64_t cols) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < static_cast<size_t>(cols)) scratch.resize(cols);
  return scratch.data();
}

struct Activations {
  const float* x;
  size_t stride;
};

// The SIMD kernels load whole vectors of activations, and loads that straddle
// cache lines cost up to a third of the run time, so activations that are not
// 64-byte aligned (rows included) are first copied to aligned rows.
Activations AlignActivations(const float* x, int num_x, size_t x_stride, int64_t cols) {
  constexpr size_t kAlign = 64;
  constexpr size_t kAlignFloats = kAlign / sizeof(float);
  if (reinterpret_cast<uintptr_t>(x) % kAlign == 0 && x_stride % kAlignFloats == 0) {
    return {x, x_stride};
  }
  const size_t stride = (static_cast<size_t>(cols) + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
  thread_local std::vector<float> buffer;
  buffer.resize(num_x * stride + kAlignFloats);
  const size_t misalignment = reinterpret_cast<uintptr_t>(buffer.data()) % kAlign / sizeof(float);
  float* aligned = buffer.data() + (kAlignFloats - misalignment) % kAlignFloats;
  for (int m = 0; m < num_x; ++m) {
    std::memcpy(aligned + m * stride, x + m * x_stride, cols * sizeof(float));
  }
  return {aligned, stride};
}

}  // namespace

void MatMulRows(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                size_t y_stride, int64_t row_begin, int64_t row_end) {
  CheckArguments(w, num_x, x_stride, y_stride, row_begin, row_end);
  if (num_x == 0 || row_begin == row_end) return;
  float* scratch = RowScratch(w.cols);
  const SimdLevel level = ActiveSimdLevel();
  if (level == SimdLevel::kScalar) {
    MatMulRowsScalar(w, x, num_x, x_stride, y, y_stride, row_begin, row_end, scratch);
    return;
  }
  const Activations a = AlignActivations(x, num_x, x_stride, w.cols);
  if (level == SimdLevel::kAvx512) {
    simd::MatMulRowsAvx512(w, a.x, num_x, a.stride, y, y_stride, row_begin, row_end, scratch);
  } else {
    simd::MatMulRowsAvx2(w, a.x, num_x, a.stride, y, y_stride, row_begin, row_end, scratch);
  }
}

void MatMul(const WeightMatrix& w, const float* x, int num_x, float* y, ThreadPool& pool) {
  CheckArguments(w, num_x, w.cols, w.rows, 0, w.rows);
  pool.ParallelFor(
      static_cast<size_t>(w.rows),
      [&](size_t begin, size_t end) {
        MatMulRows(w, x, num_x, w.cols, y, w.rows, static_cast<int64_t>(begin),
                   static_cast<int64_t>(end));
      },
      kRowGrain);
}

}  // namespace ri
