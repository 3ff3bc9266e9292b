// Activation rows rounded to 8-bit integers, one float scale per block of 32
// values, for the integer matmul kernels (ActivationPrecision::kQ8).
//
// Block b of a row holds codes q[0..31] in [-127, 127] and a scale s with
// value ~ q * s: s = (largest |value| of the block) / 127, q = the value / s
// rounded to nearest (ties to even), so each value is off by at most s / 2.
// An all-zero block has s = 0 and zero codes. The quantization is SSE2, or
// AVX-512 where the level allows, with identical results.
//
// The rows are also stored by groups of 8 blocks in the lane order of
// kernels that hold block j of a group in 32-bit lanes j and 8 + j: a
// single row alone, more rows by pairs (see group_codes, pair_codes).
//
// Besides the rows, a batch of two or more rows is also stored in tiles of 8
// rows (rows past the last are zero), by pairs of blocks (a missing last
// block is zero), for kernels that broadcast 4 weight codes of each block of
// a pair against 4 codes of each of the 8 rows: group k of a tile pair is
// 2 blocks x 8 rows x codes 4k..4k+3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ri {

class Q8Activations {
 public:
  static constexpr int kTileRows = 8;

  // The layouts besides the rows, built only for kernels that read them:
  // group codes (a single row), row pairs and tiles (two or more rows).
  enum Layout : unsigned { kGroups = 1, kPairs = 2, kTiles = 4 };
  static constexpr unsigned kAllLayouts = kGroups | kPairs | kTiles;

  // Quantizes `num_rows` rows of `cols` floats (a multiple of 32), `stride`
  // floats apart, and builds those of `layouts` that apply to num_rows.
  // Reuses the storage of earlier calls.
  void Quantize(const float* x, int num_rows, size_t stride, int64_t cols,
                unsigned layouts = kAllLayouts);

  int num_rows() const { return num_rows_; }
  int64_t num_blocks() const { return num_blocks_; }

  // The 32 codes of block `block` of row `row` (32-byte aligned).
  const int8_t* codes(int row, int64_t block) const {
    return codes_ + (static_cast<size_t>(row) * num_blocks_ + block) * 32;
  }
  // Per block of row `row`: the scale, the sum of the codes, and
  // scale * (float) sum, which a per-block weight offset m multiplies
  // (sum_i (d u_i + m) q_i s = d s sum u_i q_i + m s sum q_i).
  const float* scales(int row) const { return &scales_[Index(row, 0)]; }
  const int32_t* code_sums(int row) const { return &code_sums_[Index(row, 0)]; }
  const float* scaled_sums(int row) const { return &scaled_sums_[Index(row, 0)]; }

  // Blocks go in groups of 8 (block 8 g + j is block j of group g, those
  // past the last zero); code vectors are 64 bytes, 16 lanes of 4 codes,
  // 64-byte aligned. A Q4 weight byte holds codes i and i + 16, so the low
  // and high nibbles of the same weight bytes meet consecutive vectors.
  static constexpr int kGroupBlocks = 8;

  // A single row (num_rows == 1): group g as four code vectors; lane j < 8
  // of vector v holds codes kGroupCodesAt[v] .. + 3 of block j, lane 8 + j
  // the next 4.
  static constexpr int kGroupCodesAt[4] = {0, 16, 8, 24};
  const int8_t* group_codes(int64_t group) const { return group_codes_ + group * 256; }

  // Two or more rows: group g of rows 2 p and 2 p + 1 (a missing second row
  // zero), the pairs of a group adjacent. Codes: eight vectors; vector
  // 2 k + h holds codes 16 h + 4 k .. + 3 of block j of the first row in
  // lane j, of the second in lane 8 + j. Scales, code sums and scaled sums:
  // 16 each, in the same lanes.
  const int8_t* pair_codes(int64_t group, int pair) const {
    return pair_codes_ + PairIndex(group, pair) * 32;
  }
  const float* pair_scales(int64_t group, int pair) const {
    return &pair_scales_[PairIndex(group, pair)];
  }
  const int32_t* pair_code_sums(int64_t group, int pair) const {
    return &pair_code_sums_[PairIndex(group, pair)];
  }
  const float* pair_scaled_sums(int64_t group, int pair) const {
    return &pair_scaled_sums_[PairIndex(group, pair)];
  }
  int64_t num_groups() const { return (num_blocks_ + kGroupBlocks - 1) / kGroupBlocks; }

  // Tile `tile` (rows 8 tile ..): for the block pair starting at even block
  // `block`, 512 bytes of codes (block 2p + h, row i, codes 4k..4k+3 at
  // 64 k + 32 h + 4 i); for each block, 8 values (one per row) of scales,
  // code sums and scaled sums, those of a pair adjacent. Only when
  // num_rows >= 2.
  const int8_t* tile_codes(int tile, int64_t block) const {
    return tile_codes_ + TileIndex(tile, block) * 32;
  }
  const float* tile_scales(int tile, int64_t block) const {
    return &tile_scales_[TileIndex(tile, block)];
  }
  const int32_t* tile_code_sums(int tile, int64_t block) const {
    return &tile_code_sums_[TileIndex(tile, block)];
  }
  const float* tile_scaled_sums(int tile, int64_t block) const {
    return &tile_scaled_sums_[TileIndex(tile, block)];
  }

 private:
  size_t Index(int row, int64_t block) const {
    return static_cast<size_t>(row) * num_blocks_ + block;
  }
  int num_pairs() const { return (num_rows_ + 1) / 2; }
  size_t PairIndex(int64_t group, int pair) const {
    return (static_cast<size_t>(group) * num_pairs() + pair) * 2 * kGroupBlocks;
  }
  // Tiles have an even number of blocks.
  int64_t tile_blocks() const { return (num_blocks_ + 1) / 2 * 2; }
  size_t TileIndex(int tile, int64_t block) const {
    return (static_cast<size_t>(tile) * tile_blocks() + block) * kTileRows;
  }
  void BuildGroups();
  void BuildPairs();
  void BuildTiles();

  int num_rows_ = 0;
  int64_t num_blocks_ = 0;
  std::vector<int8_t> storage_;  // codes_ points 64-byte aligned into it
  int8_t* codes_ = nullptr;
  std::vector<float> scales_;
  std::vector<int32_t> code_sums_;
  std::vector<float> scaled_sums_;
  std::vector<int8_t> group_storage_;  // group_codes_ points 64-byte aligned into it
  int8_t* group_codes_ = nullptr;
  std::vector<int8_t> pair_storage_;  // pair_codes_ points 64-byte aligned into it
  int8_t* pair_codes_ = nullptr;
  std::vector<float> pair_scales_;
  std::vector<int32_t> pair_code_sums_;
  std::vector<float> pair_scaled_sums_;
  std::vector<int8_t> tile_storage_;  // tile_codes_ points 64-byte aligned into it
  int8_t* tile_codes_ = nullptr;
  std::vector<float> tile_scales_;
  std::vector<int32_t> tile_code_sums_;
  std::vector<float> tile_scaled_sums_;
};

}  // namespace ri
