#include "kernels/q8_activations.h"

#include <emmintrin.h>

#include <cstring>

#include "util/error.h"

namespace ri {

namespace {

// One block of 32 floats: codes, scale and scale * sum of codes. SSE2's
// cvtps2dq rounds to nearest even under the default rounding mode.
void QuantizeBlock(const float* x, int8_t* codes, float* scale, float* scaled_sum) {
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
    *scaled_sum = 0.0f;
    return;
  }
  *scale = amax / 127.0f;
  const __m128 inverse = _mm_set1_ps(127.0f / amax);
  __m128i sums = _mm_setzero_si128();
  for (int i = 0; i < 32; i += 16) {
    __m128i q[4];
    for (int j = 0; j < 4; ++j)
      q[j] = _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(x + i + 4 * j), inverse));
    sums = _mm_add_epi32(sums, _mm_add_epi32(_mm_add_epi32(q[0], q[1]), _mm_add_epi32(q[2], q[3])));
    // |q| <= 127 (127.5 cannot be reached), so the saturating packs are exact.
    const __m128i bytes = _mm_packs_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + i), bytes);
  }
  sums = _mm_add_epi32(sums, _mm_shuffle_epi32(sums, _MM_SHUFFLE(1, 0, 3, 2)));
  sums = _mm_add_epi32(sums, _mm_shuffle_epi32(sums, _MM_SHUFFLE(2, 3, 0, 1)));
  *scaled_sum = *scale * static_cast<float>(_mm_cvtsi128_si32(sums));
}

}  // namespace

void Q8Activations::Quantize(const float* x, int num_rows, size_t stride, int64_t cols) {
  if (cols % 32 != 0 || num_rows < 0) {
    Fail("Q8 activations: {} rows of {} values are not whole blocks of 32", num_rows, cols);
  }
  num_rows_ = num_rows;
  num_blocks_ = cols / 32;
  padded_blocks_ = (num_blocks_ + 15) / 16 * 16;
  const size_t blocks = static_cast<size_t>(num_rows) * padded_blocks_;
  if (storage_.size() < blocks * 32 + 64) storage_.resize(blocks * 32 + 64);
  codes_ = storage_.data() + (64 - reinterpret_cast<uintptr_t>(storage_.data()) % 64) % 64;
  scales_.resize(blocks);
  scaled_sums_.resize(blocks);
  for (int row = 0; row < num_rows; ++row) {
    for (int64_t b = 0; b < padded_blocks_; ++b) {
      const size_t i = static_cast<size_t>(row) * padded_blocks_ + b;
      if (b < num_blocks_) {
        QuantizeBlock(x + row * stride + b * 32, codes_ + i * 32, &scales_[i], &scaled_sums_[i]);
      } else {
        std::memset(codes_ + i * 32, 0, 32);
        scales_[i] = scaled_sums_[i] = 0.0f;
      }
    }
  }
}

}  // namespace ri
