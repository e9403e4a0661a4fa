#include "kernels/common/cuda_device.h"

#include "framework/core/error.h"

#if QMOE_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace qmoe::kernels {

int CudaDeviceCount() {
#if QMOE_HAVE_CUDA
  int n = 0;  // cudaGetDeviceCount leaves n unset on error (e.g. 35, insufficient driver)
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky error so later calls are not confused
    return 0;
  }
  return n > 0 ? n : 0;
#else
  return 0;
#endif
}

std::vector<CudaMemory> CudaMemoryOf(const std::vector<int>& ordinals) {
  std::vector<CudaMemory> out;
#if QMOE_HAVE_CUDA
  int current = 0;
  const bool restore = cudaGetDevice(&current) == cudaSuccess;
  for (int o : ordinals) {
    size_t free = 0, total = 0;
    cudaError_t err = cudaSetDevice(o);
    if (err == cudaSuccess) err = cudaMemGetInfo(&free, &total);
    QMOE_CHECK(err == cudaSuccess, "GPU ", o, ": cudaMemGetInfo failed with CUDA error ", int(err), " (",
               cudaGetErrorString(err), ")");
    out.push_back(CudaMemory{int64_t(free), int64_t(total)});
  }
  if (restore) (void)cudaSetDevice(current);
#else
  QMOE_CHECK(ordinals.empty(), "GPU memory of ", ordinals.size(), " GPUs asked, but this qmoe was built without the "
             "CUDA toolkit");
#endif
  return out;
}

std::string CudaDeviceName(int ordinal) {
#if QMOE_HAVE_CUDA
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, ordinal) == cudaSuccess) return std::string("cuda:") + prop.name;
  (void)cudaGetLastError();
#else
  (void)ordinal;
#endif
  return "cuda:?";
}

}  // namespace qmoe::kernels
