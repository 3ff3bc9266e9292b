#include "kernels/q8_activations.h"

// GCC 12 reports the deliberately undefined pass-through operand inside the
// AVX-512 reduction intrinsics as uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include <atomic>
#include <cstring>

#include "kernels/cpu_features.h"
#include "util/cache_line.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace ri {

namespace {

// One block of 32 floats: codes, scale, sum of codes and sum of the first
// 16 codes. SSE2's cvtps2dq rounds to nearest even under the default
// rounding mode.
void QuantizeBlock(const float* x, int8_t* codes, float* scale, int32_t* sum, int32_t* half_sum) {
  const __m128 sign = _mm_set1_ps(-0.0f);
  __m128 max_abs = _mm_setzero_ps();
  for (int i = 0; i < 32; i += 4)
    max_abs = _mm_max_ps(max_abs, _mm_andnot_ps(sign, _mm_loadu_ps(x + i)));
  max_abs = _mm_max_ps(max_abs, _mm_shuffle_ps(max_abs, max_abs, _MM_SHUFFLE(1, 0, 3, 2)));
  max_abs = _mm_max_ps(max_abs, _mm_shuffle_ps(max_abs, max_abs, _MM_SHUFFLE(2, 3, 0, 1)));
  const float amax = _mm_cvtss_f32(max_abs);
  if (amax == 0.0f) {
    std::memset(codes, 0, 32);
    *scale = 0.0f;
    *sum = 0;
    *half_sum = 0;
    return;
  }
  *scale = amax / 127.0f;
  const __m128 inverse = _mm_set1_ps(127.0f / amax);
  const auto horizontal_sum = [](__m128i v) {
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(v);
  };
  int32_t halves[2];
  for (int i = 0; i < 32; i += 16) {
    __m128i q[4];
    for (int j = 0; j < 4; ++j)
      q[j] = _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(x + i + 4 * j), inverse));
    halves[i / 16] =
        horizontal_sum(_mm_add_epi32(_mm_add_epi32(q[0], q[1]), _mm_add_epi32(q[2], q[3])));
    // |q| <= 127 (127.5 cannot be reached), so the saturating packs are exact.
    const __m128i bytes = _mm_packs_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + i), bytes);
  }
  *half_sum = halves[0];
  *sum = halves[0] + halves[1];
}

// The same block with AVX-512: the same float operations (an exact max, one
// multiply per value, cvtps2dq's rounding, exact integer sums), so the same
// codes, scale and sums.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void QuantizeBlockAvx512(
    const float* x, int8_t* codes, float* scale, int32_t* sum, int32_t* half_sum) {
  const __m512 low = _mm512_loadu_ps(x), high = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(low), _mm512_abs_ps(high)));
  if (amax == 0.0f) {
    std::memset(codes, 0, 32);
    *scale = 0.0f;
    *sum = 0;
    *half_sum = 0;
    return;
  }
  *scale = amax / 127.0f;
  const __m512 inverse = _mm512_set1_ps(127.0f / amax);
  const __m512i q_low = _mm512_cvtps_epi32(_mm512_mul_ps(low, inverse));
  const __m512i q_high = _mm512_cvtps_epi32(_mm512_mul_ps(high, inverse));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(codes), _mm512_cvtsepi32_epi8(q_low));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + 16), _mm512_cvtsepi32_epi8(q_high));
  *half_sum = _mm512_reduce_add_epi32(q_low);
  *sum = *half_sum + _mm512_reduce_add_epi32(q_high);
}

}  // namespace

void Q8Activations::Quantize(const float* x, int num_rows, size_t stride, int64_t cols,
                             ThreadPool* pool) {
  if (cols % 32 != 0 || num_rows < 0) {
    Fail("Q8 activations: {} rows of {} values are not whole blocks of 32", num_rows, cols);
  }
  static std::atomic<uint64_t> last_version{0};
  version_ = ++last_version;
  num_rows_ = num_rows;
  num_blocks_ = cols / 32;
  const size_t blocks = static_cast<size_t>(num_rows) * num_blocks_;
  codes_ = CacheLineAligned(storage_, blocks * 32);
  scales_.resize(blocks);
  code_sums_.resize(blocks);
  scaled_sums_.resize(blocks);
  half_code_sums_.resize(blocks);
  const auto quantize_block =
      ActiveSimdLevel() == SimdLevel::kAvx512 ? QuantizeBlockAvx512 : QuantizeBlock;
  const auto quantize_rows = [&](size_t begin, size_t end) {
    for (size_t row = begin; row < end; ++row) {
      for (int64_t b = 0; b < num_blocks_; ++b) {
        const size_t i = Index(static_cast<int>(row), b);
        quantize_block(x + row * stride + b * 32, codes_ + i * 32, &scales_[i], &code_sums_[i],
                       &half_code_sums_[i]);
        scaled_sums_[i] = scales_[i] * static_cast<float>(code_sums_[i]);
      }
    }
  };
  if (pool == nullptr) return quantize_rows(0, num_rows);
  pool->ParallelFor(num_rows, quantize_rows, kRowsPerTask);
}

}  // namespace ri
