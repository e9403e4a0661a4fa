// CUDA forms of the dict matvec (dict_matvec.cu; built only with QMOE_HAVE_CUDA). Plain C++
// header: every pointer is a DEVICE pointer, streams are passed as void* (cudaStream_t).
// The matrix must have been validated on the host (dict::Validate) before upload.
#pragma once
#include <cstdint>

#include "kernels/common/bf16.h"
#include "kernels/dict_matvec/dict_matvec.h"

namespace qmoe::kernels {

// y[k][h] = x[k][w] W^T on the GPU, 1 <= k <= kDictMaxBatch; each codeword is decoded once for
// all k tokens. One warp per row; x staged in shared memory when it fits (else read from global).
void DictMatvecCuda(const DictView& m_dev, const uint32_t* dec_dev, const Bf16* x_dev, int64_t k,
                    Bf16* y_dev, void* stream = nullptr);
void DictMatvecCuda(const DictView& m_dev, const uint32_t* dec_dev, const Bf16* x_dev, int64_t k,
                    float* y_dev, void* stream = nullptr);

// Baseline for benchmarks: dense bf16 y[k][h] = x[k][w] W[h][w]^T via cublasGemmEx (fp32 compute).
class CublasBf16Gemv {
 public:
  CublasBf16Gemv();
  ~CublasBf16Gemv();
  CublasBf16Gemv(const CublasBf16Gemv&) = delete;
  CublasBf16Gemv& operator=(const CublasBf16Gemv&) = delete;
  void Run(const Bf16* w_dev, int64_t h, int64_t w, const Bf16* x_dev, int64_t k, Bf16* y_dev);

 private:
  void* handle_ = nullptr;  // cublasHandle_t
};

// cudaDeviceSynchronize, CUDA_CHECKed (for benchmarks and tests without CUDA headers).
void CudaSynchronize();

}  // namespace qmoe::kernels
