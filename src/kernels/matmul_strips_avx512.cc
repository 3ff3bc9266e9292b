// AVX-512 matmul kernel for float activations over weight strips
// (weight_strips.h) of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K;
// this file alone is compiled with AVX-512 and runs only when
// ActiveSimdLevel() is kAvx512.
//
// Lane i of a strip vector belongs to weight row i, so a weight code is
// decoded for 16 rows at once by a shift and a table lookup (5-, 6- and
// 8-bit codes: a shift and a bitwise select), and meets the activation
// broadcast to every lane. Compared with decoding a block of one row
// through a lookup table (matmul_avx512.cc), this needs no shuffles, and a
// block's scales are one load (the K formats: a few shifts) for 16 rows.
//
// A sub-block's scale is factored out of its sum, as the Q8 kernels do, so
// that a code costs one multiply-add per activation row and none for making
// the weight: for weight row i, activation row r and sub-block k (a Q4_x,
// Q5_x or Q8_0 block, one of a Q4_K / Q5_K block's eight of 32 weights, or
// one of a Q6_K block's sixteen of 16)
//   p0, p1 = sums of code * x over the sub-block's even and odd elements
//   acc = fma(d_k, p0 + p1, acc)
//   all but Q4_0: acc = fma(m_k, sum of the sub-block's x, acc)
// in storage order, from acc = 0, where weight = d_k * code + m_k (Q4_0:
// code less 8, m_k = 0; Q4_K: d_k = d * scale, m_k = -(dmin * min), both
// exact; 5-, 6- and 8-bit codes are decoded as 2^bits + code, and m_k takes
// that offset and the format's in, see the formats below). Codes are exact
// small integers. Every (weight row, activation row) pair runs these
// operations in this order whatever the batch, the row range and the
// strips processed together.
#include <algorithm>
#include <utility>
#include <vector>

#include "kernels/matmul_q8_simd.h"
#include "kernels/matmul_simd.h"
#include "kernels/strip_lanes_avx512.h"
#include "kernels/weight_strips.h"
#include "kernels/x86_intrinsics.h"

namespace ri::simd {

namespace {

// Activation rows per pass over a strip (accumulators stay in registers).
constexpr int kMaxRows = 8;

// Code e of sub-block k of a 4-bit format (code e in lane vector
// Format::Vector(k, e) at bit Format::Shift(k, e)) in every lane, as a float.
// vpermps reads only the low 4 bits of each lane, so once the nibble is
// shifted down it picks its value from a table of the 16 codes (less the
// format's bias): one instruction instead of a mask and a conversion. `k`
// and `e` are constants once the loops are unrolled.
template <class Format>
class NibbleDecoder {
 public:
  [[gnu::always_inline]] __m512 operator()(const uint8_t* block, int k, int e) const {
    const __m512i lane = LoadLane(block, Format::Vector(k, e));
    const int shift = Format::Shift(k, e);
    return _mm512_permutexvar_ps(shift == 0 ? lane : _mm512_srli_epi32(lane, shift), code_values_);
  }

 private:
  const __m512 code_values_ =
      _mm512_sub_ps(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                    _mm512_set1_ps(Format::kCodeBias));
};

// What the kernel needs of a format: its type and offset term, sub-blocks
// per block of kSubBlockSize weights (kUnrolled of them unrolled together),
// a Decoder of their codes and their d_k and m_k.
template <class Base>
struct Q4Strips : Base {
  static constexpr int kSubBlockSize = 32;
  static constexpr int kUnrolled = 1;
  using Decoder = NibbleDecoder<Q4Strips>;
  static constexpr int Vector(int /*k*/, int e) { return (e % 16) / 4; }
  static constexpr int Shift(int /*k*/, int e) { return 8 * (e % 4) + 4 * (e / 16); }
  [[gnu::always_inline]] static void Scales(const uint8_t* block, int /*k*/, __m512* d, __m512* m) {
    const uint8_t* fields = block + WeightStrips::LaneBytes(Base::kType);
    *d = LoadFields(fields);
    if constexpr (Base::kHasOffset) *m = LoadFields(fields + WeightStrips::kFieldBytes);
  }
};
using StripsQ4_0 = Q4Strips<FormatQ4_0>;
using StripsQ4_1 = Q4Strips<FormatQ4_1>;

struct StripsQ4_K {
  static constexpr TensorType kType = TensorType::Q4_K;
  static constexpr int kCodeBias = 0;
  static constexpr bool kHasOffset = true;
  static constexpr int kSubBlocks = 8;
  static constexpr int kSubBlockSize = 32;
  static constexpr int kUnrolled = 2;
  using Decoder = NibbleDecoder<StripsQ4_K>;
  // Three vectors of packed scales, then sub-block pairs of 8 code vectors.
  static constexpr int Vector(int k, int e) { return 3 + 8 * (k / 2) + e / 4; }
  static constexpr int Shift(int k, int e) { return 8 * (e % 4) + 4 * (k % 2); }
  [[gnu::always_inline]] static void Scales(const uint8_t* block, int k, __m512* d, __m512* m) {
    KScales(block, block + WeightStrips::LaneBytes(kType), k, d, m);
  }
};

// Code e of sub-block k of a format whose unsigned codes of kBits bits are
// packed as weight_strips.h repacks 5- and 6-bit codes (Q8_0's lane bytes
// are so packed already), from lane vector kFirstVector on, as the float
// 2^kBits + code: a code's bits, moved to the top of a float's mantissa
// under the exponent of 2^kBits by a shift and one bitwise select, are that
// float, in two instructions as a nibble's lookup takes. A leftover code,
// whose bits lie in several lanes, takes a shift and a select per lane.
template <int kBits, int kFirstVector>
class PackedDecoder {
 public:
  [[gnu::always_inline]] __m512 operator()(const uint8_t* block, int k, int e) const {
    const int first = kFirstVector + kWords * k;
    if (e < kPerWord * kWords) {
      return AsFloat(ShiftTo(LoadLane(block, first + e / kPerWord), kBits * (e % kPerWord), kTop));
    }
    if constexpr (kSpare > 0) {
      return Leftover(block, first, e);
    } else {
      return _mm512_setzero_ps();  // every code is whole in a lane
    }
  }

 private:
  static constexpr int kWords = WeightStrips::PackedWords(kBits);
  static constexpr int kPerWord = WeightStrips::PackedPerWord(kBits);
  static constexpr int kSpare = WeightStrips::PackedSpareBits(kBits);
  static constexpr int kTop = 23 - kBits;  // where a code's lowest bit goes

  // Leftover code e of the sub-block whose lanes start at vector `first`.
  [[gnu::always_inline]] __m512 Leftover(const uint8_t* block, int first, int e) const {
    const int g0 = (e - kPerWord * kWords) * kBits;  // its first spare bit
    __m512i placed;
#pragma GCC unroll 3
    for (int g = g0; g < g0 + kBits; g += kSpare - g % kSpare) {
      const __m512i piece =
          ShiftTo(LoadLane(block, first + g / kSpare), 32 - kSpare + g % kSpare, kTop + (g - g0));
      // 0xCA: a ? b : c, the bits placed so far from `placed`.
      placed = g == g0 ? piece
                       : _mm512_ternarylogic_epi32(_mm512_set1_epi32(((1 << (g - g0)) - 1) << kTop),
                                                   placed, piece, 0xCA);
    }
    return AsFloat(placed);
  }

  // Lane bits from `from` on, moved to bit `to`.
  [[gnu::always_inline]] static __m512i ShiftTo(__m512i lane, int from, int to) {
    if (from == to) return lane;
    return from < to ? _mm512_slli_epi32(lane, to - from) : _mm512_srli_epi32(lane, from - to);
  }
  // The code bits of `placed` under the exponent of 2^kBits; 0xEA: (a & b) | c.
  [[gnu::always_inline]] __m512 AsFloat(__m512i placed) const {
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(placed, code_bits_, exponent_, 0xEA));
  }
  const __m512i code_bits_ = _mm512_set1_epi32(((1 << kBits) - 1) << kTop);
  const __m512i exponent_ = _mm512_set1_epi32((127 + kBits) << 23);
};

// A format with packed codes of kBits bits (by default its repacked ones,
// after its lane bytes): kSubBlocks sub-blocks a block, kUnrolled of them
// unrolled together.
template <TensorType kT, int kSubBlocksOfBlock, int kUnrolledTogether,
          int kBits = WeightStrips::LayoutOf(kT).code_bits,
          int kFirstVector = WeightStrips::LayoutOf(kT).lane_bytes / 4>
struct PackedFormat {
  static constexpr TensorType kType = kT;
  static constexpr bool kHasOffset = true;  // the decoded codes' offset
  static constexpr int kSubBlocks = kSubBlocksOfBlock;
  static constexpr int kSubBlockSize = WeightStrips::PackedSubBlock(kBits);
  static constexpr int kUnrolled = kUnrolledTogether;
  using Decoder = PackedDecoder<kBits, kFirstVector>;
};

// Q8_0: the lane bytes are the codes plus 128, four to a lane, which is how
// 8-bit codes pack (no leftovers); weight = d * code, so with the decoded
// 256 + (code + 128) m_k = -384 d, rounded.
struct StripsQ8_0 : PackedFormat<TensorType::Q8_0, 1, 1, 8, 0> {
  [[gnu::always_inline]] static void Scales(const uint8_t* block, int /*k*/, __m512* d, __m512* m) {
    *d = LoadFields(block + WeightStrips::LaneBytes(kType));
    *m = _mm512_mul_ps(*d, _mm512_set1_ps(-384.0F));
  }
};

// Q5_0 and Q5_1: weight = d * (code - 16), or d * code + m, so with the
// decoded 32 + code m_k = -48 d rounded, or m - 32 d with one rounding.
template <TensorType kT>
struct StripsQ5 : PackedFormat<kT, 1, 1> {
  using PackedFormat<kT, 1, 1>::kType;
  [[gnu::always_inline]] static void Scales(const uint8_t* block, int /*k*/, __m512* d, __m512* m) {
    const uint8_t* fields = block + WeightStrips::LaneBytes(kType);
    *d = LoadFields(fields);
    if constexpr (kType == TensorType::Q5_0) {
      *m = _mm512_mul_ps(*d, _mm512_set1_ps(-48.0F));
    } else {
      *m = _mm512_fmadd_ps(*d, _mm512_set1_ps(-32.0F),
                           LoadFields(fields + WeightStrips::kFieldBytes));
    }
  }
};

// Q5_K: with the decoded 32 + code, m_k = -(dmin * min) - 32 d_k, one
// rounding.
struct StripsQ5_K : PackedFormat<TensorType::Q5_K, 8, 2> {
  [[gnu::always_inline]] static void Scales(const uint8_t* block, int k, __m512* d, __m512* m) {
    KScales(block, block + WeightStrips::LaneBytes(kType), k, d, m);
    *m = _mm512_fmadd_ps(*d, _mm512_set1_ps(-32.0F), *m);
  }
};

// Q6_K: weight = d * scale * (code - 32), so with the decoded 64 + code
// m_k = -96 d_k, rounded.
struct StripsQ6_K : PackedFormat<TensorType::Q6_K, 16, 2> {
  [[gnu::always_inline]] static void Scales(const uint8_t* block, int k, __m512* d, __m512* m) {
    const __m512i scale = SignedLaneByte(block, k);
    *d = _mm512_mul_ps(LoadFields(block + WeightStrips::LaneBytes(kType)),
                       _mm512_cvtepi32_ps(scale));
    *m = _mm512_mul_ps(*d, _mm512_set1_ps(-96.0F));
  }
};

// Y of S consecutive strips' weight rows for R activation rows, given
// interleaved (column c of row r at x[c * R + r], so that the R values an
// element meets are one address) and, with an offset term, each
// sub-block's activation sums likewise (sub-block k of row r at
// x_sums[k * R + r]): sums[s][r], lane i for weight row i of strip s.
template <class Format, int S, int R>
[[gnu::always_inline]] inline void StripsTimesRows(const uint8_t* first_strip, size_t strip_bytes,
                                                   int64_t num_blocks, const float* x,
                                                   const float* x_sums, __m512 (*sums)[kMaxRows]) {
  constexpr size_t kBlockBytes = WeightStrips::BlockBytes(Format::kType);
  constexpr int64_t kInterleave = WeightStrips::Interleave(Format::kType);
  constexpr int kSubBlocks = Format::kSubBlocks;
  constexpr int kSize = Format::kSubBlockSize;
  const typename Format::Decoder decode;
  __m512 acc[S][R];
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[s][r] = _mm512_setzero_ps();
  }
  const uint8_t* block = first_strip;
  for (int64_t j = 0; j < kInterleave; ++j) {
    for (int64_t b = j; b < num_blocks; b += kInterleave, block += kBlockBytes) {
      // Sub-blocks in groups of Format::kUnrolled (Q4_K: a pair, which
      // shares its code bytes) with constant shifts; the groups are a loop:
      // all eight of Q4_K's unrolled made this file take minutes to compile.
#pragma GCC unroll 1
      for (int group = 0; group < kSubBlocks / Format::kUnrolled; ++group) {
#pragma GCC unroll 2
        for (int unrolled = 0; unrolled < Format::kUnrolled; ++unrolled) {
          const int k = Format::kUnrolled * group + unrolled;
          // Spread over the sub-blocks: a Q4_K block's 36 lines per strip
          // asked for at once left a one-row product from DRAM at 12 GB/s.
          constexpr size_t kPartBytes = kBlockBytes / kSubBlocks;
          WeightStrips::PrefetchAhead<kPartBytes, S>(block + k * kPartBytes, strip_bytes);
          const float* xk = x + (b * kSubBlocks + k) * kSize * R;
          __m512 part[S][R][2];
#pragma GCC unroll 32
          for (int e = 0; e < kSize; ++e) {
#pragma GCC unroll 8
            for (int s = 0; s < S; ++s) {
              const __m512 code = decode(block + s * strip_bytes, k, e);
#pragma GCC unroll 8
              for (int r = 0; r < R; ++r) {
                const __m512 xe = _mm512_set1_ps(xk[e * R + r]);
                part[s][r][e % 2] =
                    e < 2 ? _mm512_mul_ps(code, xe) : _mm512_fmadd_ps(code, xe, part[s][r][e % 2]);
              }
            }
          }
#pragma GCC unroll 8
          for (int s = 0; s < S; ++s) {
            __m512 d, m;
            Format::Scales(block + s * strip_bytes, k, &d, &m);
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
              acc[s][r] =
                  _mm512_fmadd_ps(d, _mm512_add_ps(part[s][r][0], part[s][r][1]), acc[s][r]);
            }
            if constexpr (Format::kHasOffset) {
#pragma GCC unroll 8
              for (int r = 0; r < R; ++r) {
                const float x_sum = x_sums[(b * kSubBlocks + k) * R + r];
                acc[s][r] = _mm512_fmadd_ps(m, _mm512_set1_ps(x_sum), acc[s][r]);
              }
            }
          }
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) sums[s][r] = acc[s][r];
  }
}

// The sums of a row's sub-blocks of kSize (16 or 32) elements, `step`
// floats apart from `sums`.
template <int kSize>
void SubBlockSums(const float* row, int64_t num_sub_blocks, float* sums, size_t step) {
  for (int64_t b = 0; b < num_sub_blocks; ++b) {
    const float* sub_block = row + kSize * b;
    if constexpr (kSize == 16) {
      sums[b * step] = _mm512_reduce_add_ps(_mm512_loadu_ps(sub_block));
    } else {
      sums[b * step] = _mm512_reduce_add_ps(
          _mm512_add_ps(_mm512_loadu_ps(sub_block), _mm512_loadu_ps(sub_block + 16)));
    }
  }
}

template <class Format>
void RunStrips(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
               size_t y_stride, int64_t row_begin, int64_t row_end) {
  const WeightStrips& strips = *w.strips;
  constexpr int64_t kRows = WeightStrips::kRows;
  const int64_t num_sub_blocks = w.cols / Format::kSubBlockSize;
  const int64_t num_blocks = num_sub_blocks / Format::kSubBlocks;
  // Groups of up to kMaxRows activation rows, each interleaved (a single
  // row already is), and with an offset term their sub-block sums,
  // interleaved likewise.
  thread_local std::vector<float> interleaved;
  thread_local std::vector<float> block_sums;
  if (num_x > 1) interleaved.resize(static_cast<size_t>(num_x) * w.cols);
  if constexpr (Format::kHasOffset) block_sums.resize(static_cast<size_t>(num_x) * num_sub_blocks);
  for (int m0 = 0; m0 < num_x; m0 += kMaxRows) {
    const int rows = std::min(kMaxRows, num_x - m0);
    float* group = interleaved.data() + static_cast<size_t>(m0) * w.cols;
    for (int r = 0; r < rows; ++r) {
      const float* row = x + (m0 + r) * x_stride;
      if (num_x > 1) {
        for (int64_t c = 0; c < w.cols; ++c) group[c * rows + r] = row[c];
      }
      if constexpr (Format::kHasOffset) {
        SubBlockSums<Format::kSubBlockSize>(row, num_sub_blocks,
                                            block_sums.data() + m0 * num_sub_blocks + r, rows);
      }
    }
  }
  const int64_t last_strip = (row_end - 1) / kRows;
  for (int64_t chunk = row_begin / kRows; chunk <= last_strip;
       chunk += WeightStrips::kChunkStrips) {
    const int64_t chunk_last = std::min(last_strip, chunk + WeightStrips::kChunkStrips - 1);
    for (int m0 = 0; m0 < num_x; m0 += kMaxRows) {
      const int rows = std::min(kMaxRows, num_x - m0);
      const float* group = num_x == 1 ? x : interleaved.data() + static_cast<size_t>(m0) * w.cols;
      const float* group_sums = Format::kHasOffset
                                    ? block_sums.data() + static_cast<size_t>(m0) * num_sub_blocks
                                    : nullptr;
      for (int64_t s = chunk; s <= chunk_last;) {
        // One or two activation rows' accumulator chains per strip would
        // wait on the FMA latency; a second strip gives the core
        // independent work.
        const int together = rows <= 2 && s < chunk_last ? 2 : 1;
        __m512 sums[2][kMaxRows];
        if (together == 2 && rows == 1) {
          StripsTimesRows<Format, 2, 1>(strips.strip(s), strips.strip_bytes(), num_blocks, group,
                                        group_sums, sums);
        } else if (together == 2) {
          StripsTimesRows<Format, 2, 2>(strips.strip(s), strips.strip_bytes(), num_blocks, group,
                                        group_sums, sums);
        } else {
          [&]<int... kR>(std::integer_sequence<int, kR...>) {
            ((rows == kR + 1 &&
              (StripsTimesRows<Format, 1, kR + 1>(strips.strip(s), strips.strip_bytes(), num_blocks,
                                                  group, group_sums, sums),
               true)) ||
             ...);
          }(std::make_integer_sequence<int, kMaxRows>{});
        }
        WeightStrips::StoreSums(sums, s, together, rows, row_begin, row_end, y + m0 * y_stride,
                                y_stride);
        s += together;
      }
    }
  }
}

}  // namespace

void MatMulStripsAvx512(const WeightMatrix& w, const float* x, int num_x, size_t x_stride, float* y,
                        size_t y_stride, int64_t row_begin, int64_t row_end) {
  switch (w.type) {
    case TensorType::Q4_0:
      return RunStrips<StripsQ4_0>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end);
    case TensorType::Q4_1:
      return RunStrips<StripsQ4_1>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end);
    case TensorType::Q5_0:
      return RunStrips<StripsQ5<TensorType::Q5_0>>(w, x, num_x, x_stride, y, y_stride, row_begin,
                                                   row_end);
    case TensorType::Q5_1:
      return RunStrips<StripsQ5<TensorType::Q5_1>>(w, x, num_x, x_stride, y, y_stride, row_begin,
                                                   row_end);
    case TensorType::Q8_0:
      return RunStrips<StripsQ8_0>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end);
    case TensorType::Q4_K:
      return RunStrips<StripsQ4_K>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end);
    case TensorType::Q5_K:
      return RunStrips<StripsQ5_K>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end);
    default:  // Q6_K (PrepareForKernels)
      return RunStrips<StripsQ6_K>(w, x, num_x, x_stride, y, y_stride, row_begin, row_end);
  }
}

}  // namespace ri::simd
