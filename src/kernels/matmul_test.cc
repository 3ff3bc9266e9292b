// MatMulRows / MatMul at every SIMD level this CPU supports against a
// brute-force double-precision reference built on DequantizeRow (itself
// checked bit for bit against the gguf package in dequantize_test.cc), with
// float activations and with Q8 activations (whose reference multiplies the
// same weights with the dequantized activation codes).
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/dequantize.h"
#include "kernels/q8_activations.h"
#include "kernels/random_weights.h"
#include "kernels/simd_level_test_util.h"
#include "kernels/types.h"
#include "kernels/weight_strips.h"
#include "util/error.h"
#include "util/fp16.h"
#include "util/thread_pool.h"

namespace ri {
namespace {

const TensorType kAllTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                                TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                                TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K,
                                TensorType::Q5_K, TensorType::Q6_K};

const TensorType kQ8Types[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                               TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K,
                               TensorType::Q5_K, TensorType::Q6_K};

// A random weight matrix (RandomWeightBytes).
struct RandomMatrix {
  std::vector<uint8_t> bytes;
  WeightMatrix w;

  RandomMatrix(TensorType type, int64_t rows, int64_t cols, std::mt19937& rng) {
    const TensorTypeTraits& traits = Traits(type);
    w.type = type;
    w.rows = rows;
    w.cols = cols;
    w.row_bytes = cols / traits.block_size * traits.type_size;
    bytes = RandomWeightBytes(type, rows * (cols / traits.block_size), rng);
    w.data = bytes.data();
  }
};

// The matrix as stored and, when this CPU's kernels read strips of it (see
// PrepareForKernels), with them: both must give the results tested.
std::vector<WeightMatrix> WithAndWithoutStrips(const WeightMatrix& w) {
  WeightMatrix prepared = w;
  PrepareForKernels(prepared);
  if (prepared.strips == nullptr) return {w};
  return {w, prepared};
}

std::string StripsLabel(const WeightMatrix& w) { return w.strips ? " strips" : ""; }

std::vector<float> RandomActivations(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

// Exact (double) dot products of the dequantized weights, and the sums of
// |w * x| that bound the float rounding error.
struct Reference {
  std::vector<double> value;      // [m * rows + r]
  std::vector<double> magnitude;  // [m * rows + r]
};

Reference ComputeReference(const WeightMatrix& w, const float* x, int num_x, size_t x_stride) {
  Reference ref;
  ref.value.resize(num_x * w.rows);
  ref.magnitude.resize(num_x * w.rows);
  std::vector<float> row(w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    DequantizeRow(w.type, w.data + r * w.row_bytes, row.data(), w.cols);
    for (int m = 0; m < num_x; ++m) {
      double sum = 0.0, magnitude = 0.0;
      for (int64_t c = 0; c < w.cols; ++c) {
        const double product = static_cast<double>(row[c]) * x[m * x_stride + c];
        sum += product;
        magnitude += std::fabs(product);
      }
      ref.value[m * w.rows + r] = sum;
      ref.magnitude[m * w.rows + r] = magnitude;
    }
  }
  return ref;
}

// Any float evaluation of a sum of n products of exactly represented weights
// and activations (any order, with or without FMA) is within
// gamma_n * sum |w x|, gamma_n = n u / (1 - n u), u = 2^-24 (Higham, Accuracy
// and Stability of Numerical Algorithms, 3.1). The kernels use exactly the
// dequantized weights, so this bound is rigorous; a wrongly decoded weight
// shows up as an error of order |w x| ~ sum |w x| / n, far above it for the
// sizes used here.
double Tolerance(int64_t n, double magnitude) {
  const double nu = static_cast<double>(n) * std::ldexp(1.0, -24);
  return nu / (1.0 - nu) * magnitude + 1e-30;
}

// Column counts per type: several blocks, and for one-element-block types
// counts that leave a partial 32-element group.
std::vector<int64_t> ColumnCounts(TensorType type) {
  switch (Traits(type).block_size) {
    case 1:
      return {37, 64, 200};
    case 32:
      return {32, 96, 224};
    default:
      return {256, 512};
  }
}

// Every type with float activations, and the integer-kernel types with Q8.
std::vector<std::pair<TensorType, ActivationPrecision>> TypesAndPrecisions() {
  std::vector<std::pair<TensorType, ActivationPrecision>> cases;
  for (TensorType type : kAllTypes) cases.emplace_back(type, ActivationPrecision::kFloat);
  for (TensorType type : kQ8Types) cases.emplace_back(type, ActivationPrecision::kQ8);
  return cases;
}

std::string Label(SimdLevel level, TensorType type, int64_t cols, int num_x) {
  return std::string(SimdLevelName(level)) + " " + std::string(Traits(type).name) + " cols=" +
         std::to_string(cols) + " num_x=" + std::to_string(num_x);
}

TEST(MatMulRowsTest, MatchesDoubleReferenceAtEverySimdLevel) {
  std::mt19937 rng(7);
  constexpr int64_t kRows = 37;
  const int kNumX[] = {1, 2, 3, 4, 7, 8, 16, 33};
  for (SimdLevel level : SupportedLevels()) {
    SimdLevelGuard guard(level);
    ASSERT_EQ(ActiveSimdLevel(), level);
    for (TensorType type : kAllTypes) {
      for (int64_t cols : ColumnCounts(type)) {
        const RandomMatrix matrix(type, kRows, cols, rng);
        const size_t x_stride = cols + 3;  // strides wider than the rows
        const size_t y_stride = kRows + 5;
        const std::vector<float> x = RandomActivations(33 * x_stride, rng);
        const Reference ref = ComputeReference(matrix.w, x.data(), 33, x_stride);
        for (const WeightMatrix& w : WithAndWithoutStrips(matrix.w)) {
          for (int num_x : kNumX) {
            // Odd row ranges; rows outside the range must stay untouched.
            for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, kRows}, {3, 30}, {5, 6}}) {
              std::vector<float> y(num_x * y_stride, std::numeric_limits<float>::quiet_NaN());
              MatMulRows(w, x.data(), num_x, x_stride, y.data(), y_stride, begin, end);
              for (int m = 0; m < num_x; ++m) {
                for (int64_t r = 0; r < static_cast<int64_t>(y_stride); ++r) {
                  const float actual = y[m * y_stride + r];
                  if (r < begin || r >= end) {
                    ASSERT_TRUE(std::isnan(actual))
                        << Label(level, type, cols, num_x) << StripsLabel(w) << " wrote row " << r;
                    continue;
                  }
                  const size_t i = m * kRows + r;
                  ASSERT_NEAR(actual, ref.value[i], Tolerance(cols, ref.magnitude[i]))
                      << Label(level, type, cols, num_x) << StripsLabel(w) << " m=" << m
                      << " r=" << r;
                }
              }
            }
          }
        }
      }
    }
  }
}

// At a given level each output depends only on its weight row and its
// activation row: the same bits whatever num_x and the row range.
TEST(MatMulRowsTest, OutputsIndependentOfBatchAndRowRange) {
  std::mt19937 rng(11);
  constexpr int64_t kRows = 275;  // strips of 16 rows in two chunks (WeightStrips::kChunkStrips)
  for (SimdLevel level : SupportedLevels()) {
    SimdLevelGuard guard(level);
    for (const auto& [type, precision] : TypesAndPrecisions()) {
      const int64_t cols = ColumnCounts(type).back();
      RandomMatrix matrix(type, kRows, cols, rng);
      matrix.w.activations = precision;
      // Groups of 8 rows, then one of 2 or 3, which the strip kernels pass
      // over two strips at a time.
      for (int num_x : {18, 19}) {
        const std::vector<float> x = RandomActivations(num_x * cols, rng);
        for (const WeightMatrix& w : WithAndWithoutStrips(matrix.w)) {
          std::vector<float> all(num_x * kRows);
          MatMulRows(w, x.data(), num_x, cols, all.data(), kRows, 0, kRows);
          for (int m = 0; m < num_x; ++m) {
            std::vector<float> single(kRows);
            for (int64_t r = 0; r < kRows; r += 3) {
              MatMulRows(w, x.data() + m * cols, 1, cols, single.data(), kRows, r,
                         std::min(r + 3, kRows));
            }
            ASSERT_EQ(0, std::memcmp(single.data(), all.data() + m * kRows, kRows * sizeof(float)))
                << Label(level, type, cols, num_x) << StripsLabel(w) << " m=" << m;
          }
        }
      }
    }
  }
}

// Each row kernel decodes its weights exactly as DequantizeRow does and sums
// them as the F32 kernel does, so at every level a product with any type
// gives the bits of the same product with the F32 matrix of its dequantized
// rows (the float strip kernel sums in another order and is left out).
TEST(MatMulRowsTest, EveryTypeEqualsItsDequantizedRowsBitForBit) {
  std::mt19937 rng(5);
  constexpr int64_t kRows = 21;
  for (SimdLevel level : SupportedLevels()) {
    SimdLevelGuard guard(level);
    for (TensorType type : kAllTypes) {
      for (int64_t cols : ColumnCounts(type)) {
        const RandomMatrix matrix(type, kRows, cols, rng);
        std::vector<float> dequantized(kRows * cols);
        for (int64_t r = 0; r < kRows; ++r) {
          DequantizeRow(type, matrix.w.data + r * matrix.w.row_bytes, &dequantized[r * cols], cols);
        }
        const WeightMatrix as_f32{.type = TensorType::F32,
                                  .data = reinterpret_cast<const uint8_t*>(dequantized.data()),
                                  .rows = kRows,
                                  .cols = cols,
                                  .row_bytes = cols * sizeof(float)};
        for (int num_x : {1, 3, 8, 11}) {
          const std::vector<float> x = RandomActivations(num_x * cols, rng);
          std::vector<float> expected(num_x * kRows), actual(num_x * kRows);
          MatMulRows(as_f32, x.data(), num_x, cols, expected.data(), kRows, 0, kRows);
          MatMulRows(matrix.w, x.data(), num_x, cols, actual.data(), kRows, 0, kRows);
          ASSERT_EQ(0, std::memcmp(expected.data(), actual.data(), expected.size() * sizeof(float)))
              << Label(level, type, cols, num_x);
        }
      }
    }
  }
}

// Prefill-sized batches work (tiled over activation rows).
TEST(MatMulRowsTest, LargeBatch) {
  std::mt19937 rng(3);
  constexpr int kNumX = 512;
  for (SimdLevel level : SupportedLevels()) {
    SimdLevelGuard guard(level);
    for (TensorType type : {TensorType::Q4_1, TensorType::Q8_0, TensorType::Q6_K}) {
      const int64_t cols = ColumnCounts(type)[0];
      const RandomMatrix matrix(type, 21, cols, rng);
      const std::vector<float> x = RandomActivations(kNumX * cols, rng);
      const Reference ref = ComputeReference(matrix.w, x.data(), kNumX, cols);
      for (const WeightMatrix& w : WithAndWithoutStrips(matrix.w)) {
        std::vector<float> y(kNumX * 21);
        MatMulRows(w, x.data(), kNumX, cols, y.data(), 21, 0, 21);
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_NEAR(y[i], ref.value[i], Tolerance(cols, ref.magnitude[i]))
              << Label(level, type, cols, kNumX) << StripsLabel(w) << " i=" << i;
        }
      }
    }
  }
}

TEST(MatMulTest, ThreadCountDoesNotChangeResults) {
  std::mt19937 rng(5);
  ThreadPool pools[] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};
  for (const auto& [type, precision] : TypesAndPrecisions()) {
    // and a wide matrix: 40 blocks of 32, several lane groups a row.
    for (const int64_t cols : {ColumnCounts(type)[0], int64_t{1280}}) {
      const int64_t rows = 203;  // not a multiple of the grain
      RandomMatrix matrix(type, rows, cols, rng);
      matrix.w.activations = precision;
      for (const WeightMatrix& w : WithAndWithoutStrips(matrix.w)) {
        for (int num_x : {1, 5, 8}) {
          const std::vector<float> x = RandomActivations(num_x * cols, rng);
          std::vector<float> expected(num_x * rows);
          MatMulRows(w, x.data(), num_x, cols, expected.data(), rows, 0, rows);
          for (ThreadPool& pool : pools) {
            std::vector<float> y(num_x * rows, std::numeric_limits<float>::quiet_NaN());
            MatMul(w, x.data(), num_x, y.data(), pool);
            ASSERT_EQ(0, std::memcmp(y.data(), expected.data(), y.size() * sizeof(float)))
                << Traits(type).name << StripsLabel(w) << " cols=" << cols
                << " threads=" << pool.num_threads() << " num_x=" << num_x;
          }
        }
      }
    }
  }
}

TEST(MatMulRowsTest, RejectsBadArguments) {
  std::mt19937 rng(1);
  const RandomMatrix matrix(TensorType::Q4_0, 4, 64, rng);
  std::vector<float> x(2 * 64), y(2 * 4);
  WeightMatrix w = matrix.w;
  EXPECT_THROW(MatMulRows(w, x.data(), 1, 64, y.data(), 4, 0, 5), Error);
  EXPECT_THROW(MatMulRows(w, x.data(), 1, 64, y.data(), 4, 3, 2), Error);
  EXPECT_THROW(MatMulRows(w, x.data(), -1, 64, y.data(), 4, 0, 4), Error);
  EXPECT_THROW(MatMulRows(w, x.data(), 2, 32, y.data(), 4, 0, 4), Error);
  w.row_bytes = 10;
  EXPECT_THROW(MatMulRows(w, x.data(), 1, 64, y.data(), 4, 0, 4), Error);
  w = matrix.w;
  w.cols = 48;
  EXPECT_THROW(MatMulRows(w, x.data(), 1, 64, y.data(), 4, 0, 4), Error);
  w = matrix.w;
  w.type = TensorType::Q2_K;
  EXPECT_THROW(MatMulRows(w, x.data(), 1, 64, y.data(), 4, 0, 4), Error);
}

// Several matrices in one pass give exactly what separate products give,
// also when some quantize the activations and some do not.
TEST(MatMulTest, SameInputGroupEqualsSeparateProducts) {
  std::mt19937 rng(8);
  RandomMatrix a(TensorType::Q4_1, 37, 64, rng), b(TensorType::Q8_0, 5, 64, rng),
      c(TensorType::F16, 70, 64, rng);
  a.w.activations = ActivationPrecision::kQ8;
  c.w.activations = ActivationPrecision::kQ8;  // no integer kernel: float
  PrepareForKernels(a.w);
  PrepareForKernels(c.w);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int num_x : {1, 3}) {
      std::vector<float> x(num_x * 64);
      std::normal_distribution<float> normal;
      for (float& v : x) v = normal(rng);
      std::vector<float> ya(num_x * 37), yb(num_x * 5), yc(num_x * 70);
      MatMulSameInput({&a.w, &b.w, &c.w}, x.data(), num_x, {ya.data(), yb.data(), yc.data()}, pool);
      for (const auto& [m, y] : {std::pair{&a, &ya}, {&b, &yb}, {&c, &yc}}) {
        std::vector<float> expected(y->size());
        MatMul(m->w, x.data(), num_x, expected.data(), pool);
        EXPECT_EQ(*y, expected) << "threads " << threads << " rows " << m->w.rows;
      }
    }
  }
}

// The quantization follows its definition: scale = max |x| / 127, codes the
// values divided by it rounded to nearest, zero blocks all zero.
void ExpectQuantizedByDefinition() {
  std::mt19937 rng(21);
  constexpr int kRows = 3;
  constexpr int64_t kCols = 96;
  std::vector<float> x = RandomActivations(kRows * (kCols + 5), rng);
  for (int i = 0; i < 32; ++i) x[(kCols + 5) + 32 + i] = 0.0f;  // row 1, block 1
  x[7] = -1000.0f;  // an outlier: the rest of its block keeps only coarse steps
  Q8Activations q;
  q.Quantize(x.data(), kRows, kCols + 5, kCols);
  ASSERT_EQ(q.num_blocks(), 3);
  for (int row = 0; row < kRows; ++row) {
    for (int64_t b = 0; b < 3; ++b) {
      const int8_t* codes = q.codes(row, b);
      const float* values = x.data() + row * (kCols + 5) + b * 32;
      float amax = 0.0f;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(values[i]));
      const float scale = q.scales(row)[b];
      EXPECT_EQ(scale, amax / 127.0f);
      int sum = 0, half_sum = 0;
      for (int i = 0; i < 32; ++i) {
        const int expected =
            amax == 0.0f ? 0 : static_cast<int>(std::nearbyint(values[i] * (127.0f / amax)));
        EXPECT_EQ(codes[i], expected) << "row " << row << " block " << b << " i " << i;
        EXPECT_LE(std::abs(codes[i]), 127);
        EXPECT_LE(std::fabs(values[i] - codes[i] * scale), scale * 0.5001f);
        sum += codes[i];
        if (i < 16) half_sum += codes[i];
      }
      EXPECT_EQ(q.code_sums(row)[b], sum);
      EXPECT_EQ(q.half_code_sums(row)[b], half_sum);
      EXPECT_EQ(q.scaled_sums(row)[b], scale * static_cast<float>(sum));
    }
  }
  EXPECT_EQ(q.scales(1)[1], 0.0f);
  EXPECT_EQ(q.codes(0, 0)[7], -127);
  EXPECT_THROW(q.Quantize(x.data(), 1, kCols, 40), Error);
}

// At every level (SSE2, or AVX-512 where it may run).
TEST(Q8ActivationsTest, QuantizesByDefinition) {
  for (SimdLevel level : SupportedLevels()) {
    SimdLevelGuard guard(level);
    SCOPED_TRACE(SimdLevelName(level));
    ExpectQuantizedByDefinition();
  }
}

// The codes of a stored Q5_0, Q5_1, Q5_K or Q6_K block, as the GGUF format
// lays them out.
std::vector<uint32_t> CodesBySpec(TensorType type, const uint8_t* block) {
  std::vector<uint32_t> codes;
  if (type == TensorType::Q5_0 || type == TensorType::Q5_1) {
    // d (and m), 4 bytes of fifth bits (bit e for element e), then element
    // j in the low nibble of byte j and element j + 16 in its high nibble.
    const uint8_t* qh = block + (type == TensorType::Q5_0 ? 2 : 4);
    const uint8_t* qs = qh + 4;
    for (int e = 0; e < 32; ++e) {
      const uint32_t nibble = e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4;
      codes.push_back(nibble | ((qh[e / 8] >> (e % 8)) & 1) << 4);
    }
  } else if (type == TensorType::Q5_K) {
    // d, dmin, 12 scale bytes, qh[32], qs[128]: element 32 s + l takes the
    // low (even s) or high nibble of qs[32 (s / 2) + l] and bit s of qh[l].
    const uint8_t* qh = block + 16;
    const uint8_t* qs = block + 48;
    for (int s = 0; s < 8; ++s) {
      for (int l = 0; l < 32; ++l) {
        const uint32_t nibble = s % 2 == 0 ? qs[32 * (s / 2) + l] & 0xF : qs[32 * (s / 2) + l] >> 4;
        codes.push_back(nibble | ((qh[l] >> s) & 1) << 4);
      }
    }
  } else {
    // Q6_K: in each half of 128, element l (0..31) and l + 32 take the low
    // nibbles of ql[l] and ql[l + 32], l + 64 and l + 96 their high nibbles,
    // and the four take bit pairs 0-1, 2-3, 4-5 and 6-7 of qh[l] as bits 4-5.
    codes.resize(256);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = block + 64 * half;
      const uint8_t* qh = block + 128 + 32 * half;
      for (int l = 0; l < 32; ++l) {
        const uint32_t a = ql[l], b = ql[l + 32];
        const uint32_t low[4] = {a & 0xF, b & 0xF, a >> 4, b >> 4};
        for (int quarter = 0; quarter < 4; ++quarter) {
          codes[128 * half + 32 * quarter + l] = low[quarter] | ((qh[l] >> (2 * quarter)) & 3) << 4;
        }
      }
    }
  }
  return codes;
}

// The strips hold every stored byte, and the repacked 5- and 6-bit codes,
// where weight_strips.h says, and zeros for rows past the matrix; for the
// float kernels and for the integer ones.
TEST(WeightStripsTest, HoldTheBlocksWhereDocumented) {
  constexpr ActivationPrecision kQ8 = ActivationPrecision::kQ8;
  struct Documented {
    TensorType type;
    size_t lane_from, lane_bytes;  // of a stored block
    int code_bits, packed_vectors, sub_block;  // repacked codes after them
    std::vector<size_t> fields_at;
    int64_t interleave, blocks;  // a partial group of blocks where there are groups
    ActivationPrecision reader = ActivationPrecision::kFloat;
    bool spread_fifth_bits = false;  // a vector after the lane bytes' (Q5 for kQ8)
  };
  const Documented kCases[] = {{TensorType::Q4_0, 2, 16, 0, 0, 0, {0}, 8, 11},
                               {TensorType::Q4_1, 4, 16, 0, 0, 0, {0, 2}, 8, 11},
                               {TensorType::Q5_0, 0, 0, 5, 5, 32, {0}, 8, 11},
                               {TensorType::Q5_1, 0, 0, 5, 5, 32, {0, 2}, 8, 11},
                               {TensorType::Q8_0, 2, 32, 0, 0, 0, {0}, 8, 11},
                               {TensorType::Q4_K, 4, 140, 0, 0, 0, {0, 2}, 1, 3},
                               {TensorType::Q5_K, 4, 12, 5, 40, 32, {0, 2}, 1, 3},
                               {TensorType::Q6_K, 192, 16, 6, 48, 16, {208}, 1, 3},
                               {TensorType::Q4_0, 2, 16, 0, 0, 0, {0}, 8, 11, kQ8},
                               {TensorType::Q5_0, 6, 16, 0, 0, 0, {0}, 8, 11, kQ8, true},
                               {TensorType::Q5_1, 8, 16, 0, 0, 0, {0, 2}, 8, 11, kQ8, true},
                               {TensorType::Q8_0, 2, 32, 0, 0, 0, {0}, 8, 11, kQ8},
                               {TensorType::Q4_K, 4, 140, 0, 0, 0, {0, 2}, 1, 3, kQ8},
                               {TensorType::Q5_K, 4, 172, 0, 0, 0, {0, 2}, 1, 3, kQ8},
                               {TensorType::Q6_K, 0, 208, 0, 0, 0, {208}, 1, 3, kQ8}};
  std::mt19937 rng(29);
  constexpr int64_t kRows = 21;  // a partial second strip
  for (const Documented& doc : kCases) {
    const size_t type_size = Traits(doc.type).type_size;
    RandomMatrix matrix(doc.type, kRows, doc.blocks * Traits(doc.type).block_size, rng);
    matrix.w.activations = doc.reader;
    const WeightStrips strips(matrix.w);
    ASSERT_EQ(strips.num_strips(), 2);
    const size_t lane_vectors_bytes = doc.lane_bytes * WeightStrips::kRows +
                                      64 * (doc.packed_vectors + (doc.spread_fifth_bits ? 1 : 0));
    const size_t block_bytes = WeightStrips::BlockBytes(doc.type, doc.reader);
    ASSERT_EQ(block_bytes, lane_vectors_bytes + doc.fields_at.size() * 2 * WeightStrips::kRows);
    for (int64_t s = 0; s < 2; ++s) {
      const uint8_t* stored = strips.strip(s);
      for (int64_t j = 0; j < doc.interleave; ++j) {
        for (int64_t b = j; b < doc.blocks; b += doc.interleave, stored += block_bytes) {
          for (int i = 0; i < WeightStrips::kRows; ++i) {
            const int64_t row = s * WeightStrips::kRows + i;
            const uint8_t* block =
                row < kRows ? matrix.w.data + row * matrix.w.row_bytes + b * type_size : nullptr;
            const std::string where = std::string(Traits(doc.type).name) +
                                      (doc.reader == kQ8 ? " q8" : "") + " row " +
                                      std::to_string(row) + " block " + std::to_string(b);
            for (size_t t = 0; t < doc.lane_bytes; ++t) {
              // Q8_0's codes are stored plus 128.
              const uint8_t flip = doc.type == TensorType::Q8_0 ? 0x80 : 0;
              const int expected = block ? block[doc.lane_from + t] ^ flip : 0;
              ASSERT_EQ(stored[64 * (t / 4) + 4 * i + t % 4], expected) << where << " byte " << t;
            }
            if (doc.spread_fifth_bits) {
              // Bit 8 t + v of the lane: the fifth bit of code 4 v + t.
              std::vector<uint32_t> codes(32, 0);
              if (block) codes = CodesBySpec(doc.type, block);
              uint32_t lane;
              std::memcpy(&lane, stored + 64 * (doc.lane_bytes / 4) + 4 * i, 4);
              for (int c = 0; c < 32; ++c) {
                ASSERT_EQ((lane >> (8 * (c % 4) + c / 4)) & 1, codes[c] >> 4)
                    << where << " fifth bit of code " << c;
              }
            }
            if (doc.code_bits > 0) {
              // Per sub-block, words of as many whole codes as fit, the
              // codes left over as a bit string in the words' spare top bits.
              const int bits = doc.code_bits, per_word = 32 / bits, spare = 32 - per_word * bits;
              const int sub_blocks = static_cast<int>(Traits(doc.type).block_size) / doc.sub_block;
              const int words = doc.packed_vectors / sub_blocks;
              std::vector<uint32_t> codes(Traits(doc.type).block_size, 0);
              if (block) codes = CodesBySpec(doc.type, block);
              for (int k = 0; k < sub_blocks; ++k) {
                const uint32_t* code = codes.data() + doc.sub_block * k;
                for (int w = 0; w < words; ++w) {
                  uint32_t lane;
                  const size_t vector = doc.lane_bytes / 4 + words * k + w;
                  std::memcpy(&lane, stored + 64 * vector + 4 * i, 4);
                  for (int e = 0; e < per_word; ++e) {
                    ASSERT_EQ((lane >> (bits * e)) & ((1u << bits) - 1), code[per_word * w + e])
                        << where << " sub-block " << k << " code " << per_word * w + e;
                  }
                  for (int t = 0; t < spare; ++t) {
                    const int g = spare * w + t;  // bit g of the leftover bit string
                    ASSERT_EQ((lane >> (32 - spare + t)) & 1,
                              (code[per_word * words + g / bits] >> (g % bits)) & 1)
                        << where << " sub-block " << k << " spare bit " << g;
                  }
                }
              }
            }
            for (size_t f = 0; f < doc.fields_at.size(); ++f) {
              const uint8_t zeros[2] = {0, 0};
              EXPECT_EQ(0, std::memcmp(stored + lane_vectors_bytes + 32 * f + 2 * i,
                                       block ? block + doc.fields_at[f] : zeros, 2))
                  << where << " field " << f;
            }
          }
        }
      }
    }
  }
}

// The offset of weight c of a row stored at `row` (weight = scale * integer
// + offset, matmul_q8_simd.h), in magnitude: Q4_1's and Q5_1's m, Q4_0's 8 d
// and Q5_0's 16 d (their integers are code - 8 and code - 16; the kernels
// add the bias back as an offset of sorts), a K block's dmin * min; Q8_0 and
// Q6_K (bias inside the integer) none.
double OffsetMagnitude(TensorType type, const uint8_t* row, int64_t c) {
  const uint8_t* block = row + c / Traits(type).block_size * Traits(type).type_size;
  const auto fp16 = [](const uint8_t* p) { return std::fabs(Fp16ToFloat(p[0] | p[1] << 8)); };
  switch (type) {
    case TensorType::Q4_1:
    case TensorType::Q5_1:
      return fp16(block + 2);
    case TensorType::Q4_0:
      return 8.0 * fp16(block);
    case TensorType::Q5_0:
      return 16.0 * fp16(block);
    case TensorType::Q4_K:
    case TensorType::Q5_K: {
      uint32_t scale, min;
      KScaleMin(block + 4, static_cast<int>(c % 256 / 32), &scale, &min);
      return fp16(block + 2) * min;
    }
    default:
      return 0.0;
  }
}

// Q8 products at every SIMD level against double sums of the exactly
// dequantized weights times the dequantized activation codes. The kernels
// compute scale s (sum u q) + offset (s sum q) per block, so the rounding
// bound uses sum (|w| + 2 |offset|) |x^| (|scale u| <= |w| + |offset|); a
// wrong code or scale is off by about |w x^|, far above it.
TEST(Q8MatMulTest, MatchesDoubleReferenceAtEverySimdLevel) {
  std::mt19937 rng(17);
  constexpr int64_t kRows = 29;
  for (SimdLevel level : SupportedLevels()) {
    SimdLevelGuard guard(level);
    for (TensorType type : kQ8Types) {
      const bool k_format = Traits(type).block_size == 256;
      for (int64_t cols : k_format ? std::vector<int64_t>{256, 512, 768}
                                   : std::vector<int64_t>{32, 64, 96, 224, 576}) {
        RandomMatrix matrix(type, kRows, cols, rng);
        matrix.w.activations = ActivationPrecision::kQ8;
        const std::vector<float> x = RandomActivations(17 * cols, rng);
        Q8Activations q;
        q.Quantize(x.data(), 17, cols, cols);
        for (int num_x : {1, 2, 3, 8, 9, 17}) {
          std::vector<float> y(num_x * kRows);
          MatMulRows(matrix.w, x.data(), num_x, cols, y.data(), kRows, 0, kRows);
          std::vector<float> row(cols);
          for (int64_t r = 0; r < kRows; ++r) {
            const uint8_t* stored = matrix.w.data + r * matrix.w.row_bytes;
            DequantizeRow(type, stored, row.data(), cols);
            for (int m = 0; m < num_x; ++m) {
              double sum = 0.0, magnitude = 0.0;
              for (int64_t c = 0; c < cols; ++c) {
                const double activation =
                    static_cast<double>(q.codes(m, c / 32)[c % 32]) * q.scales(m)[c / 32];
                sum += row[c] * activation;
                magnitude += (std::fabs(row[c]) + 2.0 * OffsetMagnitude(type, stored, c)) *
                             std::fabs(activation);
              }
              ASSERT_NEAR(y[m * kRows + r], sum, Tolerance(cols, magnitude))
                  << Label(level, type, cols, num_x) << " m=" << m << " r=" << r;
            }
          }
        }
      }
    }
  }
}

// The Q8 kernels run the same float operations in the same order at every
// level (matmul_q8_simd.h): results equal the scalar kernel's bit for bit,
// with and without the strips that PrepareForKernels builds (on CPUs with
// AVX-512 VNNI), with and without AMX tiles (where the CPU has them), for
// any row range.
TEST(Q8MatMulTest, EveryLevelEqualsScalarBitForBit) {
  std::mt19937 rng(23);
  // A partial strip of 16 rows; up to two AMX tiles of 16 activation rows and three more.
  constexpr int kRows = 45, kMaxX = 35;
  for (TensorType type : kQ8Types) {
    // Every length of a last group of 8 blocks (and of a last pair), alone
    // and after whole groups; K formats: 1 to 3 blocks of 8.
    for (int64_t blocks : Traits(type).block_size == 256
                              ? std::vector<int64_t>{8, 16, 24}
                              : std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 11, 13, 15, 18, 48}) {
      const int64_t cols = 32 * blocks;
      RandomMatrix matrix(type, kRows, cols, rng);
      matrix.w.activations = ActivationPrecision::kQ8;
      const std::vector<float> x = RandomActivations(kMaxX * cols, rng);
      std::vector<float> expected(kMaxX * kRows);
      {
        SimdLevelGuard guard(SimdLevel::kScalar);
        MatMulRows(matrix.w, x.data(), kMaxX, cols, expected.data(), kRows, 0, kRows);
      }
      for (SimdLevel level : SupportedLevels()) {
        SimdLevelGuard guard(level);
        for (const bool amx : {false, true}) {
          AmxGuard amx_guard(amx);
          for (const WeightMatrix& w : WithAndWithoutStrips(matrix.w)) {
            for (int num_x : {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 16, 17, 32, 35}) {
              const std::string label =
                  Label(level, type, cols, num_x) + StripsLabel(w) + (amx ? " amx" : "");
              std::vector<float> y(num_x * kRows);
              MatMulRows(w, x.data(), num_x, cols, y.data(), kRows, 0, kRows);
              ASSERT_EQ(0, std::memcmp(y.data(), expected.data(), y.size() * sizeof(float)))
                  << label;
              // Rows 5 .. 36 alone: the same values, the other rows untouched.
              std::vector<float> part(num_x * kRows, -1.0f);
              MatMulRows(w, x.data(), num_x, cols, part.data(), kRows, 5, 37);
              for (int i = 0; i < num_x * kRows; ++i) {
                const int r = i % kRows;
                ASSERT_EQ(r >= 5 && r < 37 ? expected[i] : -1.0f, part[i]) << label << " row " << r;
              }
            }
          }
        }
      }
    }
  }
}

// End to end, Q8 activations are within half a quantization step per
// activation of the float-activation product: |sum w (x - x^)| <= sum |w| s
// / 2.
TEST(Q8MatMulTest, WithinHalfAStepOfFloatActivations) {
  std::mt19937 rng(19);
  for (TensorType type : kQ8Types) {
    const int64_t cols = Traits(type).block_size == 256 ? 512 : 576;
    RandomMatrix matrix(type, 40, cols, rng);
    const std::vector<float> x = RandomActivations(4 * cols, rng);
    const Reference ref = ComputeReference(matrix.w, x.data(), 4, cols);
    matrix.w.activations = ActivationPrecision::kQ8;
    std::vector<float> y(4 * 40);
    MatMulRows(matrix.w, x.data(), 4, cols, y.data(), 40, 0, 40);
    std::vector<float> row(cols);
    for (int64_t r = 0; r < 40; ++r) {
      DequantizeRow(type, matrix.w.data + r * matrix.w.row_bytes, row.data(), cols);
      for (int m = 0; m < 4; ++m) {
        double bound = 0.0;
        for (int64_t b = 0; b < cols / 32; ++b) {
          float amax = 0.0f, weights = 0.0f;
          for (int i = 0; i < 32; ++i) {
            amax = std::max(amax, std::fabs(x[m * cols + b * 32 + i]));
            weights += std::fabs(row[b * 32 + i]);
          }
          bound += weights * amax / 127.0 * 0.5;
        }
        const size_t i = m * 40 + r;
        EXPECT_NEAR(y[i], ref.value[i], bound * 1.001 + 1e-4 * ref.magnitude[i])
            << Traits(type).name;
        EXPECT_NE(y[i], static_cast<float>(ref.value[i]));  // it did quantize
      }
    }
  }
}

TEST(CpuFeaturesTest, ForceClampsToDetectedLevel) {
  const SimdLevel detected = DetectSimdLevel();
  const SimdLevel before = ForceSimdLevel(SimdLevel::kScalar);
  EXPECT_EQ(ActiveSimdLevel(), SimdLevel::kScalar);
  // AMX tiles only at the AVX-512 level, where the CPU and OS allow them.
  EXPECT_FALSE(AmxActive());
  EXPECT_EQ(ForceSimdLevel(SimdLevel::kAvx512), SimdLevel::kScalar);
  EXPECT_EQ(ActiveSimdLevel(), detected);
  ForceSimdLevel(before);
  {
    AmxGuard amx_guard(true);
    EXPECT_EQ(AmxActive(), GetCpuFeatures().amx_int8 && ActiveSimdLevel() == SimdLevel::kAvx512);
  }
  EXPECT_EQ(SimdLevelName(SimdLevel::kAvx2), "avx2");
  const CpuFeatures& f = GetCpuFeatures();
  if (detected == SimdLevel::kAvx512) {
    EXPECT_TRUE(f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq);
  }
  if (detected >= SimdLevel::kAvx2) {
    EXPECT_TRUE(f.avx2 && f.fma && f.f16c);
  }
}

}  // namespace
}  // namespace ri
