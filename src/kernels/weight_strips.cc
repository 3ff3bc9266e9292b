#include "kernels/weight_strips.h"

#include <cstring>

#include "kernels/dequantize.h"
#include "kernels/matmul.h"
#include "util/cache_line.h"
#include "util/error.h"

namespace ri {

namespace {

// A stored block's codes as weight_strips.h lays them out, into lane i of
// the packed vectors at `vectors`.
void PackCodes(TensorType type, const uint8_t* block, int block_size, uint8_t* vectors, int i) {
  const int bits = WeightStrips::LayoutOf(type).code_bits;
  const int size = WeightStrips::PackedSubBlock(bits), words = WeightStrips::PackedWords(bits);
  const int per_word = WeightStrips::PackedPerWord(bits);
  const int spare = WeightStrips::PackedSpareBits(bits);
  for (int k = 0; k < block_size / size; ++k) {
    const auto code = [&](int e) { return StoredCode(type, block, size * k + e); };
    for (int w = 0; w < words; ++w) {
      uint32_t lane = 0;
      for (int j = 0; j < per_word; ++j) lane |= code(per_word * w + j) << (bits * j);
      for (int t = 0; t < spare; ++t) {
        const int g = spare * w + t;
        lane |= ((code(per_word * words + g / bits) >> (g % bits)) & 1) << (32 - spare + t);
      }
      std::memcpy(vectors + WeightStrips::kVectorBytes * (words * k + w) + 4 * i, &lane, 4);
    }
  }
}

}  // namespace

WeightStrips::WeightStrips(const WeightMatrix& w) {
  const TensorType type = w.type;
  if (!Holds(type)) Fail("weight strips of a {} matrix", Traits(type).name);
  const ActivationPrecision reader =
      UsesQ8Activations(w) ? ActivationPrecision::kQ8 : ActivationPrecision::kFloat;
  const Layout layout = LayoutOf(type, reader);
  const TensorTypeTraits& traits = Traits(type);
  const size_t lane_bytes = LaneBytes(type, reader), block_bytes = BlockBytes(type, reader);
  const int64_t num_blocks = w.cols / traits.block_size, interleave = Interleave(type);
  num_strips_ = (w.rows + kRows - 1) / kRows;
  strip_bytes_ = (num_blocks * block_bytes + 63) / 64 * 64;
  storage_.clear();  // padding stays zero
  data_ = CacheLineAligned(storage_, num_strips_ * strip_bytes_);
  for (int64_t s = 0; s < num_strips_; ++s) {
    uint8_t* out = data_ + s * strip_bytes_;
    for (int64_t j = 0; j < interleave; ++j) {
      for (int64_t b = j; b < num_blocks; b += interleave, out += block_bytes) {
        for (int i = 0; i < kRows && s * kRows + i < w.rows; ++i) {
          const uint8_t* block = w.data + (s * kRows + i) * w.row_bytes + b * traits.type_size;
          for (size_t k = 0; k < layout.lane_bytes / 4; ++k) {
            uint8_t* lane = out + kVectorBytes * k + 4 * i;
            std::memcpy(lane, block + layout.lane_from + 4 * k, 4);
            if (type == TensorType::Q8_0) {
              for (int t = 0; t < 4; ++t) lane[t] ^= 0x80;
            }
          }
          if (layout.fifth_bits_at > 0) {
            const uint32_t fifth_bits = LoadU32(block + layout.fifth_bits_at);
            uint32_t spread = 0;
            for (int c = 0; c < 32; ++c) spread |= ((fifth_bits >> c) & 1) << (8 * (c % 4) + c / 4);
            std::memcpy(out + layout.lane_bytes / 4 * kVectorBytes + 4 * i, &spread, 4);
          }
          if (layout.code_bits > 0) {
            PackCodes(type, block, traits.block_size, out + layout.lane_bytes / 4 * kVectorBytes,
                      i);
          }
          for (int f = 0; f < layout.num_fields; ++f) {
            std::memcpy(out + lane_bytes + kFieldBytes * f + 2 * i, block + layout.fields_at[f], 2);
          }
        }
      }
    }
  }
}

}  // namespace ri
