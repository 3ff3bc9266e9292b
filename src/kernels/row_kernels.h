// Per-row float steps of the forward pass: RMSNorm and SwiGLU. SIMD path
// chosen at run time (cpu_features.h); the paths differ from the scalar one
// only in rounding (the order of the sum of squares, a polynomial exp).
#pragma once

namespace ri {

// out = x / sqrt(mean(x^2) + eps) * weight, over `size` elements (out may
// be x).
void RmsNorm(const float* x, const float* weight, int size, float eps, float* out);

// gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
void SwiGlu(float* gate, const float* up, int size);

}  // namespace ri
