// Prompt-tile attention in BF16 on AMX tiles (AttendTileBf16); this file
// alone is compiled with AMX-BF16 and runs only where Bf16TileAttentionAvailable.
//
// Scores: tile A holds 16 queries' BF16 elements (32 per tile row), tile B
// 16 keys as 16 rows of dimension pairs (the pair's two elements side by
// side, as tdpbf16ps takes them). Values: tile A holds 16 queries'
// probabilities (32 positions per tile row), tile B 16 value dimensions as
// 16 rows of position pairs. Each product of two BF16 numbers is exact in
// float and the tile sums them in float.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/amx_tile_config.h"
#include "kernels/attention_kernels.h"
#include "kernels/cpu_features.h"
#include "kernels/x86_intrinsics.h"

namespace ri {

namespace {

// Seven tiles of 16 rows of 64 bytes: 0-3 accumulate (16 x 16 floats), 4
// takes A, 5 and 6 B.
AmxTileConfig MakeConfig() {
  AmxTileConfig config;
  for (int t = 0; t < 7; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = 16;
  }
  return config;
}

constexpr int kTile = 16;       // rows and float columns of a tile
constexpr int kPairSpan = 32;   // BF16 elements of a tile row of A
constexpr int kDimBlock = 64;   // value dimensions per pass (four tiles)
constexpr int kScoreSpan = 64;  // positions per pass of the scores (four tiles)

int RoundUp(int n, int multiple) { return (n + multiple - 1) / multiple * multiple; }

// Positions a tile pass covers: whole blocks of kScoreSpan, at least one.
int Padded(int positions) { return std::max(RoundUp(positions, kScoreSpan), kScoreSpan); }

// The first min(n, 16) lanes (n >= 0).
__mmask16 FirstLanes(int n) { return static_cast<__mmask16>((1u << std::min(n, kTile)) - 1); }

// 16 floats rounded to BF16 (nearest even).
__m256i ToBf16(__m512 x) { return reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x)); }

__m512 LoadHalves(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// The 16 pairs (first[i], second[i]) in BF16, as a row of tile B holds them.
__m512i PairUp(__m512 first, __m512 second) {
  const __m512i index = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                         8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(index,
                                  reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(second, first)));
}

// A tile B of keys or values: 16 rows of 16 pairs (64 bytes), contiguous.
constexpr int kTileWords = kTile * kTile;

// Keys as tile B takes them, one tile per 16 positions and 32 dimensions:
// row r of the tiles of positions [16 j, 16 j + 16) holds the pairs of
// dimensions 2 r, 2 r + 1, lane i that of position 16 j + i, at
// pairs[(j * dim / 2 + r) * 16 + i].
void KeysToPairs(std::span<const F16KeyRun> runs, size_t key_stride, int dim, uint32_t* pairs) {
  int offset = 0;
  for (const F16KeyRun& run : runs) {
    for (int i = 0; i < run.count; i += kTile) {
      const __mmask16 lanes = FirstLanes(run.count - i);
      // The chunk's positions start at lane `lane` of tile row block `block`
      // and may run on into the next block.
      const int block = (offset + i) / kTile, lane = (offset + i) % kTile;
      const __mmask16 first_part = lanes & static_cast<__mmask16>((1u << (kTile - lane)) - 1);
      const __mmask16 second_part = lanes & static_cast<__mmask16>(~first_part);
      uint32_t* first = pairs + static_cast<size_t>(block) * (dim / 2) * kTile + lane;
      uint32_t* second = first + (dim / 2) * kTile - kTile;
      for (int r = 0; r < dim / 2; ++r) {
        const uint16_t* even = run.keys + 2 * r * key_stride + i;
        const __m512i paired =
            PairUp(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, even)),
                   _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, even + key_stride)));
        _mm512_mask_storeu_epi32(first + r * kTile, first_part, paired);
        if (second_part != 0) _mm512_mask_storeu_epi32(second + r * kTile, second_part, paired);
      }
    }
    offset += run.count;
  }
}

// Values as tile B takes them, one tile per 32 positions and 16 dimensions:
// row r of the tiles of positions [32 s, 32 s + 32) holds the pairs of
// positions 32 s + 2 r, 32 s + 2 r + 1, lane d that of dimension 16 t + d,
// at pairs[((s * dim / 16 + t) * 16 + r) * 16 + d]; positions past the
// runs' (up to `padded`) are zero. `rows` receives where each position's
// values start.
void ValuesToPairs(std::span<const F16ValueRun> runs, int dim, int padded,
                   std::vector<const uint16_t*>& rows, std::vector<uint16_t>& zeros,
                   uint32_t* pairs) {
  rows.clear();
  for (const F16ValueRun& run : runs) {
    for (int i = 0; i < run.count; ++i) rows.push_back(run.values + static_cast<size_t>(i) * dim);
  }
  zeros.assign(dim, 0);
  rows.resize(padded, zeros.data());
  const int dim_tiles = dim / kTile;
  for (int r = 0; r < padded / 2; ++r) {
    const uint16_t* first = rows[2 * r];
    const uint16_t* second = rows[2 * r + 1];
    uint32_t* to =
        pairs + static_cast<size_t>(r / kTile) * dim_tiles * kTileWords + r % kTile * kTile;
    for (int d = 0; d < dim; d += kTile, to += kTileWords) {
      _mm512_storeu_si512(to, PairUp(LoadHalves(first + d), LoadHalves(second + d)));
    }
  }
}

// to[i] = from[i] * scale rounded to BF16, for `count` floats (a multiple of
// 16).
void ScaleToBf16(const float* from, int count, float scale, uint16_t* to) {
  const __m512 factor = _mm512_set1_ps(scale);
  for (int i = 0; i < count; i += kTile) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(to + i),
                        ToBf16(_mm512_mul_ps(_mm512_loadu_ps(from + i), factor)));
  }
}

// exp(x) for finite x <= 0 within 6e-5 of its value (BF16 keeps 4e-3):
// 2^n 2^f for t = x log2(e) = n + f, |f| <= 1/2, with the degree-4 Taylor
// polynomial of 2^f. Underflows to zero below about -87.
__m512 ExpNonPositive(__m512 x) {
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_mul_ps(_mm512_sub_ps(t, n), _mm512_set1_ps(0.693147181f));
  __m512 p = _mm512_set1_ps(1.0f / 24);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// exp(row[i] - max) rounded to BF16 into `to` for the first `seen` scores
// (zero from there to `padded`), and into `row` as probabilities if
// `normalize_row`; sets inverse_sum to 1 / their sum and returns the log of
// the sum of exp(row[i]) (-infinity if nothing is seen).
float ExpRowToBf16(float* row, int seen, int padded, bool normalize_row, uint16_t* to,
                   float& inverse_sum) {
  __m512 max_vector = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int i = 0; i < seen; i += kTile) {
    const __mmask16 lanes = FirstLanes(seen - i);
    max_vector = _mm512_mask_max_ps(max_vector, lanes, max_vector, _mm512_loadu_ps(row + i));
  }
  const float max_score = _mm512_reduce_max_ps(max_vector);
  const __m512 shift = _mm512_set1_ps(max_score);
  __m512 sum_vector = _mm512_setzero_ps();
  int i = 0;
  for (; i < seen; i += kTile) {
    const __mmask16 lanes = FirstLanes(seen - i);
    const __m512 e =
        _mm512_maskz_mov_ps(lanes, ExpNonPositive(_mm512_sub_ps(_mm512_loadu_ps(row + i), shift)));
    sum_vector = _mm512_add_ps(sum_vector, e);
    if (normalize_row) _mm512_storeu_ps(row + i, e);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(to + i), ToBf16(e));
  }
  std::fill(to + i, to + padded, uint16_t{0});
  const float sum = _mm512_reduce_add_ps(sum_vector);
  inverse_sum = seen > 0 ? 1.0f / sum : 0.0f;
  if (normalize_row) {
    const __m512 inverse = _mm512_set1_ps(inverse_sum);
    for (int j = 0; j < i; j += kTile) {
      _mm512_storeu_ps(row + j, _mm512_mul_ps(_mm512_loadu_ps(row + j), inverse));
    }
    std::fill(row + i, row + padded, 0.0f);
  }
  return max_score + std::log(sum);
}

// to[i] = from[i] * factor for `count` floats, a multiple of 16.
void Scale(const float* from, int count, float factor, float* to) {
  const __m512 f = _mm512_set1_ps(factor);
  for (int i = 0; i < count; i += kTile) {
    _mm512_storeu_ps(to + i, _mm512_mul_ps(_mm512_loadu_ps(from + i), f));
  }
}

// A 16 x 64 block of products in tiles 0-3, whose sums are independent
// (the products follow each other without waiting): tile j sums, over steps
// s < steps, tile A_s (16 rows of 32 BF16 at a + s * 32, rows a_bytes apart;
// loaded into tile 4) times tile B_s,j (16 rows of 16 pairs, contiguous, at
// b + s * b_step + j * b_tile; loaded into tiles 5 and 6). Tile j is stored
// at out + 16 j, rows out_bytes apart.
void ProductBlock(const uint16_t* a, size_t a_bytes, const uint32_t* b, size_t b_step,
                  size_t b_tile, int steps, float* out, size_t out_bytes) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int s = 0; s < steps; ++s, a += kPairSpan, b += b_step) {
    _tile_loadd(4, a, a_bytes);
    _tile_loadd(5, b, 64);
    _tile_loadd(6, b + b_tile, 64);
    _tile_dpbf16ps(0, 4, 5);
    _tile_dpbf16ps(1, 4, 6);
    _tile_loadd(5, b + 2 * b_tile, 64);
    _tile_loadd(6, b + 3 * b_tile, 64);
    _tile_dpbf16ps(2, 4, 5);
    _tile_dpbf16ps(3, 4, 6);
  }
  _tile_stored(0, out, out_bytes);
  _tile_stored(1, out + kTile, out_bytes);
  _tile_stored(2, out + 2 * kTile, out_bytes);
  _tile_stored(3, out + 3 * kTile, out_bytes);
}

// The scores of the queries (BF16, `dim` each; a multiple of 16 of them)
// for positions [0, padded), 64 positions for every 16 queries while those
// keys stay in the cache. Query q's at scores[q * padded ...].
void ScoreQueries(const uint16_t* queries, int num_queries, int dim, const uint32_t* key_pairs,
                  int padded, float* scores) {
  const int key_block = dim / 2 * kTile;  // words per 16 positions
  for (int p = 0; p < padded; p += kScoreSpan) {
    for (int q0 = 0; q0 < num_queries; q0 += kTile) {
      ProductBlock(queries + static_cast<size_t>(q0) * dim, dim * sizeof(uint16_t),
                   key_pairs + static_cast<size_t>(p / kTile) * key_block, kTileWords, key_block,
                   dim / kPairSpan, scores + static_cast<size_t>(q0) * padded + p,
                   padded * sizeof(float));
    }
  }
}

// out[r * dim + d] = sum over positions i < padded of terms[r * padded + i]
// (BF16) times value i's dimension d, for 16 rows, 64 dimensions at a time.
void WeighValues(const uint16_t* terms, const uint32_t* value_pairs, int dim, int padded,
                 float* out) {
  const int dim_tiles = dim / kTile;
  for (int d0 = 0; d0 < dim; d0 += kDimBlock) {
    ProductBlock(terms, padded * sizeof(uint16_t), value_pairs + d0 / kTile * kTileWords,
                 static_cast<size_t>(dim_tiles) * kTileWords, kTileWords, padded / kPairSpan,
                 out + d0, dim * sizeof(float));
  }
}

}  // namespace

bool Bf16TileAttentionAvailable(int dim) {
  return GetCpuFeatures().amx_bf16 && ActiveSimdLevel() == SimdLevel::kAvx512 &&
         dim % kDimBlock == 0;
}

void PrepareBf16KeysValues(std::span<const F16KeyRun> key_runs, size_t key_stride,
                           std::span<const F16ValueRun> value_runs, int dim,
                           Bf16KeysValues& prepared) {
  int total = 0;
  for (const F16KeyRun& run : key_runs) total += run.count;
  prepared.dim = dim;
  // Tiles read whole blocks of kScoreSpan positions: zero past the last.
  const int padded = Padded(total);
  prepared.key_pairs.resize(static_cast<size_t>(dim / 2) * padded);
  prepared.value_pairs.resize(static_cast<size_t>(padded / 2) * dim);
  uint32_t* key_pairs = prepared.key_pairs.data();
  std::fill(key_pairs + static_cast<size_t>(total / kTile) * (dim / 2) * kTile,
            key_pairs + static_cast<size_t>(padded / kTile) * (dim / 2) * kTile, 0u);
  KeysToPairs(key_runs, key_stride, dim, key_pairs);
  ValuesToPairs(value_runs, dim, padded, prepared.value_rows, prepared.zeros,
                prepared.value_pairs.data());
}

void AttendTileBf16(const float* queries, size_t query_row_stride, int rows, int queries_per_row,
                    std::span<const int> visible, const Bf16KeysValues& prepared, int positions,
                    float scale, bool want_probabilities, Bf16TileScratch& scratch, float* out,
                    float* log_sum_exps) {
  const int dim = prepared.dim;
  const int num_queries = rows * queries_per_row;
  const int padded = Padded(positions);
  const int padded_queries = RoundUp(num_queries, kTile);
  scratch.probability_stride = padded;
  scratch.queries.resize(static_cast<size_t>(padded_queries) * dim);
  scratch.probabilities.resize(static_cast<size_t>(padded_queries) * padded);
  scratch.bf16_probabilities.resize(static_cast<size_t>(padded_queries) * padded);
  scratch.outputs.resize(static_cast<size_t>(kTile) * dim);
  const size_t row_width = static_cast<size_t>(queries_per_row) * dim;
  for (int k = 0; k < rows; ++k) {
    ScaleToBf16(queries + k * query_row_stride, static_cast<int>(row_width), scale,
                scratch.queries.data() + k * row_width);
  }
  std::fill(scratch.queries.begin() + rows * row_width, scratch.queries.end(), uint16_t{0});

  static const AmxTileConfig config = MakeConfig();
  _tile_loadconfig(&config);
  ScoreQueries(scratch.queries.data(), padded_queries, dim, prepared.key_pairs.data(), padded,
               scratch.probabilities.data());
  // exp(score - max) in BF16 meets the values; each output row is divided
  // by its sum afterwards.
  scratch.inverse_sums.resize(padded_queries);
  for (int q = 0; q < padded_queries; ++q) {
    const int seen = q < num_queries ? std::min(visible[q / queries_per_row], positions) : 0;
    const float lse = ExpRowToBf16(
        scratch.probabilities.data() + static_cast<size_t>(q) * padded, seen, padded,
        want_probabilities, scratch.bf16_probabilities.data() + static_cast<size_t>(q) * padded,
        scratch.inverse_sums[q]);
    if (log_sum_exps != nullptr && q < num_queries) log_sum_exps[q] = lse;
  }
  for (int q0 = 0; q0 < padded_queries; q0 += kTile) {
    WeighValues(scratch.bf16_probabilities.data() + static_cast<size_t>(q0) * padded,
                prepared.value_pairs.data(), dim, padded, scratch.outputs.data());
    for (int r = 0; r < kTile && q0 + r < num_queries; ++r) {
      Scale(scratch.outputs.data() + static_cast<size_t>(r) * dim, dim,
            scratch.inverse_sums[q0 + r], out + static_cast<size_t>(q0 + r) * dim);
    }
  }
  _tile_release();
}

}  // namespace ri
