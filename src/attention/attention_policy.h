// The seam between the model and what attention reads: one policy object per
// sequence decides which cached positions each query attends to, writes the
// rows' keys and values into the sequence's paged cache, and keeps its own
// state and statistics. Full attention, Quest, StreamingLLM, TOVA and
// RetroAttention are implementations of this interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace ri {

class SequenceKvCache;
class ThreadPool;

// What a row is doing in this forward pass (see docs/architecture).
enum class RowRole : uint8_t {
  kPrefill,  // a prompt token
  kDecode,   // the newest token of a sequence
  kRetro,    // a recent token re-run with a corrected attention output
};

// One layer's attention inputs for the rows of one sequence, in position order.
struct LayerAttention {
  int layer = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float scale = 0.0f;                // softmax scale, usually 1/sqrt(head_dim)
  std::span<const int> positions;    // position of each row
  std::span<const RowRole> roles;    // role of each row
  const float* queries = nullptr;    // rows x num_heads x head_dim (after RoPE)
  const float* keys = nullptr;       // rows x num_kv_heads x head_dim (after RoPE)
  const float* values = nullptr;     // rows x num_kv_heads x head_dim
  float* outputs = nullptr;          // rows x num_heads x head_dim
  float* log_sum_exps = nullptr;     // rows x num_heads, or null when not wanted
};

// A past position that a policy re-runs through the upper layers together
// with a decode step (RetroAttention's window).
struct ReplayRow {
  int position = 0;
  int start_layer = 0;
  const float* residual = nullptr;  // the residual stream entering start_layer
};

// What a decode step must run besides the new token.
struct DecodePlan {
  std::span<const ReplayRow> replays;  // increasing positions, all before the new one
  int keep_layer = -1;                 // keep the new row's residual entering this layer
  float* kept_residual = nullptr;      // ... here (hidden_size floats)
};

// Counts a policy accumulates over its sequence's decode steps.
struct AttentionStats {
  uint64_t decode_steps = 0;
  uint64_t positions_attended = 0;  // summed over layers and kv heads
  uint64_t pages_read = 0;          // summed over layers and kv heads
  uint64_t kv_bytes_read = 0;       // K and V bytes, plus page bounds read for selection
  // RetroAttention: supplementary attention of window queries (per layer and kv head).
  uint64_t window_queries = 0;           // (window query, step) pairs
  uint64_t supplementary_pages = 0;
  uint64_t supplementary_positions = 0;
  // Effective KV exposure: per query leaving the window (and per layer and kv
  // head), unique positions attended over its lifetime divided by its budget.
  double exposure_sum = 0;
  uint64_t exposure_count = 0;

  // The mean effective KV exposure; nullopt before any query left a window.
  std::optional<double> effective_kv_exposure() const {
    if (exposure_count == 0) return std::nullopt;
    return exposure_sum / static_cast<double>(exposure_count);
  }
  AttentionStats& operator+=(const AttentionStats& other) {
    decode_steps += other.decode_steps;
    positions_attended += other.positions_attended;
    pages_read += other.pages_read;
    kv_bytes_read += other.kv_bytes_read;
    window_queries += other.window_queries;
    supplementary_pages += other.supplementary_pages;
    supplementary_positions += other.supplementary_positions;
    exposure_sum += other.exposure_sum;
    exposure_count += other.exposure_count;
    return *this;
  }
};

class AttentionPolicy {
 public:
  virtual ~AttentionPolicy() = default;
  virtual std::string name() const = 0;

  // Writes the rows' K/V into `cache` (append or, for retro rows, overwrite)
  // and computes every row's attention output, each query seeing only
  // positions up to its own.
  virtual void Attend(const LayerAttention& call, SequenceKvCache& cache, ThreadPool& pool) = 0;

  // Called before the forward pass of the decode step that writes `position`
  // (residual streams are `hidden_size` floats).
  virtual DecodePlan PlanDecodeStep(int position, int hidden_size) { return {}; }

  // Called once after all layers of a decode step ran.
  void EndDecodeStep() {
    ++stats_.decode_steps;
    OnEndDecodeStep();
  }

  const AttentionStats& stats() const { return stats_; }

 protected:
  virtual void OnEndDecodeStep() {}

  AttentionStats stats_;
};

}  // namespace ri
