// Run-time choice of the SIMD code path. Kernels are compiled for every level
// and the best one the CPU supports is used unless a test forces a lower one.
//
// The environment variable RETROINFER_SIMD=scalar|avx2|avx512 caps the level
// for the whole process (read once, at the first ActiveSimdLevel call; any
// other value makes that call throw ri::Error). RETROINFER_AMX=off keeps the
// integer kernels off AMX tiles (to compare; the results are the same).
#pragma once

#include <string>
#include <string_view>

namespace ri {

enum class SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// What the CPU and OS support (register state enabled in XCR0).
struct CpuFeatures {
  bool avx2 = false;  // AVX2 together with FMA and F16C
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;  // the integer (Q8 activation) kernel's AVX-512 path
  bool avx512vbmi = false;
  bool avx512bf16 = false;
  // AMX tiles with int8 dot products, and the OS lets this process use them
  // (Linux asks each process to request the tile state; QueryCpu does).
  bool amx_int8 = false;
  // AMX tiles with BF16 products and AVX-512 BF16 conversions (the prompt
  // attention's BF16 kernel), with the same permission.
  bool amx_bf16 = false;
};
const CpuFeatures& GetCpuFeatures();

// The best level this CPU supports (AVX2 means AVX2+FMA+F16C; AVX-512 means
// that plus AVX-512 F/BW/VL/DQ).
SimdLevel DetectSimdLevel();
// The level kernels use now: the detected one, capped by RETROINFER_SIMD,
// unless forced.
SimdLevel ActiveSimdLevel();
// Forces a level (clamped to what the CPU supports); returns the previous one.
SimdLevel ForceSimdLevel(SimdLevel level);
std::string_view SimdLevelName(SimdLevel level);

// Whether the integer matmul kernels use AMX tiles for groups of activation
// rows: the CPU and OS allow it, the active level is AVX-512 (with VNNI),
// and neither RETROINFER_AMX=off nor ForceAmx(false) turned it off.
bool AmxActive();
// Turns AMX use on (where the CPU allows) or off; returns the previous choice.
bool ForceAmx(bool enabled);

// The kernels in use, for reports: the active level, plus "+vnni" and "+amx"
// where the integer kernels use them (e.g. "avx512+vnni+amx").
std::string ActiveKernelsName();

}  // namespace ri
