// Running kernel tests at every SIMD level this CPU supports
// (ForceSimdLevel): the levels, a scoped guard and a parameterized fixture.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"

namespace ri {

inline std::vector<SimdLevel> SupportedLevels() {
  std::vector<SimdLevel> levels = {SimdLevel::kScalar};
  if (DetectSimdLevel() >= SimdLevel::kAvx2) levels.push_back(SimdLevel::kAvx2);
  if (DetectSimdLevel() >= SimdLevel::kAvx512) levels.push_back(SimdLevel::kAvx512);
  return levels;
}

// Forces a level for its scope.
class SimdLevelGuard {
 public:
  explicit SimdLevelGuard(SimdLevel level) : previous_(ForceSimdLevel(level)) {}
  ~SimdLevelGuard() { ForceSimdLevel(previous_); }
  SimdLevelGuard(const SimdLevelGuard&) = delete;
  SimdLevelGuard& operator=(const SimdLevelGuard&) = delete;

 private:
  SimdLevel previous_;
};

// Likewise for AMX use (ForceAmx), restored when the scope ends.
class AmxGuard {
 public:
  explicit AmxGuard(bool enabled) : previous_(ForceAmx(enabled)) {}
  ~AmxGuard() { ForceAmx(previous_); }
  AmxGuard(const AmxGuard&) = delete;
  AmxGuard& operator=(const AmxGuard&) = delete;

 private:
  bool previous_;
};

// Each test runs at the level it is instantiated with.
class EverySimdLevelTest : public ::testing::TestWithParam<SimdLevel> {
 protected:
  SimdLevelGuard level_guard_{GetParam()};
  std::mt19937 rng_{12};
  std::normal_distribution<float> normal_{0.0f, 1.0f};
};

// Instantiates a fixture derived from EverySimdLevelTest, tests named by level.
#define RI_INSTANTIATE_FOR_EVERY_SIMD_LEVEL(Fixture)               \
  INSTANTIATE_TEST_SUITE_P(                                        \
      EveryLevel, Fixture, ::testing::ValuesIn(SupportedLevels()), \
      [](const auto& info) { return std::string(SimdLevelName(info.param)); })

}  // namespace ri
