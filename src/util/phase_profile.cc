#include "util/phase_profile.h"

#include <atomic>

namespace ri {

namespace {

std::atomic<bool> enabled{false};
std::array<std::atomic<int64_t>, kPhaseCount> nanoseconds{};

}  // namespace

std::string_view PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kNorms:
      return "RMS norms";
    case Phase::kQkvProjection:
      return "Q, K, V projections";
    case Phase::kQkNormAndRope:
      return "q/k norms and RoPE";
    case Phase::kAttention:
      return "attention (policy call)";
    case Phase::kKvWrite:
      return "attention: KV cache writes";
    case Phase::kSelection:
      return "attention: selection";
    case Phase::kAttentionTiles:
      return "attention: scores, softmax, values";
    case Phase::kSliceMerge:
      return "attention: slice merges";
    case Phase::kOutputProjection:
      return "output projection";
    case Phase::kGateUpProjection:
      return "FFN gate, up projections";
    case Phase::kSwiGlu:
      return "SwiGLU";
    case Phase::kDownProjection:
      return "FFN down projection";
    case Phase::kResidualAdds:
      return "residual adds";
    case Phase::kLogits:
      return "final norm and logits";
    case Phase::kCount:
      break;
  }
  return "?";
}

bool IsPartOfAttention(Phase phase) {
  return phase == Phase::kKvWrite || phase == Phase::kSelection ||
         phase == Phase::kAttentionTiles || phase == Phase::kSliceMerge;
}

namespace phase_profile {

void Enable(bool on) {
  Take();
  enabled.store(on, std::memory_order_relaxed);
}

bool Enabled() { return enabled.load(std::memory_order_relaxed); }

void Add(Phase phase, std::chrono::steady_clock::duration time) {
  nanoseconds[static_cast<int>(phase)].fetch_add(
      std::chrono::duration_cast<std::chrono::nanoseconds>(time).count(),
      std::memory_order_relaxed);
}

std::array<double, kPhaseCount> Take() {
  std::array<double, kPhaseCount> seconds{};
  for (int i = 0; i < kPhaseCount; ++i) {
    seconds[i] = static_cast<double>(nanoseconds[i].exchange(0, std::memory_order_relaxed)) * 1e-9;
  }
  return seconds;
}

}  // namespace phase_profile

}  // namespace ri
