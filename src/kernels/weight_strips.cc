#include "kernels/weight_strips.h"

#include <cstring>

#include "kernels/matmul.h"
#include "util/cache_line.h"
#include "util/error.h"

namespace ri {

WeightStrips::WeightStrips(const WeightMatrix& w) {
  const TensorType type = w.type;
  if (type != TensorType::Q4_0 && type != TensorType::Q4_1 && type != TensorType::Q8_0) {
    Fail("weight strips of a {} matrix", Traits(type).name);
  }
  const size_t codes_at = type == TensorType::Q4_1 ? 4 : 2;  // after d (and m)
  const size_t type_size = Traits(type).type_size;
  const size_t code_bytes = CodeBytes(type), block_bytes = BlockBytes(type);
  const int64_t num_blocks = w.cols / 32;
  num_strips_ = (w.rows + kRows - 1) / kRows;
  strip_bytes_ = (num_blocks * block_bytes + 63) / 64 * 64;
  storage_.clear();  // padding stays zero
  data_ = CacheLineAligned(storage_, num_strips_ * strip_bytes_);
  for (int64_t s = 0; s < num_strips_; ++s) {
    uint8_t* out = data_ + s * strip_bytes_;
    for (int64_t j = 0; j < 8; ++j) {
      for (int64_t b = j; b < num_blocks; b += 8, out += block_bytes) {
        for (int i = 0; i < kRows && s * kRows + i < w.rows; ++i) {
          const uint8_t* block = w.data + (s * kRows + i) * w.row_bytes + b * type_size;
          for (size_t k = 0; k < code_bytes / kVectorBytes; ++k) {
            uint8_t* lane = out + kVectorBytes * k + 4 * i;
            std::memcpy(lane, block + codes_at + 4 * k, 4);
            if (type == TensorType::Q8_0) {
              for (int t = 0; t < 4; ++t) lane[t] ^= 0x80;
            }
          }
          std::memcpy(out + code_bytes + 2 * i, block, 2);
          if (type == TensorType::Q4_1)
            std::memcpy(out + code_bytes + kFieldBytes + 2 * i, block + 2, 2);
        }
      }
    }
  }
}

}  // namespace ri
