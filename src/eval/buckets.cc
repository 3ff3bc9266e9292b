#include "eval/buckets.h"

#include <algorithm>

#include "util/error.h"

namespace ri::eval {

BucketedMean::BucketedMean(int bucket_size) : bucket_size_(bucket_size) {
  if (bucket_size < 1) Fail("the bucket size must be positive, got {}", bucket_size);
}

void BucketedMean::AddSample(std::span<const double> values) {
  for (size_t step = 0; step < values.size(); ++step) {
    const int index = static_cast<int>(step) / bucket_size_;
    while (static_cast<int>(buckets_.size()) <= index) {
      const int begin = static_cast<int>(buckets_.size()) * bucket_size_;
      buckets_.push_back({.begin = begin, .end = begin});
    }
    Bucket& bucket = buckets_[index];
    bucket.end = std::max(bucket.end, static_cast<int>(step) + 1);
    ++bucket.count;
    bucket.sum += values[step];
    ++total_.count;
    total_.sum += values[step];
  }
  total_.end = std::max(total_.end, static_cast<int>(values.size()));
}

}  // namespace ri::eval
