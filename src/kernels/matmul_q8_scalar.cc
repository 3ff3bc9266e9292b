// Portable integer matmul kernels (Q8 activations): the reference the SIMD
// versions are tested against, and the path for CPUs without AVX2.
#include <cstring>

#include "kernels/matmul_q8_simd.h"
#include "util/fp16.h"

namespace ri::simd {

namespace {

float Fp16At(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return Fp16ToFloat(bits);
}

// The 32 codes of a block in element order, its scale d and offset m.
template <class Format>
float DecodeBlock(const uint8_t* b, int* codes, float* offset);

template <>
float DecodeBlock<FormatQ4_0>(const uint8_t* b, int* codes, float* offset) {
  for (int i = 0; i < 16; ++i) {
    codes[i] = b[2 + i] & 0x0F;
    codes[i + 16] = b[2 + i] >> 4;
  }
  const float d = Fp16At(b);
  *offset = -8.0f * d;
  return d;
}

template <>
float DecodeBlock<FormatQ4_1>(const uint8_t* b, int* codes, float* offset) {
  for (int i = 0; i < 16; ++i) {
    codes[i] = b[4 + i] & 0x0F;
    codes[i + 16] = b[4 + i] >> 4;
  }
  *offset = Fp16At(b + 2);
  return Fp16At(b);
}

template <>
float DecodeBlock<FormatQ8_0>(const uint8_t* b, int* codes, float* offset) {
  for (int i = 0; i < 32; ++i) codes[i] = static_cast<int8_t>(b[2 + i]);
  *offset = 0.0f;
  return Fp16At(b);
}

struct Scalar {
  static constexpr int kMaxTile = 8;

  template <class Format, int M>
  static void Row(const uint8_t* w_row, const Q8Activations& x, int first_row, float* offsets,
                  float* y, size_t y_stride) {
    float acc[M] = {};
    int codes[32];
    for (int64_t block = 0; block < x.num_blocks(); ++block) {
      const float d =
          DecodeBlock<Format>(w_row + block * Format::kBlockBytes, codes, offsets + block);
      for (int m = 0; m < M; ++m) {
        const int8_t* q = x.codes(first_row + m, block);
        int dot = 0;
        for (int i = 0; i < 32; ++i) dot += codes[i] * q[i];
        acc[m] += d * x.scales(first_row + m)[block] * static_cast<float>(dot);
      }
    }
    for (int m = 0; m < M; ++m) {
      const float* sums = x.scaled_sums(first_row + m);
      for (int64_t block = 0; block < x.num_blocks(); ++block)
        acc[m] += offsets[block] * sums[block];
      y[m * y_stride] = acc[m];
    }
  }
};

}  // namespace

void MatMulQ8RowsScalar(const WeightMatrix& w, const Q8Activations& x, float* y, size_t y_stride,
                        int64_t row_begin, int64_t row_end) {
  MatMulQ8Rows<Scalar>(w, x, y, y_stride, row_begin, row_end);
}

}  // namespace ri::simd
