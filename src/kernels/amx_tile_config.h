// The 64 bytes that ldtilecfg reads: palette 1, with the rows and bytes per
// row of each of up to eight tiles (zero: unused). For the AMX kernel files.
#pragma once

#include <cstdint>

namespace ri {

struct alignas(64) AmxTileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

}  // namespace ri
