// CUDA forms of the dict matvec (dict_matvec.cu; built only with QMOE_HAVE_CUDA). Plain C++
// header: every pointer is a DEVICE pointer, streams are passed as void* (cudaStream_t).
// The matrix must have been validated on the host (dict::Validate) before upload.
//
// Launch geometry comes from PlanDictLaunch (launch_plan.h, tested on the CPU) with the device's
// limits and each kernel's attributes queried ONCE per device and cached: a launch makes no host
// query beyond cudaGetDevice (none with the explicit-device overloads).
#pragma once
#include <cstdint>

#include "kernels/common/bf16.h"
#include "kernels/dict_matvec/dict_matvec.h"
#include "kernels/dict_matvec/launch_plan.h"

namespace qmoe::kernels {

// y[k][h] = x[k][w] W^T on the GPU, 1 <= k <= kDictMaxBatch; each codeword is decoded once for
// all k tokens. One warp per row; x staged in shared memory when it fits (else read from global).
void DictMatvecCuda(const DictView& m_dev, const uint32_t* dec_dev, const Bf16* x_dev, int64_t k,
                    Bf16* y_dev, void* stream = nullptr);
void DictMatvecCuda(const DictView& m_dev, const uint32_t* dec_dev, const Bf16* x_dev, int64_t k,
                    float* y_dev, void* stream = nullptr);
// The same on `device`, which must be the calling thread's current device (no cudaGetDevice).
void DictMatvecCudaOn(int device, const DictView& m_dev, const uint32_t* dec_dev, const Bf16* x_dev,
                      int64_t k, Bf16* y_dev, void* stream = nullptr);

// Dense decode on the GPU: out[h][w] bf16 (exact: levels are bf16). The GEMM route's first half.
void DictDecompressCuda(const DictView& m_dev, const uint32_t* dec_dev, Bf16* out_dev, void* stream = nullptr);

// Baseline for benchmarks and the GEMM route: dense bf16 y[k][h] = x[k][w] W[h][w]^T via
// cublasGemmEx (fp32 compute). One handle per object; use it from one thread.
class CublasBf16Gemv {
 public:
  CublasBf16Gemv();
  ~CublasBf16Gemv();
  CublasBf16Gemv(const CublasBf16Gemv&) = delete;
  CublasBf16Gemv& operator=(const CublasBf16Gemv&) = delete;
  void Run(const Bf16* w_dev, int64_t h, int64_t w, const Bf16* x_dev, int64_t k, Bf16* y_dev);
  void SetStream(void* stream);  // cudaStream_t; nullptr = the legacy default stream

 private:
  void* handle_ = nullptr;  // cublasHandle_t
};

// Any k >= 1 by route (ChooseDictRoute): fused launches of <= 16 tokens for k <= gemm_threshold,
// else DictDecompressCuda into scratch_dev ([h][w] bf16, caller-owned) and one cuBLAS GEMM.
void DictMatmulCuda(int device, const DictView& m_dev, const uint32_t* dec_dev, const Bf16* x_dev, int64_t k,
                    Bf16* y_dev, Bf16* scratch_dev, CublasBf16Gemv& blas, int64_t gemm_threshold,
                    void* stream = nullptr);

// The device's limits (cached after the first call per device) and the plan a launch of k
// tokens would use there: for tests on a GPU and for logs.
CudaDeviceLimits CudaLimits(int device);
DictLaunchPlan DictLaunchPlanOn(int device, const DictView& m, int64_t k);

// cudaDeviceSynchronize, CUDA_CHECKed (for benchmarks and tests without CUDA headers).
void CudaSynchronize();

}  // namespace qmoe::kernels
