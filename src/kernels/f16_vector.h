// Attention arithmetic over F16 keys and values stored in the KV cache:
// scores of one query against a run of keys, and the weighted sum of a run
// of values. SIMD path chosen at run time (F16C conversions).
#pragma once

#include <cstdint>

namespace ri {

// scores[i] = scale * dot(query, keys[i]) for i < count; keys are count
// vectors of `dim` F16 values, contiguous.
void ScoreKeysF16(const float* query, const uint16_t* keys, int count, int dim, float scale,
                  float* scores);

// out[d] += sum_i weights[i] * values[i][d] for i < count.
void AccumulateValuesF16(const float* weights, const uint16_t* values, int count, int dim,
                         float* out);

}  // namespace ri
