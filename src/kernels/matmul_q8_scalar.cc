// Portable integer matmul kernels (Q8 activations): the reference the SIMD
// versions are tested against, and the path for CPUs without AVX2.
#include <cstring>
#include <type_traits>

#include "kernels/dequantize.h"
#include "kernels/matmul_q8_simd.h"
#include "util/fp16.h"

namespace ri::simd {

namespace {

float Fp16At(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return Fp16ToFloat(bits);
}

// The integer weight i of sub-block k of a block (what scale_b multiplies,
// matmul_q8_simd.h).
template <class Format>
int IntegerWeight(const uint8_t* block, int k, int i) {
  const int e = 32 * k + i;
  if constexpr (std::is_same_v<Format, FormatQ8_0>) {
    return static_cast<int8_t>(block[Format::kCodesAt + e]);
  } else {
    const int code = static_cast<int>(StoredCode(Format::kType, block, e)) - Format::kCodeBias;
    if constexpr (std::is_same_v<Format, FormatQ6_K>) {
      return static_cast<int8_t>(block[Format::kScalesAt + e / 16]) * code;
    }
    return code;
  }
}

struct Scalar {
  template <class Format>
  static float Row(const uint8_t* w_row, const Q8Activations& x, int row) {
    const auto block_dot = [&](const uint8_t* block, int k, int64_t b) {
      const int8_t* q = x.codes(row, b);
      int dot = 0;
      for (int i = 0; i < 32; ++i) dot += IntegerWeight<Format>(block, k, i) * q[i];
      return dot;
    };
    return RowByBlocks<Format>(w_row, x, row, block_dot, Fp16At);
  }
};

}  // namespace

void MatMulQ8RowsScalar(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                        int64_t row_begin, int64_t row_end) {
  MatMulQ8Rows<Scalar>(w, x, y, y_stride, row_begin, row_end);
}

}  // namespace ri::simd
