#include "kernels/common/cuda_device.h"

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

}  // namespace qmoe::kernels
