#include "kv/paged_kv_cache.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <new>

#include "kernels/attention_kernels.h"
#include "util/error.h"

namespace ri {

namespace {

constexpr size_t kCacheLine = 64;
constexpr size_t kHalvesPerLine = kCacheLine / sizeof(uint16_t);

// Empty bounds, which the first key widening them replaces.
void ResetBounds(float* lo, float* hi, int dim) {
  std::fill(lo, lo + dim, std::numeric_limits<float>::infinity());
  std::fill(hi, hi + dim, -std::numeric_limits<float>::infinity());
}

// F16 elements from one page to the next: its keys and values in whole cache
// lines, plus one line, so that pages (often a multiple of 4 KB) do not all
// fall into the same L1 sets, where the pages prefetched ahead would evict
// each other.
size_t PageStride(const KvGeometry& g) {
  const size_t elements = 2 * static_cast<size_t>(g.num_kv_heads) * g.page_size * g.head_dim;
  return (elements + kHalvesPerLine - 1) / kHalvesPerLine * kHalvesPerLine + kHalvesPerLine;
}

}  // namespace

KvPagePool::KvPagePool(const KvGeometry& geometry)
    : geometry_(geometry), page_stride_(PageStride(geometry)) {
  const int page_size = geometry.page_size;
  if (page_size <= 0 || (page_size & (page_size - 1)) != 0) {
    Fail("page size must be a positive power of two, got {}", page_size);
  }
}

size_t KvPagePool::page_bytes() const {
  return page_stride_ * sizeof(uint16_t) +
         2 * static_cast<size_t>(geometry_.num_kv_heads) * geometry_.head_dim * sizeof(float);
}

size_t KvPagePool::KeyOffset(int kv_head) const {
  return static_cast<size_t>(2 * kv_head) * geometry_.page_size * geometry_.head_dim;
}

size_t KvPagePool::ValueOffset(int kv_head) const {
  return KeyOffset(kv_head) + static_cast<size_t>(geometry_.page_size) * geometry_.head_dim;
}

uint16_t* KvPagePool::Slot(int page) const {
  return slabs_[page / kPagesPerSlab].get() + (page % kPagesPerSlab) * page_stride_;
}

float* KvPagePool::Bounds(int page) const {
  const size_t bound_floats = 2 * static_cast<size_t>(geometry_.num_kv_heads) * geometry_.head_dim;
  return bound_slabs_[page / kPagesPerSlab].get() + (page % kPagesPerSlab) * bound_floats;
}

int KvPagePool::Allocate() {
  if (!free_.empty()) {
    const int page = free_.back();
    free_.pop_back();
    return page;
  }
  if (allocated_ % kPagesPerSlab == 0) {
    const size_t bound_floats =
        2 * static_cast<size_t>(geometry_.num_kv_heads) * geometry_.head_dim;
    const size_t bytes = kPagesPerSlab * page_stride_ * sizeof(uint16_t);
    auto* slab = static_cast<uint16_t*>(std::aligned_alloc(kCacheLine, bytes));
    if (slab == nullptr) throw std::bad_alloc();
    std::fill_n(slab, bytes / sizeof(uint16_t), uint16_t{0});
    slabs_.emplace_back(slab, std::free);
    bound_slabs_.push_back(std::make_unique<float[]>(kPagesPerSlab * bound_floats));
  }
  return allocated_++;
}

void KvPagePool::Release(int page) { free_.push_back(page); }

void KvPagePool::StoreKey(int page, int kv_head, int slot, const uint16_t* key) {
  uint16_t* to = keys(page, kv_head) + slot;
  for (int d = 0; d < geometry_.head_dim; ++d) to[d * geometry_.page_size] = key[d];
}

void KvPagePool::LoadKey(int page, int kv_head, int slot, uint16_t* key) const {
  const uint16_t* from = keys(page, kv_head) + slot;
  for (int d = 0; d < geometry_.head_dim; ++d) key[d] = from[d * geometry_.page_size];
}

SequenceKvCache::SequenceKvCache(KvPagePool& pool)
    : pool_(pool),
      pages_(pool.geometry().num_layers),
      lengths_(pool.geometry().num_layers, 0),
      key_row_(pool.geometry().head_dim) {}

SequenceKvCache::~SequenceKvCache() { Clear(); }

void SequenceKvCache::Clear() {
  for (auto& layer_pages : pages_) {
    for (int page : layer_pages) {
      if (page >= 0) pool_.Release(page);
    }
    layer_pages.clear();
  }
  std::fill(lengths_.begin(), lengths_.end(), 0);
}

void SequenceKvCache::CopyFrom(const SequenceKvCache& other) {
  if (&other.pool_ != &pool_) Fail("KV caches of different pools cannot be copied");
  Clear();
  const KvGeometry& g = geometry();
  for (size_t layer = 0; layer < pages_.size(); ++layer) {
    lengths_[layer] = other.lengths_[layer];
    for (const int source : other.pages_[layer]) {
      if (source < 0) {
        pages_[layer].push_back(-1);
        continue;
      }
      const int page = pool_.Allocate();
      for (int h = 0; h < g.num_kv_heads; ++h) {
        const size_t elements = static_cast<size_t>(g.page_size) * g.head_dim;
        std::copy_n(pool_.keys(source, h), elements, pool_.keys(page, h));
        std::copy_n(pool_.values(source, h), elements, pool_.values(page, h));
        std::copy_n(pool_.key_min(source, h), g.head_dim, pool_.key_min(page, h));
        std::copy_n(pool_.key_max(source, h), g.head_dim, pool_.key_max(page, h));
      }
      pages_[layer].push_back(page);
    }
  }
}

void SequenceKvCache::ReleasePage(int layer, int page_index) {
  int& page = pages_[layer][page_index];
  if (page < 0) return;
  pool_.Release(page);
  page = -1;
}

size_t SequenceKvCache::bytes_in_use() const {
  size_t pages = 0;
  for (const auto& layer_pages : pages_) {
    pages += std::count_if(layer_pages.begin(), layer_pages.end(), [](int p) { return p >= 0; });
  }
  return pages * pool_.page_bytes();
}

void SequenceKvCache::Write(int layer, int position, const float* key, const float* value) {
  const KvGeometry& g = geometry();
  const int length = lengths_[layer];
  if (position < 0 || position > length) {
    Fail("KV write at position {} of layer {} whose length is {}", position, layer, length);
  }
  if (position < length) return Overwrite(layer, std::span(&position, 1), key, value);
  if (position % g.page_size == 0) pages_[layer].push_back(pool_.Allocate());
  // An appended key widens its page's bounds (of the stored F16 keys, so
  // that Quest's bound is exact).
  StoreEntry(layer, position, key, value,
             [&](int page, int kv_head, int slot, const uint16_t* f16_key) {
               float* lo = pool_.key_min(page, kv_head);
               float* hi = pool_.key_max(page, kv_head);
               if (slot == 0) ResetBounds(lo, hi, g.head_dim);
               WidenKeyBounds(f16_key, 1, g.head_dim, lo, hi);
             });
  lengths_[layer] = length + 1;
}

void SequenceKvCache::Overwrite(int layer, std::span<const int> positions, const float* keys,
                                const float* values) {
  const KvGeometry& g = geometry();
  const size_t stride = static_cast<size_t>(g.num_kv_heads) * g.head_dim;
  for (size_t r = 0; r < positions.size(); ++r) {
    const int position = positions[r];
    if (position < 0 || position >= lengths_[layer]) {
      Fail("KV overwrite at position {} of layer {} whose length is {}", position, layer,
           lengths_[layer]);
    }
    // Overwritten keys leave the bounds to RecomputeBounds, once per page.
    StoreEntry(layer, position, keys + r * stride, values + r * stride,
               [](int, int, int, const uint16_t*) {});
    const int page_index = position / g.page_size;
    if (r + 1 == positions.size() || positions[r + 1] / g.page_size != page_index) {
      RecomputeBounds(layer, page_index);
    }
  }
}

template <class Stored>
void SequenceKvCache::StoreEntry(int layer, int position, const float* key, const float* value,
                                 Stored stored) {
  const KvGeometry& g = geometry();
  const int page = pages_[layer][position / g.page_size];
  if (page < 0) Fail("KV write at position {} of layer {} into an evicted page", position, layer);
  const int slot = position % g.page_size;
  for (int h = 0; h < g.num_kv_heads; ++h) {
    const size_t offset = static_cast<size_t>(h) * g.head_dim;
    FloatsToF16(key + offset, g.head_dim, key_row_.data());
    pool_.StoreKey(page, h, slot, key_row_.data());
    FloatsToF16(value + offset, g.head_dim, pool_.values(page, h) + slot * g.head_dim);
    stored(page, h, slot, key_row_.data());
  }
}

void SequenceKvCache::RecomputeBounds(int layer, int page_index) {
  const KvGeometry& g = geometry();
  const int page = pages_[layer][page_index];
  const int filled = std::min(g.page_size, lengths_[layer] - page_index * g.page_size);
  for (int h = 0; h < g.num_kv_heads; ++h) {
    float* lo = pool_.key_min(page, h);
    float* hi = pool_.key_max(page, h);
    ResetBounds(lo, hi, g.head_dim);
    for (int slot = 0; slot < filled; ++slot) {
      pool_.LoadKey(page, h, slot, key_row_.data());
      WidenKeyBounds(key_row_.data(), 1, g.head_dim, lo, hi);
    }
  }
}

}  // namespace ri
