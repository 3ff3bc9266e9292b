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

// Pairs first .. half - 1 (the SIMD paths' leftovers, or all).
void RotateHeadScalar(float* head, const float* cosines, const float* sines, int half,
                      bool adjacent_pairs, int first = 0) {
  for (int i = first; i < half; ++i) {
    const int a = adjacent_pairs ? 2 * i : i;
    const int b = adjacent_pairs ? 2 * i + 1 : i + half;
    const float x = head[a];
    const float y = head[b];
    head[a] = x * cosines[i] - y * sines[i];
    head[b] = x * sines[i] + y * cosines[i];
  }
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

// The 8 floats at p, each twice: p0 p0 p1 p1 ...
RI_AVX512_FLOAT __m512 EachTwice8(const float* p) {
  const __m512i twice = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  return _mm512_permutexvar_ps(twice, _mm512_castps256_ps512(_mm256_loadu_ps(p)));
}

// Adjacent pairs: each lane multiplies its own value by cos and its
// partner's (vpermilps swaps the pair) by -sin or +sin, which rounds as the
// scalar p cos - q sin and q cos + p sin. Halves: as written.
RI_AVX512_FLOAT void RotateHeadAvx512(float* head, const float* cosines, const float* sines,
                                      int half, bool adjacent_pairs) {
  int i = 0;
  if (adjacent_pairs) {
    const __m512 signs = _mm512_setr_ps(-1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1);
    for (; i + 8 <= half; i += 8) {
      const __m512 v = _mm512_loadu_ps(head + 2 * i);
      const __m512 own = _mm512_mul_ps(v, EachTwice8(cosines + i));
      const __m512 partner =
          _mm512_mul_ps(_mm512_permute_ps(v, 0xB1), _mm512_mul_ps(signs, EachTwice8(sines + i)));
      _mm512_storeu_ps(head + 2 * i, _mm512_add_ps(own, partner));
    }
  } else {
    for (; i + 16 <= half; i += 16) {
      const __m512 c = _mm512_loadu_ps(cosines + i), s = _mm512_loadu_ps(sines + i);
      const __m512 x = _mm512_loadu_ps(head + i), y = _mm512_loadu_ps(head + half + i);
      _mm512_storeu_ps(head + i, _mm512_sub_ps(_mm512_mul_ps(x, c), _mm512_mul_ps(y, s)));
      _mm512_storeu_ps(head + half + i, _mm512_add_ps(_mm512_mul_ps(x, s), _mm512_mul_ps(y, c)));
    }
  }
  RotateHeadScalar(head, cosines, sines, half, adjacent_pairs, i);
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

// The 4 floats at p, each twice.
RI_AVX2_FLOAT __m256 EachTwice4(const float* p) {
  return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(p)),
                                  _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
}

RI_AVX2_FLOAT void RotateHeadAvx2(float* head, const float* cosines, const float* sines, int half,
                                  bool adjacent_pairs) {
  int i = 0;
  if (adjacent_pairs) {
    const __m256 signs = _mm256_setr_ps(-1, 1, -1, 1, -1, 1, -1, 1);
    for (; i + 4 <= half; i += 4) {
      const __m256 v = _mm256_loadu_ps(head + 2 * i);
      const __m256 own = _mm256_mul_ps(v, EachTwice4(cosines + i));
      const __m256 partner =
          _mm256_mul_ps(_mm256_permute_ps(v, 0xB1), _mm256_mul_ps(signs, EachTwice4(sines + i)));
      _mm256_storeu_ps(head + 2 * i, _mm256_add_ps(own, partner));
    }
  } else {
    for (; i + 8 <= half; i += 8) {
      const __m256 c = _mm256_loadu_ps(cosines + i), s = _mm256_loadu_ps(sines + i);
      const __m256 x = _mm256_loadu_ps(head + i), y = _mm256_loadu_ps(head + half + i);
      _mm256_storeu_ps(head + i, _mm256_sub_ps(_mm256_mul_ps(x, c), _mm256_mul_ps(y, s)));
      _mm256_storeu_ps(head + half + i, _mm256_add_ps(_mm256_mul_ps(x, s), _mm256_mul_ps(y, c)));
    }
  }
  RotateHeadScalar(head, cosines, sines, half, adjacent_pairs, i);
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

void RotateHead(float* head, const float* cosines, const float* sines, int half,
                bool adjacent_pairs) {
  switch (ActiveSimdLevel()) {
    case SimdLevel::kAvx512:
      return RotateHeadAvx512(head, cosines, sines, half, adjacent_pairs);
    case SimdLevel::kAvx2:
      return RotateHeadAvx2(head, cosines, sines, half, adjacent_pairs);
    default:
      return RotateHeadScalar(head, cosines, sines, half, adjacent_pairs);
  }
}

}  // namespace ri
