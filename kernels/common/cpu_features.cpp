#include "kernels/common/cpu_features.h"

#include <cstdlib>
#include <fstream>
#include <string_view>

#include "framework/core/error.h"

namespace qmoe::kernels {

bool CpuSupports(CpuIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c");
  switch (isa) {
    case CpuIsa::kScalar: return true;
    case CpuIsa::kAvx2: return avx2;
    case CpuIsa::kAvx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }
  return false;
#else
  return isa == CpuIsa::kScalar;
#endif
}

const char* CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar: return "scalar";
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
  }
  return "?";
}

std::string CpuModelName() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0)
      if (auto p = line.find(':'); p != std::string::npos) {
        const auto b = line.find_first_not_of(" \t", p + 1);
        return b == std::string::npos ? "unknown CPU" : line.substr(b);
      }
  return "unknown CPU";
}

std::string CpuIsaCap() {
  const char* env = std::getenv("QMOE_CPU_ISA");
  return env ? env : "";
}

namespace {
CpuIsa Detect() {
  CpuIsa best = CpuIsa::kScalar;
  if (CpuSupports(CpuIsa::kAvx2)) best = CpuIsa::kAvx2;
  if (CpuSupports(CpuIsa::kAvx512)) best = CpuIsa::kAvx512;
  if (const char* env = std::getenv("QMOE_CPU_ISA"); env && *env) {
    const std::string_view v(env);
    CpuIsa cap;
    if (v == "scalar") cap = CpuIsa::kScalar;
    else if (v == "avx2") cap = CpuIsa::kAvx2;
    else if (v == "avx512") cap = CpuIsa::kAvx512;
    else QMOE_CHECK(false, "QMOE_CPU_ISA='", v, "' is not one of scalar, avx2, avx512");
    if (cap < best) best = cap;
  }
  return best;
}
}  // namespace

CpuIsa BestCpuIsa() {
  static const CpuIsa best = Detect();
  return best;
}

}  // namespace qmoe::kernels
