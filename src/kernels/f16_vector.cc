#include "kernels/f16_vector.h"

#include <immintrin.h>

#include "kernels/cpu_features.h"
#include "util/fp16.h"

namespace ri {

namespace {

void ScoreKeysScalar(const float* query, const uint16_t* keys, int count, int dim, float scale,
                     float* scores) {
  for (int i = 0; i < count; ++i) {
    const uint16_t* key = keys + static_cast<size_t>(i) * dim;
    float sum = 0.0f;
    for (int d = 0; d < dim; ++d) sum += query[d] * Fp16ToFloat(key[d]);
    scores[i] = sum * scale;
  }
}

void AccumulateValuesScalar(const float* weights, const uint16_t* values, int count, int dim,
                            float* out) {
  for (int i = 0; i < count; ++i) {
    const uint16_t* value = values + static_cast<size_t>(i) * dim;
    for (int d = 0; d < dim; ++d) out[d] += weights[i] * Fp16ToFloat(value[d]);
  }
}

__attribute__((target("avx2,fma,f16c"))) float HorizontalSum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

__attribute__((target("avx2,fma,f16c"))) void ScoreKeysAvx2(const float* query,
                                                             const uint16_t* keys, int count,
                                                             int dim, float scale,
                                                             float* scores) {
  const int vector_dim = dim & ~7;
  for (int i = 0; i < count; ++i) {
    const uint16_t* key = keys + static_cast<size_t>(i) * dim;
    __m256 acc = _mm256_setzero_ps();
    for (int d = 0; d < vector_dim; d += 8) {
      const __m256 k = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(key + d)));
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(query + d), k, acc);
    }
    float sum = HorizontalSum(acc);
    for (int d = vector_dim; d < dim; ++d) sum += query[d] * Fp16ToFloat(key[d]);
    scores[i] = sum * scale;
  }
}

__attribute__((target("avx2,fma,f16c"))) void AccumulateValuesAvx2(const float* weights,
                                                                    const uint16_t* values,
                                                                    int count, int dim,
                                                                    float* out) {
  const int vector_dim = dim & ~7;
  for (int d = 0; d < vector_dim; d += 8) {
    __m256 acc = _mm256_loadu_ps(out + d);
    for (int i = 0; i < count; ++i) {
      const uint16_t* value = values + static_cast<size_t>(i) * dim + d;
      const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(value)));
      acc = _mm256_fmadd_ps(_mm256_set1_ps(weights[i]), v, acc);
    }
    _mm256_storeu_ps(out + d, acc);
  }
  for (int i = 0; i < count; ++i) {
    const uint16_t* value = values + static_cast<size_t>(i) * dim;
    for (int d = vector_dim; d < dim; ++d) out[d] += weights[i] * Fp16ToFloat(value[d]);
  }
}

}  // namespace

void ScoreKeysF16(const float* query, const uint16_t* keys, int count, int dim, float scale,
                  float* scores) {
  if (ActiveSimdLevel() >= SimdLevel::kAvx2) {
    ScoreKeysAvx2(query, keys, count, dim, scale, scores);
  } else {
    ScoreKeysScalar(query, keys, count, dim, scale, scores);
  }
}

void AccumulateValuesF16(const float* weights, const uint16_t* values, int count, int dim,
                         float* out) {
  if (ActiveSimdLevel() >= SimdLevel::kAvx2) {
    AccumulateValuesAvx2(weights, values, count, dim, out);
  } else {
    AccumulateValuesScalar(weights, values, count, dim, out);
  }
}

}  // namespace ri
