// Per-position statistics of an evaluation over a generation: values indexed
// by decode step, pooled over samples in buckets of consecutive steps.
#pragma once

#include <span>
#include <vector>

namespace ri::eval {

// Decode steps [begin, end) (the last bucket ends with the longest sample).
struct Bucket {
  int begin = 0;
  int end = 0;
  int count = 0;  // values pooled, over all samples
  double sum = 0;

  double Mean() const { return count > 0 ? sum / count : 0.0; }
};

class BucketedMean {
 public:
  // Throws ri::Error unless bucket_size >= 1.
  explicit BucketedMean(int bucket_size);

  // Adds one sample's values, element i belonging to decode step i.
  void AddSample(std::span<const double> values);

  int bucket_size() const { return bucket_size_; }
  const std::vector<Bucket>& buckets() const { return buckets_; }
  // All values pooled.
  const Bucket& total() const { return total_; }

 private:
  int bucket_size_;
  std::vector<Bucket> buckets_;
  Bucket total_;
};

}  // namespace ri::eval
