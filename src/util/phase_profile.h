// Wall time per phase of the forward pass, summed over calls, for
// `retroinfer bench --profile`: where a prompt's or a decode step's time
// goes. Off by default; a phase then costs one relaxed atomic load.
#pragma once

#include <array>
#include <chrono>
#include <string_view>

namespace ri {

enum class Phase : int {
  kNorms,
  kQkvProjection,
  kQkNormAndRope,
  kAttention,  // the policy's whole call, which the next four are part of
  kKvWrite,
  kSelection,
  kAttentionTiles,
  kSliceMerge,
  kOutputProjection,
  kGateUpProjection,
  kSwiGlu,
  kDownProjection,
  kResidualAdds,
  kLogits,
  kCount
};
inline constexpr int kPhaseCount = static_cast<int>(Phase::kCount);

// Short description of a phase, for tables.
std::string_view PhaseName(Phase phase);
// Whether the phase is part of Phase::kAttention's time.
bool IsPartOfAttention(Phase phase);

namespace phase_profile {

void Enable(bool on);
bool Enabled();
void Add(Phase phase, std::chrono::steady_clock::duration time);
// Seconds per phase since the last call (or Enable), and starts again at zero.
std::array<double, kPhaseCount> Take();

}  // namespace phase_profile

// Times the consecutive phases of a function: Start(phase) ends the phase
// running (if any) and starts `phase`; Stop or the destructor ends it.
class PhaseClock {
 public:
  PhaseClock() : on_(phase_profile::Enabled()) {}
  ~PhaseClock() { Stop(); }
  PhaseClock(const PhaseClock&) = delete;
  PhaseClock& operator=(const PhaseClock&) = delete;

  void Start(Phase phase) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (running_) phase_profile::Add(phase_, now - start_);
    phase_ = phase;
    start_ = now;
    running_ = true;
  }
  void Stop() {
    if (!running_) return;
    phase_profile::Add(phase_, std::chrono::steady_clock::now() - start_);
    running_ = false;
  }

 private:
  bool on_;
  bool running_ = false;
  Phase phase_ = Phase::kNorms;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ri
