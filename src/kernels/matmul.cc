#include "kernels/matmul.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/dequantize.h"
#include "kernels/matmul_q8_simd.h"
#include "kernels/matmul_simd.h"
#include "kernels/q8_activations.h"
#include "kernels/weight_strips.h"
#include "util/cache_line.h"
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

// A dequantized weight row for the scalar path.
float* RowScratch(int64_t cols) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < static_cast<size_t>(cols)) scratch.resize(cols);
  return scratch.data();
}

// Room for the activations copied to 64-byte aligned rows of
// RoundUp(cols, 16) floats (see simd::AlignActivations).
float* ActivationScratch(int num_x, int64_t cols) {
  constexpr size_t kLine = simd::kLineFloats;
  thread_local std::vector<float> scratch;
  const size_t stride = (static_cast<size_t>(cols) + kLine - 1) / kLine * kLine;
  return CacheLineAligned(scratch, num_x * stride);
}

// The AVX-512 integer kernel needs VNNI besides the level, and the weights
// in strips; without them AVX-512 CPUs run the AVX2 kernel.
bool UsesStrips(const WeightMatrix& w) {
  return w.strips != nullptr && ActiveSimdLevel() == SimdLevel::kAvx512 &&
         GetCpuFeatures().avx512vnni;
}

// Weight rows [row_begin, row_end) against activations already quantized.
void MatMulQ8Rows(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                  int64_t row_begin, int64_t row_end) {
  const SimdLevel level = ActiveSimdLevel();
  if (level == SimdLevel::kScalar) {
    simd::MatMulQ8RowsScalar(w, x, y, y_stride, row_begin, row_end);
  } else if (UsesStrips(w)) {
    // Whole groups of kAmxRows rows on AMX tiles, the rest on VNNI: the same
    // bits either way.
    const int amx_rows =
        AmxActive() && simd::AmxTiles(w.type) ? x.num_rows() / simd::kAmxRows * simd::kAmxRows : 0;
    if (amx_rows > 0) simd::MatMulQ8StripsAmx(w, x, amx_rows, y, y_stride, row_begin, row_end);
    if (amx_rows < x.num_rows()) {
      simd::MatMulQ8StripsAvx512Vnni(w, x, amx_rows, y, y_stride, row_begin, row_end);
    }
  } else {
    simd::MatMulQ8RowsAvx2(w, x, y, y_stride, row_begin, row_end);
  }
}

void MatMulFloatRows(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                     size_t y_stride, int64_t row_begin, int64_t row_end) {
  const SimdLevel level = ActiveSimdLevel();
  if (level == SimdLevel::kScalar) {
    MatMulRowsScalar(w, x, num_x, x_stride, y, y_stride, row_begin, row_end, RowScratch(w.cols));
    return;
  }
  if (level == SimdLevel::kAvx512 && w.strips != nullptr) {
    simd::MatMulStripsAvx512(w, x, num_x, x_stride, y, y_stride, row_begin, row_end);
    return;
  }
  float* x_scratch = ActivationScratch(num_x, w.cols);
  if (level == SimdLevel::kAvx512) {
    simd::MatMulRowsAvx512(w, x, num_x, x_stride, y, y_stride, row_begin, row_end, x_scratch);
  } else {
    simd::MatMulRowsAvx2(w, x, num_x, x_stride, y, y_stride, row_begin, row_end, x_scratch);
  }
}

// The activations quantized once per call (on the calling thread) and shared
// by the pool's threads.
Q8Activations& CallQuantizedActivations() {
  thread_local Q8Activations activations;
  return activations;
}

// Rows [row_begin, row_end) of one product whose activations `quantized`
// holds when the matrix uses Q8 activations.
void ProductRows(const WeightMatrix& w, const float* x, const Q8Activations& quantized, int num_x,
                 float* y, int64_t row_begin, int64_t row_end) {
  if (UsesQ8Activations(w)) {
    MatMulQ8Rows(w, quantized, y, w.rows, row_begin, row_end);
  } else {
    MatMulFloatRows(w, x, num_x, w.cols, y, w.rows, row_begin, row_end);
  }
}

}  // namespace

bool UsesQ8Activations(const WeightMatrix& w) {
  return w.activations == ActivationPrecision::kQ8 && simd::HasQ8Kernels(w.type);
}

void PrepareForKernels(WeightMatrix& w) {
  if (DetectSimdLevel() != SimdLevel::kAvx512) return;
  if (UsesQ8Activations(w) ? GetCpuFeatures().avx512vnni : WeightStrips::Holds(w.type)) {
    w.strips = std::make_shared<const WeightStrips>(w);
  }
}

void MatMulRows(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                size_t y_stride, int64_t row_begin, int64_t row_end) {
  CheckArguments(w, num_x, x_stride, y_stride, row_begin, row_end);
  if (num_x == 0 || row_begin == row_end) return;
  if (UsesQ8Activations(w)) {
    Q8Activations& quantized = CallQuantizedActivations();
    quantized.Quantize(x, num_x, x_stride, w.cols);
    MatMulQ8Rows(w, quantized, y, y_stride, row_begin, row_end);
  } else {
    MatMulFloatRows(w, x, num_x, x_stride, y, y_stride, row_begin, row_end);
  }
}

void MatMul(const WeightMatrix& w, const float* x, int num_x, float* y, ThreadPool& pool) {
  MatMulSameInput({&w}, x, num_x, {y}, pool);
}

void MatMulSameInput(std::initializer_list<const WeightMatrix*> ws, const float* x, int num_x,
                     std::initializer_list<float*> ys, ThreadPool& pool) {
  if (ws.size() != ys.size()) Fail("MatMulSameInput: {} matrices but {} outputs", ws.size(), ys.size());
  // Units of kRowGrain rows of one matrix, numbered across the matrices.
  std::vector<std::pair<const WeightMatrix*, float*>> parts;
  std::vector<size_t> first_unit;
  size_t units = 0;
  auto y = ys.begin();
  bool any_q8 = false;
  for (const WeightMatrix* w : ws) {
    CheckArguments(*w, num_x, w->cols, w->rows, 0, w->rows);
    if (ws.begin()[0]->cols != w->cols) Fail("MatMulSameInput: matrices of different widths");
    parts.emplace_back(w, *y++);
    first_unit.push_back(units);
    units += (static_cast<size_t>(w->rows) + kRowGrain - 1) / kRowGrain;
    any_q8 = any_q8 || UsesQ8Activations(*w);
  }
  if (num_x == 0 || units == 0) return;
  Q8Activations& quantized = CallQuantizedActivations();
  if (any_q8) quantized.Quantize(x, num_x, ws.begin()[0]->cols, ws.begin()[0]->cols, &pool);
  pool.ParallelFor(units, [&](size_t begin, size_t end) {
    for (size_t p = 0; p < parts.size(); ++p) {
      const auto& [w, out] = parts[p];
      const size_t part_end = p + 1 < parts.size() ? first_unit[p + 1] : units;
      const size_t from = std::max(begin, first_unit[p]), to = std::min(end, part_end);
      if (from >= to) continue;
      const int64_t row_begin = static_cast<int64_t>((from - first_unit[p]) * kRowGrain);
      const int64_t row_end = std::min<int64_t>(w->rows, (to - first_unit[p]) * kRowGrain);
      ProductRows(*w, x, quantized, num_x, out, row_begin, row_end);
    }
  });
}

}  // namespace ri
