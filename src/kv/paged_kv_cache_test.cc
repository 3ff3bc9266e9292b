#include "kv/paged_kv_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "util/error.h"
#include "util/fp16.h"

namespace ri {
namespace {

constexpr KvGeometry kGeometry{.num_layers = 2, .num_kv_heads = 3, .head_dim = 8, .page_size = 4};

// Brute force: bounds of page `page_index` recomputed from the stored keys.
void ExpectBoundsExact(const SequenceKvCache& cache, int layer, int page_index) {
  const KvGeometry& g = cache.geometry();
  const int page = cache.page(layer, page_index);
  const int filled = std::min(g.page_size, cache.length(layer) - page_index * g.page_size);
  for (int h = 0; h < g.num_kv_heads; ++h) {
    for (int d = 0; d < g.head_dim; ++d) {
      float lo = 1e30f, hi = -1e30f;
      for (int s = 0; s < filled; ++s) {
        const float k = Fp16ToFloat(cache.pool().keys(page, h)[d * g.page_size + s]);
        lo = std::min(lo, k);
        hi = std::max(hi, k);
      }
      ASSERT_EQ(cache.pool().key_min(page, h)[d], lo) << "page " << page_index << " head " << h;
      ASSERT_EQ(cache.pool().key_max(page, h)[d], hi) << "page " << page_index << " head " << h;
    }
  }
}

TEST(PagedKvCacheTest, BoundsStayExactUnderAppendsAndOverwrites) {
  KvPagePool pool(kGeometry);
  SequenceKvCache cache(pool);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const size_t width = kGeometry.num_kv_heads * kGeometry.head_dim;
  std::vector<float> key(width), value(width);
  std::vector<std::vector<float>> written;  // layer 0 keys by position, for content checks
  for (int step = 0; step < 300; ++step) {
    for (float& x : key) x = normal(rng);
    for (float& x : value) x = normal(rng);
    const int length = cache.length(0);
    const bool overwrite = length > 0 && rng() % 3 == 0;
    const int position = overwrite ? static_cast<int>(rng() % length) : length;
    cache.Write(0, position, key.data(), value.data());
    if (overwrite) written[position] = key; else written.push_back(key);
    ExpectBoundsExact(cache, 0, position / kGeometry.page_size);
  }
  for (int j = 0; j < cache.num_pages(0); ++j) ExpectBoundsExact(cache, 0, j);
  // Stored keys are the F16 roundings of the last value written at each
  // position, dimension-major within their page.
  for (int p = 0; p < cache.length(0); ++p) {
    const int page = cache.page(0, p / kGeometry.page_size);
    for (int h = 0; h < kGeometry.num_kv_heads; ++h) {
      for (int d = 0; d < kGeometry.head_dim; ++d) {
        ASSERT_EQ(pool.keys(page, h)[d * kGeometry.page_size + p % kGeometry.page_size],
                  FloatToFp16(written[p][h * kGeometry.head_dim + d]));
      }
    }
  }
  EXPECT_EQ(cache.length(1), 0);
}

TEST(PagedKvCacheTest, GrowsPageByPageAndReturnsPages) {
  KvPagePool pool(kGeometry);
  std::vector<float> zeros(kGeometry.num_kv_heads * kGeometry.head_dim, 0.0f);
  {
    SequenceKvCache cache(pool);
    for (int p = 0; p < 9; ++p) cache.Write(1, p, zeros.data(), zeros.data());
    EXPECT_EQ(cache.num_pages(1), 3);
    EXPECT_EQ(pool.pages_in_use(), 3);
    EXPECT_EQ(cache.bytes_in_use(), 3 * pool.page_bytes());
  }
  EXPECT_EQ(pool.pages_in_use(), 0);
  SequenceKvCache again(pool);
  again.Write(0, 0, zeros.data(), zeros.data());
  EXPECT_EQ(pool.pages_allocated(), 3);  // reused, not grown
}

TEST(PagedKvCacheTest, CopyIsIndependentAndEqual) {
  KvPagePool pool(kGeometry);
  SequenceKvCache original(pool);
  std::vector<float> key(kGeometry.num_kv_heads * kGeometry.head_dim), value(key.size());
  for (int p = 0; p < 11; ++p) {
    for (size_t i = 0; i < key.size(); ++i) key[i] = value[i] = static_cast<float>(p * 100 + i);
    original.Write(0, p, key.data(), value.data());
  }
  SequenceKvCache copy(pool);
  copy.CopyFrom(original);
  ASSERT_EQ(copy.length(0), 11);
  for (int j = 0; j < copy.num_pages(0); ++j) {
    ASSERT_NE(copy.page(0, j), original.page(0, j));
    for (int h = 0; h < kGeometry.num_kv_heads; ++h) {
      for (int i = 0; i < kGeometry.page_size * kGeometry.head_dim; ++i) {
        ASSERT_EQ(pool.keys(copy.page(0, j), h)[i], pool.keys(original.page(0, j), h)[i]);
      }
      ExpectBoundsExact(copy, 0, j);
    }
  }
  copy.Write(0, 11, key.data(), value.data());  // the original does not grow
  EXPECT_EQ(original.length(0), 11);
}

TEST(PagedKvCacheTest, RejectsWritesPastTheEndAndBadPageSizes) {
  KvPagePool pool(kGeometry);
  SequenceKvCache cache(pool);
  std::vector<float> zeros(kGeometry.num_kv_heads * kGeometry.head_dim, 0.0f);
  EXPECT_THROW(cache.Write(0, 1, zeros.data(), zeros.data()), Error);
  KvGeometry bad = kGeometry;
  bad.page_size = 12;
  EXPECT_THROW(KvPagePool{bad}, Error);
}

}  // namespace
}  // namespace ri
