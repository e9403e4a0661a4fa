// GPU detection that never throws: any CUDA error (no driver: error 35, no device, a build
// without CUDA) counts as "no GPU". Tests GTEST_SKIP when this returns 0.
#pragma once

namespace qmoe::kernels {

// Number of usable CUDA devices; 0 on any error or when built without CUDA.
int CudaDeviceCount();

}  // namespace qmoe::kernels
