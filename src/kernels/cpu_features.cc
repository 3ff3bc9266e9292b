#include "kernels/cpu_features.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string_view>

#include "util/error.h"

namespace ri {

namespace {

// XCR0 bits the OS must enable for the register state of each level.
constexpr uint64_t kXcr0Avx = 0x6;      // SSE + AVX (ymm) state
constexpr uint64_t kXcr0Avx512 = 0xE6;  // plus opmask, zmm0-15 upper, zmm16-31
constexpr uint64_t kXcr0Amx = 0x60000;  // tile configuration and tile data

// Linux's arch_prctl request for an extended state component, and AMX tile
// data's component number.
constexpr int kArchRequestXcompPermission = 0x1023;
constexpr int kXfeatureTileData = 18;

bool RequestAmxPermission() {
  return syscall(SYS_arch_prctl, kArchRequestXcompPermission, kXfeatureTileData) == 0;
}

uint64_t ReadXcr0() {
  uint32_t eax, edx;
  __asm__("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

CpuFeatures QueryCpu() {
  CpuFeatures f;
  uint32_t eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = ecx & bit_OSXSAVE;
  const bool fma = ecx & bit_FMA;
  const bool f16c = ecx & bit_F16C;
  const bool avx = ecx & bit_AVX;
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = ReadXcr0();
  if ((xcr0 & kXcr0Avx) != kXcr0Avx) return f;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  f.avx2 = (ebx & bit_AVX2) && fma && f16c;
  f.fma = fma;
  f.f16c = f16c;
  if ((xcr0 & kXcr0Avx512) == kXcr0Avx512) {
    f.avx512f = ebx & bit_AVX512F;
    f.avx512bw = ebx & bit_AVX512BW;
    f.avx512vl = ebx & bit_AVX512VL;
    f.avx512dq = ebx & bit_AVX512DQ;
    f.avx512vnni = ecx & bit_AVX512VNNI;
    f.avx512vbmi = ecx & bit_AVX512VBMI;
    uint32_t eax1, ebx1, ecx1, edx1;
    __cpuid_count(7, 1, eax1, ebx1, ecx1, edx1);
    f.avx512bf16 = eax1 & bit_AVX512BF16;
    const bool tiles =
        (edx & bit_AMX_TILE) && (xcr0 & kXcr0Amx) == kXcr0Amx && RequestAmxPermission();
    f.amx_int8 = tiles && (edx & bit_AMX_INT8) && f.avx512vnni;
    f.amx_bf16 = tiles && (edx & bit_AMX_BF16) && f.avx512bf16;
  }
  return f;
}

SimdLevel LevelOf(const CpuFeatures& f) {
  if (f.avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) return SimdLevel::kAvx512;
  if (f.avx2) return SimdLevel::kAvx2;
  return SimdLevel::kScalar;
}

SimdLevel ParseLevel(std::string_view name) {
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (name == SimdLevelName(level)) return level;
  }
  Fail("RETROINFER_SIMD='{}' is not one of scalar, avx2, avx512", name);
}

// The detected level capped by RETROINFER_SIMD; decided once per process.
SimdLevel InitialLevel() {
  const SimdLevel detected = DetectSimdLevel();
  const char* cap = std::getenv("RETROINFER_SIMD");
  if (cap == nullptr || *cap == '\0') return detected;
  return std::min(detected, ParseLevel(cap));
}

std::atomic<bool>& AmxEnabled() {
  static std::atomic<bool> enabled{[] {
    const char* setting = std::getenv("RETROINFER_AMX");
    return setting == nullptr || std::string_view(setting) != "off";
  }()};
  return enabled;
}

std::atomic<SimdLevel>& ActiveLevel() {
  static std::atomic<SimdLevel> level{InitialLevel()};
  return level;
}

}  // namespace

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = QueryCpu();
  return features;
}

SimdLevel DetectSimdLevel() { return LevelOf(GetCpuFeatures()); }

SimdLevel ActiveSimdLevel() { return ActiveLevel().load(std::memory_order_relaxed); }

SimdLevel ForceSimdLevel(SimdLevel level) {
  return ActiveLevel().exchange(std::min(level, DetectSimdLevel()));
}

bool AmxActive() {
  return GetCpuFeatures().amx_int8 && ActiveSimdLevel() == SimdLevel::kAvx512 &&
         AmxEnabled().load(std::memory_order_relaxed);
}

bool ForceAmx(bool enabled) { return AmxEnabled().exchange(enabled); }

std::string ActiveKernelsName() {
  std::string name(SimdLevelName(ActiveSimdLevel()));
  if (ActiveSimdLevel() == SimdLevel::kAvx512 && GetCpuFeatures().avx512vnni) name += "+vnni";
  if (AmxActive()) name += "+amx";
  return name;
}

std::string_view SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kAvx2:
      return "avx2";
    case SimdLevel::kAvx512:
      return "avx512";
  }
  return "unknown";
}

}  // namespace ri
