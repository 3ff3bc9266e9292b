#include "kernels/weight_strips.h"

#include <cstring>

#include "kernels/dequantize.h"
#include "kernels/matmul.h"
#include "util/cache_line.h"
#include "util/error.h"

namespace ri {

namespace {

// A Q6_K block's codes as weight_strips.h lays them out, into lane i of the
// 48 vectors at `vectors`.
void PackSixBitCodes(const uint8_t* block, uint8_t* vectors, int i) {
  for (int k = 0; k < 16; ++k) {
    const auto code = [&](int e) { return Q6KCode(block, 16 * k + e); };
    for (int w = 0; w < 3; ++w) {
      uint32_t lane = ((code(15) >> (2 * w)) & 3) << 30;
      for (int j = 0; j < 5; ++j) lane |= code(5 * w + j) << (6 * j);
      std::memcpy(vectors + WeightStrips::kVectorBytes * (3 * k + w) + 4 * i, &lane, 4);
    }
  }
}

}  // namespace

WeightStrips::WeightStrips(const WeightMatrix& w) {
  const TensorType type = w.type;
  if (type != TensorType::Q4_0 && type != TensorType::Q4_1 && type != TensorType::Q8_0 &&
      type != TensorType::Q4_K && type != TensorType::Q6_K) {
    Fail("weight strips of a {} matrix", Traits(type).name);
  }
  const Layout layout = LayoutOf(type);
  const TensorTypeTraits& traits = Traits(type);
  const size_t lane_bytes = LaneBytes(type), block_bytes = BlockBytes(type);
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
          if (layout.six_bit_vectors > 0)
            PackSixBitCodes(block, out + layout.lane_bytes / 4 * kVectorBytes, i);
          for (int f = 0; f < layout.num_fields; ++f) {
            std::memcpy(out + lane_bytes + kFieldBytes * f + 2 * i, block + layout.fields_at[f], 2);
          }
        }
      }
    }
  }
}

}  // namespace ri
