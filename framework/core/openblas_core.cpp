#include "framework/core/openblas_core.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <map>

namespace qmoe {
namespace {

// OpenBLAS core names (as openblas_get_corename spells them, lower-cased) ranked by the widest
// vector ISA their kernels use: 0 = SSE, 3 = AVX2 + FMA, 4 = AVX-512. Unranked names are left alone.
int CoreRank(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::map<std::string, int> rank = {
      {"prescott", 0},  {"core2", 0},      {"penryn", 0},     {"dunnington", 0}, {"nehalem", 1},
      {"atom", 0},      {"sandybridge", 2}, {"haswell", 3},   {"zen", 3},        {"skylakex", 4},
      {"cooperlake", 4}, {"sapphirerapids", 4}};
  auto it = rank.find(name);
  return it == rank.end() ? -1 : it->second;
}

}  // namespace

CpuVectorFeatures DetectCpuVectorFeatures() {
  CpuVectorFeatures f;
#if defined(__x86_64__)
  __builtin_cpu_init();
  f.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = f.avx2_fma && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512cd");
#endif
  // QMOE_CPU_ISA caps qmoe's kernels to emulate a smaller CPU (kernels/common/cpu_features.h);
  // OpenBLAS, the baseline they are timed against, is capped the same way.
  if (const char* cap = std::getenv("QMOE_CPU_ISA"); cap != nullptr) {
    const std::string c(cap);
    if (c == "avx2") f.avx512 = false;
    if (c == "scalar") f.avx512 = f.avx2_fma = false;
  }
  return f;
}

std::string OpenBlasCoreName() {
  using CoreNameFn = char* (*)();
  auto fn = reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (fn == nullptr) return "";
  const char* name = fn();
  return name ? std::string(name) : std::string();
}

std::string BetterOpenBlasCore(const std::string& current_core, const CpuVectorFeatures& cpu,
                               const char* env_coretype, const char* env_auto) {
  if (env_coretype != nullptr) return "";                             // the user's or the machine's choice
  if (env_auto != nullptr && std::string(env_auto) == "0") return "";  // turned off
  const int current = CoreRank(current_core);
  if (current < 0) return "";
  if (cpu.avx512 && current < 4) return "SKYLAKEX";
  if (cpu.avx2_fma && current < 3) return "HASWELL";
  // Kernels wider than the CPU (as capped by QMOE_CPU_ISA) allows: step down to what it allows.
  if (!cpu.avx512 && cpu.avx2_fma && current > 3) return "HASWELL";
  if (!cpu.avx2_fma && current > 2) return "PRESCOTT";
  return "";
}

void MaybeReexecForOpenBlas(char** argv) {
  const std::string current = OpenBlasCoreName();
  const std::string better = BetterOpenBlasCore(current, DetectCpuVectorFeatures(), std::getenv("OPENBLAS_CORETYPE"),
                                                std::getenv("QMOE_OPENBLAS_AUTO"));
  if (better.empty()) return;
  std::cerr << "qmoe: OpenBLAS chose its " << current << " kernels on a CPU with "
            << (better == "SKYLAKEX" ? "AVX-512" : "AVX2") << "; running with OPENBLAS_CORETYPE=" << better
            << " (QMOE_OPENBLAS_AUTO=0 keeps OpenBLAS's choice)\n";
  setenv("OPENBLAS_CORETYPE", better.c_str(), 1);  // also stops a second re-exec
  execv("/proc/self/exe", argv);
  std::cerr << "qmoe: re-exec failed; continuing with the " << current << " kernels\n";
  unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace qmoe
