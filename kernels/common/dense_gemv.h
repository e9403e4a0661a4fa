// Dense small-batch GEMV baselines for kernel benchmarks: y[k][h] = x[k][w] W[h][w]^T with fp32
// accumulation, W in fp32 or bf16, x fp32. AVX-512 when available (one pass over W per call: each
// 32-column chunk of a row is loaded once and FMA'd into all k tokens), else plain loops.
// Single-threaded, like the kernels they are compared with. k <= kDenseGemvMaxBatch.
#pragma once
#include <cstdint>

#include "kernels/common/bf16.h"

namespace qmoe::kernels {

constexpr int64_t kDenseGemvMaxBatch = 8;

void DenseGemvF32(const float* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y);
void DenseGemvBf16(const Bf16* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y);
// Plain-loop twins (fp64 accumulation) for the test.
void DenseGemvF32Ref(const float* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y);
void DenseGemvBf16Ref(const Bf16* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y);

}  // namespace qmoe::kernels
