// Portable integer matmul kernels (Q8 activations): the reference the SIMD
// versions are tested against, and the path for CPUs without AVX2.
#include <cstring>
#include <type_traits>

#include "kernels/matmul_q8_simd.h"
#include "util/fp16.h"

namespace ri::simd {

namespace {

float Fp16At(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return Fp16ToFloat(bits);
}

// The weight code of element i of a block (the value that multiplies d).
template <class Format>
int Code(const uint8_t* block, int i) {
  const uint8_t* codes = block + Format::kCodesAt;
  if constexpr (std::is_same_v<Format, FormatQ8_0>) return static_cast<int8_t>(codes[i]);
  const int nibble = i < 16 ? codes[i] & 0x0F : codes[i - 16] >> 4;
  return nibble - Format::kCodeBias;
}

struct Scalar {
  template <class Format>
  static float Row(const uint8_t* w_row, const Q8Activations& x, int row) {
    const auto block_dot = [&](const uint8_t* block, int64_t b) {
      const int8_t* q = x.codes(row, b);
      int dot = 0;
      for (int i = 0; i < 32; ++i) dot += Code<Format>(block, i) * q[i];
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
