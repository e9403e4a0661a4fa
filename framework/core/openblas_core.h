// OpenBLAS chooses its kernels once, when it loads, from the CPU's family and model. A CPU newer
// than the OpenBLAS build (Debian 12 ships 0.3.21; e.g. Emerald Rapids, family 6 model 207, as
// virtual machines here report it) falls back to the Prescott (SSE3) kernels: a 4096² fp32
// matmul then runs at 61 GFLOP/s instead of 284 with the SkylakeX kernels (measured here), and
// GPTQ, the pipeline, evaluation and training all slow down by as much.
//
// The qmoe CLI asks OpenBLAS which kernels it chose and, when the CPU supports better ones and
// nobody set OPENBLAS_CORETYPE, sets it and re-executes itself once (OpenBLAS reads the variable
// only at load time). QMOE_OPENBLAS_AUTO=0 keeps OpenBLAS's own choice; the test suite sets it,
// so tests and CI run OpenBLAS exactly as the machine configures it.
#pragma once
#include <string>

namespace qmoe {

struct CpuVectorFeatures {
  bool avx2_fma = false;  // AVX2 and FMA: OpenBLAS's Haswell kernels
  bool avx512 = false;    // AVX-512 F, BW, VL, DQ and CD: its SkylakeX kernels
};
// What the CPU supports, capped by QMOE_CPU_ISA=avx2|scalar (the cap of qmoe's own kernels).
CpuVectorFeatures DetectCpuVectorFeatures();

// The kernels OpenBLAS chose (openblas_get_corename), or "" when the process has no OpenBLAS.
std::string OpenBlasCoreName();

// The OPENBLAS_CORETYPE value to run with ("SKYLAKEX" or "HASWELL"; "HASWELL" or "PRESCOTT" when
// the chosen kernels are wider than `cpu` allows, e.g. under QMOE_CPU_ISA=avx2), or "" to leave
// OpenBLAS alone: when either variable is set (env_coretype, env_auto as getenv returns them;
// env_auto "0" turns this off), when the core name is not one we rank, or when the chosen core
// already matches what the CPU allows.
std::string BetterOpenBlasCore(const std::string& current_core, const CpuVectorFeatures& cpu,
                               const char* env_coretype, const char* env_auto);

// In main(), before any work: re-executes the process with OPENBLAS_CORETYPE set when
// BetterOpenBlasCore says so (one line on stderr says why). Returns only if nothing changes or
// the re-exec failed.
void MaybeReexecForOpenBlas(char** argv);

}  // namespace qmoe
