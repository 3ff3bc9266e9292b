#include "attention/exact_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/f16_vector.h"
#include "kv/paged_kv_cache.h"

namespace ri {

void AttendRuns(const KvPagePool& pool, int kv_head, std::span<const PageRun> runs,
                const float* query, int head_dim, float scale, float* scores, float* out,
                float* log_sum_exp) {
  int total = 0;
  for (const PageRun& run : runs) {
    ScoreKeysF16(query, pool.keys(run.page, kv_head) + run.first * head_dim, run.count, head_dim,
                 scale, scores + total);
    total += run.count;
  }
  float max_score = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < total; ++i) max_score = std::max(max_score, scores[i]);
  float sum = 0.0f;
  for (int i = 0; i < total; ++i) {
    scores[i] = std::exp(scores[i] - max_score);
    sum += scores[i];
  }
  const float inverse = 1.0f / sum;
  for (int i = 0; i < total; ++i) scores[i] *= inverse;
  std::fill(out, out + head_dim, 0.0f);
  int offset = 0;
  for (const PageRun& run : runs) {
    AccumulateValuesF16(scores + offset, pool.values(run.page, kv_head) + run.first * head_dim,
                        run.count, head_dim, out);
    offset += run.count;
  }
  if (log_sum_exp != nullptr) *log_sum_exp = max_score + std::log(sum);
}

void MergeAttention(float* out_a, float* lse_a, const float* out_b, float lse_b, int head_dim) {
  const float lse = std::max(*lse_a, lse_b) + std::log1p(std::exp(-std::fabs(*lse_a - lse_b)));
  const float weight_a = std::exp(*lse_a - lse);
  const float weight_b = std::exp(lse_b - lse);
  for (int d = 0; d < head_dim; ++d) out_a[d] = weight_a * out_a[d] + weight_b * out_b[d];
  *lse_a = lse;
}

void AppendRangeRuns(std::span<const int> page_table, int page_size, int first, int last,
                     std::vector<PageRun>& runs) {
  for (int position = first; position <= last;) {
    const int j = position / page_size;
    const int slot = position % page_size;
    const int count = std::min(page_size - slot, last - position + 1);
    runs.push_back({page_table[j], slot, count});
    position += count;
  }
}

void CausalPrefixRuns(std::span<const int> page_table, int page_size, int last,
                      std::vector<PageRun>& runs) {
  runs.clear();
  AppendRangeRuns(page_table, page_size, 0, last, runs);
}

}  // namespace ri
