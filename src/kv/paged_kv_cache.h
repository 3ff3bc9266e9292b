// Paged KV cache. A pool hands out fixed-size pages; each sequence keeps a
// page table per layer. A page holds `page_size` positions of one layer for
// every kv head, keys and values in F16, plus per kv head the element-wise
// min and max of its keys (Quest's page bounds), kept exact on every append
// and overwrite. Memory grows page by page as sequences grow and returns to
// the pool when a sequence ends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace ri {

struct KvGeometry {
  int num_layers = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int page_size = 16;
};

// Storage for pages. Pages are allocated in slabs so their addresses stay
// stable while the pool grows; released pages are reused first.
class KvPagePool {
 public:
  explicit KvPagePool(const KvGeometry& geometry);

  const KvGeometry& geometry() const { return geometry_; }
  int Allocate();
  void Release(int page);

  // Keys of (page, kv head): head_dim x page_size F16 values,
  // dimension-major (dimension d of slot s at [d * page_size + s]), so that
  // attention scores a run of keys one key per SIMD lane with no sums across
  // lanes. Values: page_size x head_dim, position-major.
  uint16_t* keys(int page, int kv_head) { return Slot(page) + KeyOffset(kv_head); }
  const uint16_t* keys(int page, int kv_head) const { return Slot(page) + KeyOffset(kv_head); }
  uint16_t* values(int page, int kv_head) { return Slot(page) + ValueOffset(kv_head); }
  const uint16_t* values(int page, int kv_head) const { return Slot(page) + ValueOffset(kv_head); }
  // The key at `slot`: head_dim F16 values, from or to a contiguous row.
  void StoreKey(int page, int kv_head, int slot, const uint16_t* key);
  void LoadKey(int page, int kv_head, int slot, uint16_t* key) const;
  // Element-wise key bounds of (page, kv head): head_dim floats each.
  float* key_min(int page, int kv_head) { return Bounds(page) + 2 * kv_head * geometry_.head_dim; }
  const float* key_min(int page, int kv_head) const {
    return const_cast<KvPagePool*>(this)->key_min(page, kv_head);
  }
  float* key_max(int page, int kv_head) { return key_min(page, kv_head) + geometry_.head_dim; }
  const float* key_max(int page, int kv_head) const {
    return const_cast<KvPagePool*>(this)->key_max(page, kv_head);
  }

  int pages_in_use() const { return static_cast<int>(allocated_ - free_.size()); }
  int pages_allocated() const { return allocated_; }
  // Bytes of one page: keys, values and bounds of every kv head, and the
  // padding that staggers pages across cache sets.
  size_t page_bytes() const;
  // Bytes of K or V for one position of one kv head.
  size_t position_bytes() const { return static_cast<size_t>(geometry_.head_dim) * 2; }

 private:
  static constexpr int kPagesPerSlab = 64;
  size_t KeyOffset(int kv_head) const;
  size_t ValueOffset(int kv_head) const;
  uint16_t* Slot(int page) const;
  float* Bounds(int page) const;

  KvGeometry geometry_;
  size_t page_stride_;  // F16 elements from one page to the next (PageStride)
  // Cache-line aligned, so that attention's 32- and 64-byte loads of keys
  // and values never straddle two lines.
  std::vector<std::unique_ptr<uint16_t[], void (*)(void*)>> slabs_;
  std::vector<std::unique_ptr<float[]>> bound_slabs_;
  std::vector<int> free_;
  int allocated_ = 0;
};

// The KV cache of one sequence: a page table per layer over a shared pool.
class SequenceKvCache {
 public:
  explicit SequenceKvCache(KvPagePool& pool);
  ~SequenceKvCache();
  SequenceKvCache(const SequenceKvCache&) = delete;
  SequenceKvCache& operator=(const SequenceKvCache&) = delete;

  const KvGeometry& geometry() const { return pool_.geometry(); }
  KvPagePool& pool() { return pool_; }
  const KvPagePool& pool() const { return pool_; }

  // Positions stored in `layer` (positions are 0..length-1).
  int length(int layer) const { return lengths_[layer]; }
  int num_pages(int layer) const { return static_cast<int>(pages_[layer].size()); }
  int page(int layer, int page_index) const { return pages_[layer][page_index]; }
  std::span<const int> page_table(int layer) const { return pages_[layer]; }

  // Stores K and V (num_kv_heads x head_dim floats each, converted to F16)
  // at `position` of `layer`: appends when position == length(layer),
  // overwrites when position < length(layer). Page bounds stay exact.
  void Write(int layer, int position, const float* key, const float* value);
  // Overwrites stored positions (row r's K and V at r * num_kv_heads *
  // head_dim), recomputing the bounds of each page once after a run of
  // writes into it rather than after every write.
  void Overwrite(int layer, std::span<const int> positions, const float* keys, const float* values);

  // Returns one page of a layer to the pool (an eviction): its table entry
  // becomes -1 and it must not be read or written again.
  void ReleasePage(int layer, int page_index);

  // Makes this cache a copy of `other` (same pool): new pages, same contents.
  void CopyFrom(const SequenceKvCache& other);

  // Returns all pages to the pool.
  void Clear();
  size_t bytes_in_use() const;

 private:
  // Converts and stores one entry, calling stored(page, kv_head, slot,
  // f16_key) after each kv head's key.
  template <class Stored>
  void StoreEntry(int layer, int position, const float* key, const float* value, Stored stored);
  void RecomputeBounds(int layer, int page_index);

  KvPagePool& pool_;
  std::vector<std::vector<int>> pages_;  // [layer] -> page ids
  std::vector<int> lengths_;             // [layer]
  std::vector<uint16_t> key_row_;        // one head's F16 key, contiguous
};

}  // namespace ri
