// CUDA_CHECK / CUBLAS_CHECK / CUDA_CHECK_LAUNCH: every CUDA runtime and cuBLAS call goes through
// these. A failure throws qmoe::Error naming the call, the error and file:line. Include only from
// CUDA-enabled translation units (.cu files or .cpp files built with QMOE_HAVE_CUDA).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "framework/core/error.h"

#define CUDA_CHECK(call)                                                                    \
  do {                                                                                      \
    const cudaError_t qmoe_err_ = (call);                                                   \
    if (qmoe_err_ != cudaSuccess)                                                           \
      throw ::qmoe::Error(::qmoe::StrCat("CUDA error ", int(qmoe_err_), " (",               \
                                         cudaGetErrorString(qmoe_err_), ") in ", #call,     \
                                         " at ", __FILE__, ":", __LINE__));                 \
  } while (0)

#define CUBLAS_CHECK(call)                                                                  \
  do {                                                                                      \
    const cublasStatus_t qmoe_st_ = (call);                                                 \
    if (qmoe_st_ != CUBLAS_STATUS_SUCCESS)                                                  \
      throw ::qmoe::Error(::qmoe::StrCat("cuBLAS error ", int(qmoe_st_), " (",              \
                                         cublasGetStatusString(qmoe_st_), ") in ", #call,   \
                                         " at ", __FILE__, ":", __LINE__));                 \
  } while (0)

// After a <<<...>>> launch: reports bad launch configurations immediately.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
