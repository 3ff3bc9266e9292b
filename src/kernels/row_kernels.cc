#include "kernels/row_kernels.h"

// GCC 12 reports the deliberately undefined pass-through operand inside the
// AVX-512 masked load and reduction intrinsics as uninitialized (a false
// positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include <cmath>

#include "kernels/cpu_features.h"
#include "kernels/simd_exp.h"

namespace ri {

namespace {

float InverseRms(float sum_squares, int size, float eps) {
  return 1.0f / std::sqrt(sum_squares / static_cast<float>(size) + eps);
}

void RmsNormScalar(const float* x, const float* weight, int size, float eps, float* out) {
  float sum_squares = 0.0f;
  for (int i = 0; i < size; ++i) sum_squares += x[i] * x[i];
  const float inverse_rms = InverseRms(sum_squares, size, eps);
  for (int i = 0; i < size; ++i) out[i] = x[i] * inverse_rms * weight[i];
}

void SwiGluScalar(float* gate, const float* up, int size) {
  for (int i = 0; i < size; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// ---------------------------------------------------------------- AVX-512

// Tails by masked loads (zero lanes add nothing to the sum of squares).
RI_AVX512_FLOAT void RmsNormAvx512(const float* x, const float* weight, int size, float eps,
                                   float* out) {
  __m512 sums[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int i = 0; i < size; i += 16) {
    const __mmask16 lanes = size - i >= 16 ? 0xFFFF : (1u << (size - i)) - 1;
    const __m512 v = _mm512_maskz_loadu_ps(lanes, x + i);
    sums[i / 16 % 2] = _mm512_fmadd_ps(v, v, sums[i / 16 % 2]);
  }
  const __m512 inverse_rms =
      _mm512_set1_ps(InverseRms(_mm512_reduce_add_ps(_mm512_add_ps(sums[0], sums[1])), size, eps));
  for (int i = 0; i < size; i += 16) {
    const __mmask16 lanes = size - i >= 16 ? 0xFFFF : (1u << (size - i)) - 1;
    const __m512 scaled = _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, x + i), inverse_rms);
    _mm512_mask_storeu_ps(out + i, lanes,
                          _mm512_mul_ps(scaled, _mm512_maskz_loadu_ps(lanes, weight + i)));
  }
}

RI_AVX512_FLOAT void SwiGluAvx512(float* gate, const float* up, int size) {
  for (int i = 0; i < size; i += 16) {
    const __mmask16 lanes = size - i >= 16 ? 0xFFFF : (1u << (size - i)) - 1;
    const __m512 g = _mm512_maskz_loadu_ps(lanes, gate + i);
    const __m512 e = simd_exp::Exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
    _mm512_mask_storeu_ps(gate + i, lanes,
                          _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(lanes, up + i)));
  }
}

// ---------------------------------------------------------------- AVX2

RI_AVX2_FLOAT void RmsNormAvx2(const float* x, const float* weight, int size, float eps,
                               float* out) {
  __m256 sums[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  int i = 0;
  for (; i + 8 <= size; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    sums[i / 8 % 2] = _mm256_fmadd_ps(v, v, sums[i / 8 % 2]);
  }
  const __m256 sum = _mm256_add_ps(sums[0], sums[1]);
  __m128 lanes = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
  lanes = _mm_add_ps(lanes, _mm_movehl_ps(lanes, lanes));
  float sum_squares = _mm_cvtss_f32(_mm_add_ss(lanes, _mm_movehdup_ps(lanes)));
  for (int t = i; t < size; ++t) sum_squares += x[t] * x[t];
  const float inverse = InverseRms(sum_squares, size, eps);
  const __m256 inverse_rms = _mm256_set1_ps(inverse);
  for (i = 0; i + 8 <= size; i += 8) {
    const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(x + i), inverse_rms);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(scaled, _mm256_loadu_ps(weight + i)));
  }
  for (; i < size; ++i) out[i] = x[i] * inverse * weight[i];
}

RI_AVX2_FLOAT void SwiGluAvx2(float* gate, const float* up, int size) {
  int i = 0;
  for (; i + 8 <= size; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = simd_exp::Exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  SwiGluScalar(gate + i, up + i, size - i);
}

}  // namespace

void RmsNorm(const float* x, const float* weight, int size, float eps, float* out) {
  switch (ActiveSimdLevel()) {
    case SimdLevel::kAvx512:
      return RmsNormAvx512(x, weight, size, eps, out);
    case SimdLevel::kAvx2:
      return RmsNormAvx2(x, weight, size, eps, out);
    default:
      return RmsNormScalar(x, weight, size, eps, out);
  }
}

void SwiGlu(float* gate, const float* up, int size) {
  switch (ActiveSimdLevel()) {
    case SimdLevel::kAvx512:
      return SwiGluAvx512(gate, up, size);
    case SimdLevel::kAvx2:
      return SwiGluAvx2(gate, up, size);
    default:
      return SwiGluScalar(gate, up, size);
  }
}

}  // namespace ri
