#include "util/phase_profile.h"

#include <gtest/gtest.h>

#include <thread>

namespace ri {
namespace {

using std::chrono::milliseconds;

TEST(PhaseProfileTest, ClockChargesEachStretchToItsPhase) {
  phase_profile::Enable(true);
  {
    PhaseClock clock;
    clock.Start(Phase::kNorms);
    std::this_thread::sleep_for(milliseconds(20));
    clock.Start(Phase::kSwiGlu);
    std::this_thread::sleep_for(milliseconds(10));
    clock.Stop();
    std::this_thread::sleep_for(milliseconds(10));  // after Stop: no phase
    clock.Start(Phase::kNorms);
    std::this_thread::sleep_for(milliseconds(10));
  }  // the destructor ends the last phase
  const auto seconds = phase_profile::Take();
  phase_profile::Enable(false);
  EXPECT_GE(seconds[static_cast<int>(Phase::kNorms)], 0.030);
  EXPECT_LT(seconds[static_cast<int>(Phase::kNorms)], 0.040 + 0.5);  // generous: a busy machine
  EXPECT_GE(seconds[static_cast<int>(Phase::kSwiGlu)], 0.010);
  for (int i = 0; i < kPhaseCount; ++i) {
    if (i != static_cast<int>(Phase::kNorms) && i != static_cast<int>(Phase::kSwiGlu)) {
      EXPECT_EQ(seconds[i], 0.0) << PhaseName(static_cast<Phase>(i));
    }
  }
  EXPECT_EQ(phase_profile::Take()[static_cast<int>(Phase::kNorms)], 0.0);  // Take resets
}

TEST(PhaseProfileTest, NothingIsChargedWhenDisabled) {
  phase_profile::Enable(false);
  {
    PhaseClock clock;
    clock.Start(Phase::kLogits);
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(phase_profile::Take()[static_cast<int>(Phase::kLogits)], 0.0);
}

}  // namespace
}  // namespace ri
