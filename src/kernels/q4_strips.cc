#include "kernels/q4_strips.h"

#include <cstring>

#include "kernels/matmul.h"
#include "util/error.h"

namespace ri {

Q4Strips::Q4Strips(const WeightMatrix& w) {
  if (w.type != TensorType::Q4_0 && w.type != TensorType::Q4_1) {
    Fail("Q4 strips of a {} matrix", Traits(w.type).name);
  }
  const bool has_offset = w.type == TensorType::Q4_1;
  const size_t codes_at = has_offset ? 4 : 2;  // after d (and m)
  const size_t type_size = Traits(w.type).type_size;
  const int64_t num_blocks = w.cols / 32;
  num_strips_ = (w.rows + kRows - 1) / kRows;
  block_bytes_ = kCodeBytes + kFieldBytes * (has_offset ? 2 : 1);
  strip_bytes_ = (num_blocks * block_bytes_ + 63) / 64 * 64;
  storage_.assign(num_strips_ * strip_bytes_ + 64, 0);
  data_ = storage_.data() + (64 - reinterpret_cast<uintptr_t>(storage_.data()) % 64) % 64;
  for (int64_t s = 0; s < num_strips_; ++s) {
    uint8_t* out = data_ + s * strip_bytes_;
    for (int64_t j = 0; j < 8; ++j) {
      for (int64_t b = j; b < num_blocks; b += 8, out += block_bytes_) {
        for (int i = 0; i < kRows && s * kRows + i < w.rows; ++i) {
          const uint8_t* block = w.data + (s * kRows + i) * w.row_bytes + b * type_size;
          for (int k = 0; k < 4; ++k) std::memcpy(out + 64 * k + 4 * i, block + codes_at + 4 * k, 4);
          std::memcpy(out + kCodeBytes + 2 * i, block, 2);
          if (has_offset) std::memcpy(out + kCodeBytes + kFieldBytes + 2 * i, block + 2, 2);
        }
      }
    }
  }
}

}  // namespace ri
