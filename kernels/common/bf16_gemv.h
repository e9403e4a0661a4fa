// Our own dense bf16 GEMV, the memory-bound baseline the compressed kernels must beat:
// y[k][h] = x[k][cols] W[h][cols]^T with W in bf16 (2 bytes/weight), x and y fp32, fp32
// accumulation. AVX-512 and AVX2 paths read W exactly once per call (all k tokens per pass),
// several rows at a time, x in L1-sized column panels; rows are split into `threads` contiguous
// ranges run on the worker pool (worker_pool.h). Any h, cols >= 1, k >= 1 (k > 8 is done in
// groups of at most 8 tokens, one pass over W each).
#pragma once
#include <cstdint>

#include "kernels/common/bf16.h"
#include "kernels/common/cpu_features.h"

namespace qmoe::kernels {

// `isa` picks the path (default: the best this CPU allows, capped by QMOE_CPU_ISA); a path the CPU
// lacks is a qmoe::Error. kScalar is a plain fp32 loop (still row-parallel).
void Bf16Gemv(const Bf16* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y, int threads = 1,
              CpuIsa isa = BestCpuIsa());
// The plain-loop twin (fp64 accumulation, one thread) for the tests.
void Bf16GemvRef(const Bf16* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y);

}  // namespace qmoe::kernels
