// Scalar dequantizers. Each mirrors the float32 operation order of the gguf
// Python package (gguf/quants.py), e.g. Q4_1 is (d * q) + m with two
// roundings, so results are bit-identical; this file is compiled with
// -ffp-contract=off so that no multiply-add is fused.
#include "kernels/dequantize.h"

#include <cstring>

#include "util/error.h"
#include "util/fp16.h"

namespace ri {

namespace {

float LoadFp16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return Fp16ToFloat(h);
}

void DequantizeQ4_0(const uint8_t* b, float* out) {
  const float d = LoadFp16(b);
  for (int e = 0; e < 32; ++e) {
    out[e] = d * static_cast<float>(static_cast<int>(StoredCode(TensorType::Q4_0, b, e)) - 8);
  }
}

void DequantizeQ4_1(const uint8_t* b, float* out) {
  const float d = LoadFp16(b);
  const float m = LoadFp16(b + 2);
  for (int e = 0; e < 32; ++e)
    out[e] = d * static_cast<float>(StoredCode(TensorType::Q4_1, b, e)) + m;
}

void DequantizeQ5_0(const uint8_t* b, float* out) {
  const float d = LoadFp16(b);
  for (int e = 0; e < 32; ++e) {
    const int q = static_cast<int>(StoredCode(TensorType::Q5_0, b, e));
    out[e] = d * static_cast<float>(q - 16);
  }
}

void DequantizeQ5_1(const uint8_t* b, float* out) {
  const float d = LoadFp16(b);
  const float m = LoadFp16(b + 2);
  for (int e = 0; e < 32; ++e) {
    const uint32_t q = StoredCode(TensorType::Q5_1, b, e);
    out[e] = d * static_cast<float>(q) + m;
  }
}

void DequantizeQ8_0(const uint8_t* b, float* out) {
  const float d = LoadFp16(b);
  for (int e = 0; e < 32; ++e) out[e] = static_cast<float>(static_cast<int8_t>(b[2 + e])) * d;
}

// Q4_K / Q5_K: eight sub-blocks of 32 with a scale and a min each.
void DequantizeQ45K(TensorType type, const uint8_t* b, float* out) {
  const float d = LoadFp16(b);
  const float dmin = LoadFp16(b + 2);
  for (int s = 0; s < 8; ++s) {
    uint32_t scale, min;
    KScaleMin(b + 4, s, &scale, &min);
    const float ds = d * static_cast<float>(scale);
    const float ms = dmin * static_cast<float>(min);
    for (int e = 32 * s; e < 32 * s + 32; ++e) {
      out[e] = ds * static_cast<float>(StoredCode(type, b, e)) - ms;
    }
  }
}

void DequantizeQ6_K(const uint8_t* b, float* out) {
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = LoadFp16(b + 208);
  for (int e = 0; e < 256; ++e) {
    const int q = static_cast<int>(StoredCode(TensorType::Q6_K, b, e)) - 32;
    const float ds = d * static_cast<float>(scales[e / 16]);
    out[e] = ds * static_cast<float>(q);
  }
}

}  // namespace

void DequantizeRow(TensorType type, const void* blocks, float* out, int64_t n) {
  const TensorTypeTraits& traits = Traits(type);
  if (!traits.computable) Fail("cannot dequantize tensor type {}", traits.name);
  if (n < 0 || n % traits.block_size != 0) {
    Fail("cannot dequantize {} elements of {}: not a multiple of its block size {}", n,
         traits.name, traits.block_size);
  }
  const auto* src = static_cast<const uint8_t*>(blocks);
  switch (type) {
    case TensorType::F32:
      std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = LoadFp16(src + 2 * i);
      return;
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, sizeof h);
        out[i] = Bf16ToFloat(h);
      }
      return;
    default:
      break;
  }
  const int64_t num_blocks = n / traits.block_size;
  for (int64_t i = 0; i < num_blocks; ++i) {
    const uint8_t* b = src + i * traits.type_size;
    float* o = out + i * traits.block_size;
    switch (type) {
      case TensorType::Q4_0:
        DequantizeQ4_0(b, o);
        break;
      case TensorType::Q4_1:
        DequantizeQ4_1(b, o);
        break;
      case TensorType::Q5_0:
        DequantizeQ5_0(b, o);
        break;
      case TensorType::Q5_1:
        DequantizeQ5_1(b, o);
        break;
      case TensorType::Q8_0:
        DequantizeQ8_0(b, o);
        break;
      case TensorType::Q4_K:
        DequantizeQ45K(TensorType::Q4_K, b, o);
        break;
      case TensorType::Q5_K:
        DequantizeQ45K(TensorType::Q5_K, b, o);
        break;
      case TensorType::Q6_K:
        DequantizeQ6_K(b, o);
        break;
      default:
        Fail("no dequantizer for tensor type {}", traits.name);
    }
  }
}

}  // namespace ri
