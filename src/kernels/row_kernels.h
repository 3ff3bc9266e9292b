// Per-row float steps of the forward pass: RMSNorm, SwiGLU and RoPE's
// rotation. SIMD path chosen at run time (cpu_features.h); RMSNorm and
// SwiGLU differ from the scalar path only in rounding (the order of the sum
// of squares, a polynomial exp), the rotation not at all.
#pragma once

namespace ri {

// out = x / sqrt(mean(x^2) + eps) * weight, over `size` elements (out may
// be x).
void RmsNorm(const float* x, const float* weight, int size, float eps, float* out);

// gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
void SwiGlu(float* gate, const float* up, int size);

// RoPE's rotation of one head in place: for i < half, the pair (p, q) =
// (2i, 2i + 1) (adjacent pairs) or (i, i + half) (halves) becomes
// (p cos_i - q sin_i, p sin_i + q cos_i). Rounded as written (no fused
// multiply-add), so every level gives the same bits.
void RotateHead(float* head, const float* cosines, const float* sines, int half,
                bool adjacent_pairs);

}  // namespace ri
