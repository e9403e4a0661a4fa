// OpenBLAS fp32 GEMV/GEMM as a kernel baseline, resolved at run time from the OpenBLAS LibTorch
// loads (Debian: libopenblas0-pthread; libtorch_cpu needs libblas.so.3, a thin front of
// libopenblas.so.0). In a process that already has OpenBLAS (the qmoe CLI) that very library is
// used; otherwise libopenblas.so.0 is opened. No OpenBLAS on the machine: Get() is nullptr and
// the baseline is reported as missing, never replaced by something slower.
#pragma once
#include <cstdint>
#include <string>

namespace qmoe::kernels {

class OpenBlas {
 public:
  // The process-wide instance, or nullptr when no OpenBLAS can be found.
  static const OpenBlas* Get();

  const std::string& path() const { return path_; }  // the shared object it was resolved from
  // The kernels OpenBLAS chose (openblas_get_corename, e.g. "SkylakeX", "Haswell", "Zen").
  std::string CoreName() const;
  // openblas_set_num_threads: set before every measurement (it is process-wide state).
  void SetThreads(int n) const;
  int Threads() const;
  // y[k][h] = x[k][cols] W[h][cols]^T, all fp32 row-major: cblas_sgemv for k = 1, cblas_sgemm
  // (X W^T) for k > 1, with OpenBLAS's current thread count.
  void Gemm(const float* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y) const;
  // The name a timing row uses: "openblas_sgemv" (k = 1) or "openblas_sgemm" (k > 1).
  static const char* KernelName(int64_t k) { return k == 1 ? "openblas_sgemv" : "openblas_sgemm"; }

  // The OPENBLAS_CORETYPE a benchmark should run with, as the qmoe CLI chooses it
  // (framework/core/openblas_core.h, QMOE_CPU_ISA honoured), or "" to leave OpenBLAS alone.
  std::string BetterCore() const;

 private:
  OpenBlas() = default;
  std::string path_;
  using SgemvFn = void (*)(int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
  using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*,
                           int);
  SgemvFn sgemv_ = nullptr;
  SgemmFn sgemm_ = nullptr;
  void (*set_threads_)(int) = nullptr;
  int (*get_threads_)() = nullptr;
  char* (*corename_)() = nullptr;
};

// In a benchmark's main(), before any work: when OpenBlas::BetterCore() names a core, sets
// OPENBLAS_CORETYPE and re-executes the process once (OpenBLAS reads it only when it loads), as
// the qmoe CLI does. Returns when nothing changes.
void MaybeReexecForBetterOpenBlasCore(char** argv);

}  // namespace qmoe::kernels
