// `qmoe run experiment=kernels device=cuda`: the CUDA fused dict kernel against dense bf16 cuBLAS
// (cublasGemmEx, fp32 accumulate: what a user would run instead) at the experiment's shapes
// (the paper's six expert shapes by default) and batches (1..16 tokens), each operand cycled over
// copies past 1.5x the GPU's L2 so every call reads its weights from HBM; on the first shape
// also the fused chunks against decompress + cuBLAS GEMM above 16 tokens, which places the GEMM
// route's threshold (metric cuda_gemm_threshold_tokens: the largest measured token count up to
// which the fused kernel won every measurement, in the order listed; 0 when the GEMM won first).
// kernel_timings rows: sub1_matvec_cuda (baseline dense_bf16_cublas), dense_bf16_cublas,
// sub1_decompress_gemm_cuda (baseline sub1_matvec_cuda_chunked16), sub1_matvec_cuda_chunked16.
#pragma once
#include "experiments/runtime/kernels_experiment.h"
#include "framework/device/device.h"

namespace qmoe {

void RunKernelsOnGpu(RunContext& ctx, const KernelsExperiment::Params& p, const DeviceSpec& device);

}  // namespace qmoe
