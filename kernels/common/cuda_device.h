// GPU detection that never throws: any CUDA error (no driver: error 35, no device, a build
// without CUDA) counts as "no GPU". Tests GTEST_SKIP when this returns 0.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qmoe::kernels {

// Number of usable CUDA devices; 0 on any error or when built without CUDA.
int CudaDeviceCount();

// Free and total bytes of each listed GPU (cudaMemGetInfo), for placement budgets. Throws
// qmoe::Error naming the GPU and the CUDA error; built without CUDA, throws that it was.
struct CudaMemory {
  int64_t free = 0, total = 0;
};
std::vector<CudaMemory> CudaMemoryOf(const std::vector<int>& ordinals);

// "cuda:<product name>" of a GPU (for kernel_timings.device); "cuda:?" when it cannot be read.
std::string CudaDeviceName(int ordinal);

}  // namespace qmoe::kernels
