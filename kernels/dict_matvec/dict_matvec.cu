// CUDA fused decode + matvec (dictionary format, codecs/dict/dict_format.h), written against the reference's flaws:
// runtime shapes (any h, any w incl. odd) with no shape templates; a batch of k <= 16 tokens per
// launch (each codeword decoded once); ONE block barrier, after staging x, outside any loop;
// __syncwarp() around the per-warp codeword staging tile. No torch here: raw device pointers.
//
// Layout: a block of kDictWarps warps; each warp takes rows r = blockIdx.x*kDictWarps + warp,
// striding by gridDim.x*kDictWarps (grid ~ SMs x occupancy, so x is staged few times). Per row,
// the warp stages 32 codewords at a time: lane i loads entry dec[codes[i]] (8 bytes) and the
// column where that codeword starts (warp prefix sum of 2n). Then lanes 0..27 each own one slot of
// every staged codeword's 28-weight window; lanes 28..31 idle. A shuffle reduction ends the row.
// Grid, shared memory and the x-in-shared choice come from PlanDictLaunch (launch_plan.h); row
// and x indices are 64-bit, so no product of the shape overflows an int.
#include <algorithm>
#include <mutex>

#include "codecs/dict/dict_format.h"
#include "kernels/common/cuda_check.h"
#include "kernels/dict_matvec/dict_matvec_cuda.h"

namespace qmoe::kernels {
namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kMaxDevices = 64;

__device__ __forceinline__ void StoreY(float v, float* y) { *y = v; }
__device__ __forceinline__ void StoreY(float v, uint16_t* y) { *y = FloatToBf16Bits(v); }

// Stages the next (up to) 32 codewords of a row into the warp's tile: entries and start columns.
// Returns how many were staged; advances `col` past them. All 32 lanes must call it.
__device__ __forceinline__ int StageTile(int lane, int64_t base, int64_t end, const uint16_t* __restrict__ codes,
                                         const uint2* __restrict__ dec, uint2* tile, int* tcol, int& col) {
  const int cnt = int(min(int64_t{32}, end - base));
  uint2 ent = make_uint2(0u, 0u);
  if (lane < cnt) ent = dec[codes[base + lane]];
  const int adv = int(dict::EntryAdvance(ent.x));  // 0 for lanes past cnt
  int incl = adv;  // inclusive prefix sum of column advances
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int v = __shfl_up_sync(kFull, incl, o);
    if (lane >= o) incl += v;
  }
  __syncwarp();  // all lanes finished reading the previous tile
  tile[lane] = ent;
  tcol[lane] = col + incl - adv;
  __syncwarp();  // tile complete before any lane reads it
  col += __shfl_sync(kFull, incl, 31);
  return cnt;
}

template <int K, bool kSharedX, class Y>
__global__ void __launch_bounds__(kDictThreads)
    DictMatvecKernel(int rows, int cols, int xs_stride, const uint16_t* __restrict__ codes,
                     const int32_t* __restrict__ row_off, const uint16_t* __restrict__ minmax,
                     const uint2* __restrict__ dec, const uint16_t* __restrict__ x, Y* y) {
  extern __shared__ float smem[];
  float* xs = smem;  // [K][xs_stride] when kSharedX
  uint2* tile_all = reinterpret_cast<uint2*>(smem + (kSharedX ? int64_t{K} * xs_stride : 0));
  int* tcol_all = reinterpret_cast<int*>(tile_all + kDictThreads);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  if constexpr (kSharedX) {
    for (int i = threadIdx.x; i < K * xs_stride; i += blockDim.x) {
      const int j = i / xs_stride, c = i - j * xs_stride;
      xs[i] = c < cols ? Bf16BitsToFloat(x[int64_t{j} * cols + c]) : 0.0f;
    }
    __syncthreads();  // the only block barrier: every warp reaches it exactly once
  }
  uint2* tile = tile_all + warp * 32;
  int* tcol = tcol_all + warp * 32;

  const int64_t stride = int64_t{gridDim.x} * kDictWarps;
  for (int64_t r = int64_t{blockIdx.x} * kDictWarps + warp; r < rows; r += stride) {
    const float mn = Bf16BitsToFloat(minmax[2 * r]);
    const float mx = Bf16BitsToFloat(minmax[2 * r + 1]);
    const int64_t b = row_off[r], e = row_off[r + 1];
    float acc[K];
#pragma unroll
    for (int j = 0; j < K; ++j) acc[j] = 0.0f;
    int col = 0;
    for (int64_t base = b; base < e; base += 32) {
      const int cnt = StageTile(lane, base, e, codes, dec, tile, tcol, col);
      if (lane < dict::kWindow) {
        const uint32_t half = dict::SlotWordIndex(lane);
        for (int i = 0; i < cnt; ++i) {
          const uint2 en = tile[i];
          const float w = dict::Dequant(dict::SlotSymbol(half ? en.y : en.x, lane), mn, mx);
          const int c = tcol[i] + lane;
#pragma unroll
          for (int j = 0; j < K; ++j) {
            float xv;
            if constexpr (kSharedX) xv = xs[j * xs_stride + c];
            else xv = c < cols ? Bf16BitsToFloat(x[int64_t{j} * cols + c]) : 0.0f;
            acc[j] = fmaf(w, xv, acc[j]);
          }
        }
      }
    }
#pragma unroll
    for (int j = 0; j < K; ++j) {
      float v = acc[j];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
      if (lane == 0) StoreY(v, &y[int64_t{j} * rows + r]);
    }
  }
}

// Dense decode: the same staging; lane t writes slot t of each codeword when it is one of the
// codeword's own 2n slots and inside the row (a window's unused slots belong to the next one).
__global__ void __launch_bounds__(kDictThreads)
    DictDecompressKernel(int rows, int cols, const uint16_t* __restrict__ codes,
                         const int32_t* __restrict__ row_off, const uint16_t* __restrict__ minmax,
                         const uint2* __restrict__ dec, uint16_t* __restrict__ out) {
  __shared__ uint2 tile_all[kDictThreads];
  __shared__ int tcol_all[kDictThreads];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  uint2* tile = tile_all + warp * 32;
  int* tcol = tcol_all + warp * 32;
  const int64_t stride = int64_t{gridDim.x} * kDictWarps;
  for (int64_t r = int64_t{blockIdx.x} * kDictWarps + warp; r < rows; r += stride) {
    const float mn = Bf16BitsToFloat(minmax[2 * r]);
    const float mx = Bf16BitsToFloat(minmax[2 * r + 1]);
    const int64_t b = row_off[r], e = row_off[r + 1];
    uint16_t* orow = out + r * cols;
    int col = 0;
    for (int64_t base = b; base < e; base += 32) {
      const int cnt = StageTile(lane, base, e, codes, dec, tile, tcol, col);
      if (lane < dict::kWindow) {
        const uint32_t half = dict::SlotWordIndex(lane);
        for (int i = 0; i < cnt; ++i) {
          const uint2 en = tile[i];
          const int c = tcol[i] + lane;
          if (uint32_t(lane) < dict::EntryAdvance(en.x) && c < cols)
            orow[c] = FloatToBf16Bits(dict::Dequant(dict::SlotSymbol(half ? en.y : en.x, lane), mn, mx));
        }
      }
    }
  }
}

// ---- once per device: limits, and each kernel's registers + shared-memory opt-in ----

CudaDeviceLimits QueryLimits(int dev) {
  CudaDeviceLimits d;
  auto attr = [&](cudaDeviceAttr a) {
    int v = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&v, a, dev));
    return v;
  };
  d.sms = attr(cudaDevAttrMultiProcessorCount);
  d.smem_optin = attr(cudaDevAttrMaxSharedMemoryPerBlockOptin);
  d.smem_per_sm = attr(cudaDevAttrMaxSharedMemoryPerMultiprocessor);
  d.reserved_smem = attr(cudaDevAttrReservedSharedMemoryPerBlock);
  d.max_threads_per_sm = attr(cudaDevAttrMaxThreadsPerMultiProcessor);
  d.max_blocks_per_sm = attr(cudaDevAttrMaxBlocksPerMultiprocessor);
  d.regs_per_sm = attr(cudaDevAttrMaxRegistersPerMultiprocessor);
  d.max_grid_x = attr(cudaDevAttrMaxGridDimX);
  d.l2_bytes = attr(cudaDevAttrL2CacheSize);
  return d;
}

void CheckDevice(int dev) {
  QMOE_CHECK(dev >= 0 && dev < kMaxDevices, "dict CUDA: device ", dev, " (expected 0..", kMaxDevices - 1, ")");
}

const CudaDeviceLimits& LimitsOf(int dev) {
  CheckDevice(dev);
  static std::once_flag once[kMaxDevices];
  static CudaDeviceLimits limits[kMaxDevices];
  std::call_once(once[dev], [&] { limits[dev] = QueryLimits(dev); });
  return limits[dev];
}

// Per kernel instantiation (the template arguments, not the pointer type, which instantiations
// share) and device: allow dynamic shared memory up to the opt-in maximum (the launch passes its
// own size) and read the register count. Returns the registers per thread.
template <int K, bool kSharedX, class Y>
int PrepareKernel(int dev) {
  static std::once_flag once[kMaxDevices];
  static int regs[kMaxDevices];
  std::call_once(once[dev], [&] {
    auto kernel = DictMatvecKernel<K, kSharedX, Y>;
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    int(LimitsOf(dev).smem_optin)));
    cudaFuncAttributes a{};
    CUDA_CHECK(cudaFuncGetAttributes(&a, kernel));
    regs[dev] = a.numRegs;
  });
  return regs[dev];
}

template <int K, class Y>
int RegsOf(int dev) {
  return std::max(PrepareKernel<K, true, Y>(dev), PrepareKernel<K, false, Y>(dev));
}

template <int K, class Y>
void Launch(int dev, const DictView& m, const uint32_t* dec, const Bf16* x, Y* y, cudaStream_t stream) {
  const DictLaunchPlan p = PlanDictLaunch(LimitsOf(dev), m.rows, m.cols, m.num_codes, K, RegsOf<K, Y>(dev));
  auto kernel = p.shared_x ? DictMatvecKernel<K, true, Y> : DictMatvecKernel<K, false, Y>;
  kernel<<<unsigned(p.grid), p.block, size_t(p.smem_bytes), stream>>>(
      int(m.rows), int(m.cols), p.xs_stride, m.codes, m.row_off, reinterpret_cast<const uint16_t*>(m.minmax),
      reinterpret_cast<const uint2*>(dec), reinterpret_cast<const uint16_t*>(x), y);
  CUDA_CHECK_LAUNCH();
}

void CheckArgs(const DictView& m, const uint32_t* dec, bool have_io) {
  // row_off lives on the device: only host-side facts are checked here.
  QMOE_CHECK(m.rows >= 0 && m.cols >= 0 && m.rows <= INT32_MAX && m.cols <= INT32_MAX,
             "DictMatvecCuda: bad shape ", m.rows, "x", m.cols);
  QMOE_CHECK(dec && m.row_off && (m.rows == 0 || (m.minmax && have_io)) && (m.num_codes == 0 || m.codes),
             "DictMatvecCuda: null device pointer (dec, row_off, minmax, codes, x or y)");
}

template <class Y>
void MatvecCuda(int dev, const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, Y* y, void* stream_ptr) {
  CheckDevice(dev);
  QMOE_CHECK(k >= 1 && k <= kDictMaxBatch, "DictMatvecCuda: batch k = ", k, " (expected 1..", kDictMaxBatch, ")");
  CheckArgs(m, dec, x && y);
  if (m.rows == 0) return;
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  // Tokens in chunks of 16/8/4/2/1 (FusedChunks): each chunk is one launch with its own x and y.
  for (int64_t j0 = 0; j0 < k;) {
    const int64_t left = k - j0;
    const Bf16* xj = x + j0 * m.cols;
    Y* yj = y + j0 * m.rows;
    if (left >= 16) Launch<16>(dev, m, dec, xj, yj, stream), j0 += 16;
    else if (left >= 8) Launch<8>(dev, m, dec, xj, yj, stream), j0 += 8;
    else if (left >= 4) Launch<4>(dev, m, dec, xj, yj, stream), j0 += 4;
    else if (left >= 2) Launch<2>(dev, m, dec, xj, yj, stream), j0 += 2;
    else Launch<1>(dev, m, dec, xj, yj, stream), j0 += 1;
  }
}

int CurrentDevice() {
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  return dev;
}

}  // namespace

void DictMatvecCuda(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, Bf16* y, void* stream) {
  MatvecCuda(CurrentDevice(), m, dec, x, k, reinterpret_cast<uint16_t*>(y), stream);
}
void DictMatvecCuda(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, float* y, void* stream) {
  MatvecCuda(CurrentDevice(), m, dec, x, k, y, stream);
}
void DictMatvecCudaOn(int device, const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, Bf16* y,
                      void* stream) {
  MatvecCuda(device, m, dec, x, k, reinterpret_cast<uint16_t*>(y), stream);
}

void DictDecompressCuda(const DictView& m, const uint32_t* dec, Bf16* out, void* stream) {
  CheckArgs(m, dec, out != nullptr);
  if (m.rows == 0 || m.cols == 0) return;
  const int dev = CurrentDevice();
  // The same guards as a fused launch; the tiles are static shared memory (kDictTileBytes).
  const CudaDeviceLimits& lim = LimitsOf(dev);
  (void)PlanDictLaunch(lim, m.rows, m.cols, m.num_codes, 1);
  const int64_t grid = std::min({(m.rows + kDictWarps - 1) / kDictWarps,
                                 int64_t{lim.sms} * BlocksPerSm(lim, kDictThreads, kDictTileBytes, 0), lim.max_grid_x});
  DictDecompressKernel<<<unsigned(grid), kDictThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      int(m.rows), int(m.cols), m.codes, m.row_off, reinterpret_cast<const uint16_t*>(m.minmax),
      reinterpret_cast<const uint2*>(dec), reinterpret_cast<uint16_t*>(out));
  CUDA_CHECK_LAUNCH();
}

CublasBf16Gemv::CublasBf16Gemv() {
  cublasHandle_t h = nullptr;
  CUBLAS_CHECK(cublasCreate(&h));
  handle_ = h;
}
CublasBf16Gemv::~CublasBf16Gemv() {
  if (handle_) cublasDestroy(static_cast<cublasHandle_t>(handle_));
}

void CublasBf16Gemv::SetStream(void* stream) {
  CUBLAS_CHECK(cublasSetStream(static_cast<cublasHandle_t>(handle_), static_cast<cudaStream_t>(stream)));
}

void CublasBf16Gemv::Run(const Bf16* w_dev, int64_t h, int64_t w, const Bf16* x_dev, int64_t k,
                         Bf16* y_dev) {
  QMOE_CHECK(h <= INT32_MAX && w <= INT32_MAX && k <= INT32_MAX, "cuBLAS GEMM: shape ", h, "x", w, " with ", k,
             " tokens exceeds cuBLAS's int dimensions");
  // Row-major W[h][w] is column-major W^T (w x h, ld w): y(h x k, col-major) = op_T(W^T) * x.
  const float alpha = 1.0f, beta = 0.0f;
  CUBLAS_CHECK(cublasGemmEx(static_cast<cublasHandle_t>(handle_), CUBLAS_OP_T, CUBLAS_OP_N,
                            int(h), int(k), int(w), &alpha, w_dev, CUDA_R_16BF, int(w), x_dev,
                            CUDA_R_16BF, int(w), &beta, y_dev, CUDA_R_16BF, int(h),
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void DictMatmulCuda(int device, const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, Bf16* y,
                    Bf16* scratch, CublasBf16Gemv& blas, int64_t gemm_threshold, void* stream) {
  if (ChooseDictRoute(k, gemm_threshold) == DictRoute::kFused) {
    // Above 16 tokens on the fused route: launches of 16 (each re-decodes the matrix).
    for (int64_t j0 = 0; j0 < k; j0 += kDictMaxBatch) {
      const int64_t n = std::min(kDictMaxBatch, k - j0);
      DictMatvecCudaOn(device, m, dec, x + j0 * m.cols, n, y + j0 * m.rows, stream);
    }
    return;
  }
  QMOE_CHECK(scratch, "DictMatmulCuda: the GEMM route needs a scratch buffer of ", m.rows, "x", m.cols, " bf16");
  DictDecompressCuda(m, dec, scratch, stream);
  blas.SetStream(stream);
  blas.Run(scratch, m.rows, m.cols, x, k, y);
}

CudaDeviceLimits CudaLimits(int device) { return LimitsOf(device); }

DictLaunchPlan DictLaunchPlanOn(int device, const DictView& m, int64_t k) {
  const int regs = k >= 16 ? RegsOf<16, uint16_t>(device)
                   : k >= 8 ? RegsOf<8, uint16_t>(device)
                   : k >= 4 ? RegsOf<4, uint16_t>(device)
                   : k >= 2 ? RegsOf<2, uint16_t>(device)
                            : RegsOf<1, uint16_t>(device);
  return PlanDictLaunch(LimitsOf(device), m.rows, m.cols, m.num_codes, k, regs);
}

void CudaSynchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace qmoe::kernels
