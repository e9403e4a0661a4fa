// Host-side launch planning for the CUDA dict kernels (dict_matvec.cu), as pure functions of a
// device's limits and the matrix shape, so every branch is tested on a machine without a GPU
// (launch_plan_test). The .cu launcher queries CudaDeviceLimits ONCE per device (cached), then
// plans from it: no host query at launch time.
//
// The fused kernel runs blocks of kDictWarps warps, one warp per row, striding over rows by
// grid*kDictWarps (grid-stride) when the grid is smaller than rows/kDictWarps. Its dynamic shared
// memory holds the per-warp codeword tiles and, when it fits under the device's opt-in limit, the
// k token rows of x as fp32 (else x is read from global memory: the fallback).
#pragma once
#include <cstdint>
#include <string>

namespace qmoe::kernels {

constexpr int kDictWarps = 8;             // warps per block of the fused kernel
constexpr int kDictThreads = kDictWarps * 32;
constexpr int64_t kDictXPad = 32;         // zero floats after each x row: windows read up to col+27
// Per-warp staging tile: 32 decode entries (uint2, 8 bytes) + 32 start columns (int, 4 bytes).
constexpr int64_t kDictTileBytes = int64_t{kDictThreads} * (8 + 4);

// What the planner needs of one device (cudaDeviceGetAttribute, queried once per device).
struct CudaDeviceLimits {
  int sms = 0;                     // cudaDevAttrMultiProcessorCount
  int64_t smem_optin = 0;          // cudaDevAttrMaxSharedMemoryPerBlockOptin (bytes)
  int64_t smem_per_sm = 0;         // cudaDevAttrMaxSharedMemoryPerMultiprocessor (bytes)
  int64_t reserved_smem = 1024;    // cudaDevAttrReservedSharedMemoryPerBlock (bytes, 1 KiB on sm_80+)
  int max_threads_per_sm = 0;      // cudaDevAttrMaxThreadsPerMultiProcessor
  int max_blocks_per_sm = 0;       // cudaDevAttrMaxBlocksPerMultiprocessor
  int regs_per_sm = 0;             // cudaDevAttrMaxRegistersPerMultiprocessor
  int64_t max_grid_x = 0;          // cudaDevAttrMaxGridDimX
  int64_t l2_bytes = 0;            // cudaDevAttrL2CacheSize (benchmarks size their rings past it)
};

// Known devices for tests and docs (values from NVIDIA's published compute-capability tables).
CudaDeviceLimits A100Limits();  // sm_80, 108 SMs
CudaDeviceLimits H100Limits();  // sm_90, 132 SMs (SXM)

// Floats per token row of x in shared memory: cols + pad, rounded up to 4 so the 8-byte tiles
// after the k rows stay aligned. In int64: cols may be anything up to INT32_MAX.
inline int64_t DictXsStride(int64_t cols) { return (cols + kDictXPad + 3) & ~int64_t{3}; }

struct DictLaunchPlan {
  int64_t grid = 0;        // blocks (<= max_grid_x, <= what the SMs hold at once)
  int block = kDictThreads;
  int64_t smem_bytes = 0;  // dynamic shared memory per block
  bool shared_x = false;   // x staged in shared memory (false: the global-memory fallback)
  bool grid_stride = false;  // a warp handles more than one row
  int64_t blocks_per_sm = 0;  // resident blocks per SM at this smem (occupancy estimate)
  int xs_stride = 0;       // DictXsStride(cols) when shared_x (fits int: it is < smem_optin/4)
};

// Plans one fused launch of k tokens (1 <= k <= 16) over a rows x cols matrix with num_codes
// codewords. regs_per_thread is the kernel's cudaFuncAttributes::numRegs (0 = unknown: registers
// are then not a limit). Throws qmoe::Error, naming the limit, for shapes the kernel's 32-bit
// fields cannot address: rows or codes > INT32_MAX (row_off is int32), cols > INT32_MAX - 64.
DictLaunchPlan PlanDictLaunch(const CudaDeviceLimits& dev, int64_t rows, int64_t cols, int64_t num_codes,
                              int64_t k, int regs_per_thread = 0);

// Resident blocks per SM for blocks of `threads` threads, `smem` dynamic bytes, `regs` registers
// per thread (0 = not a limit): the minimum over the thread, block, register and shared-memory
// limits, at least 1 (a block that fits at all runs one at a time).
int64_t BlocksPerSm(const CudaDeviceLimits& dev, int threads, int64_t smem, int regs);

// The token-count route for one expert matrix: the fused kernel for k <= gemm_threshold (in
// launches of 16/8/4/2/1 tokens), else decompress to bf16 once and one cuBLAS GEMM.
enum class DictRoute { kFused, kDecompressGemm };
DictRoute ChooseDictRoute(int64_t k, int64_t gemm_threshold);
// The fused launches for k tokens: token counts of each launch, largest first (16,16,4,1 for 37).
std::string FusedChunks(int64_t k);

}  // namespace qmoe::kernels
