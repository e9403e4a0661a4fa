// CUDA fused decode + matvec (dictionary format, codecs/dict/dict_format.h), written against the reference's flaws:
// runtime shapes (any h, any w incl. odd) with no shape templates; a batch of k <= 16 tokens per
// launch (each codeword decoded once); ONE block barrier, after staging x, outside any loop;
// __syncwarp() around the per-warp codeword staging tile. No torch here: raw device pointers.
//
// Layout: a block of kWarps warps; each warp takes rows r = blockIdx.x*kWarps + warp, striding by
// gridDim.x*kWarps (grid ~ SMs x occupancy, so x is staged few times). Per row, the warp stages
// 32 codewords at a time: lane i loads entry dec[codes[i]] (8 bytes) and the column where that
// codeword starts (warp prefix sum of 2n). Then lanes 0..27 each own one slot of every staged
// codeword's 28-weight window; lanes 28..31 idle. A shuffle reduction ends the row.
#include <algorithm>

#include "kernels/common/cuda_check.h"
#include "codecs/dict/dict_format.h"
#include "kernels/dict_matvec/dict_matvec_cuda.h"

namespace qmoe::kernels {
namespace {

constexpr int kWarps = 8;
constexpr int kXPad = 32;  // zero pad after x in shared memory: windows read up to col+27
constexpr unsigned kFull = 0xffffffffu;

// Floats per token row of x in shared memory: cols + pad, rounded to 4 so the uint2 staging tiles
// placed after the K rows stay 8-byte aligned for every cols and K.
__host__ __device__ __forceinline__ int XsStride(int cols) { return (cols + kXPad + 3) & ~3; }

__device__ __forceinline__ void StoreY(float v, float* y) { *y = v; }
__device__ __forceinline__ void StoreY(float v, uint16_t* y) { *y = FloatToBf16Bits(v); }

template <int K, bool kSharedX, class Y>
__global__ void __launch_bounds__(kWarps * 32)
    DictMatvecKernel(int rows, int cols, const uint16_t* __restrict__ codes,
                     const int32_t* __restrict__ row_off, const uint16_t* __restrict__ minmax,
                     const uint2* __restrict__ dec, const uint16_t* __restrict__ x, Y* y) {
  extern __shared__ float smem[];
  const int xs_stride = XsStride(cols);
  float* xs = smem;  // [K][xs_stride] when kSharedX
  uint2* tile_all = reinterpret_cast<uint2*>(smem + (kSharedX ? K * xs_stride : 0));
  int* tcol_all = reinterpret_cast<int*>(tile_all + kWarps * 32);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  if constexpr (kSharedX) {
    for (int i = threadIdx.x; i < K * xs_stride; i += blockDim.x) {
      const int j = i / xs_stride, c = i - j * xs_stride;
      xs[i] = c < cols ? Bf16BitsToFloat(x[j * cols + c]) : 0.0f;
    }
    __syncthreads();  // the only block barrier: every warp reaches it exactly once
  }
  uint2* tile = tile_all + warp * 32;
  int* tcol = tcol_all + warp * 32;

  for (int r = blockIdx.x * kWarps + warp; r < rows; r += gridDim.x * kWarps) {
    const float mn = Bf16BitsToFloat(minmax[2 * r]);
    const float mx = Bf16BitsToFloat(minmax[2 * r + 1]);
    const int b = row_off[r], e = row_off[r + 1];
    float acc[K];
#pragma unroll
    for (int j = 0; j < K; ++j) acc[j] = 0.0f;
    int col = 0;
    for (int base = b; base < e; base += 32) {
      const int cnt = min(32, e - base);
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
            else xv = c < cols ? Bf16BitsToFloat(x[j * cols + c]) : 0.0f;
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
      if (lane == 0) StoreY(v, &y[size_t(j) * rows + r]);
    }
  }
}

struct DeviceInfo {
  int sms = 0, smem_optin = 0;
};

DeviceInfo GetDeviceInfo() {
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  DeviceInfo info;
  CUDA_CHECK(cudaDeviceGetAttribute(&info.sms, cudaDevAttrMultiProcessorCount, dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&info.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  return info;
}

template <int K, bool kSharedX, class Y>
void LaunchK(const DictView& m, const uint32_t* dec, const Bf16* x, Y* y, size_t smem,
             cudaStream_t stream) {
  auto kernel = DictMatvecKernel<K, kSharedX, Y>;
  static const DeviceInfo info = GetDeviceInfo();
  // Once per instantiation: allow up to the device's opt-in maximum (the launch passes the size).
  static const bool attr_set = [&] {
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    info.smem_optin));
    return true;
  }();
  (void)attr_set;
  int per_sm = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kWarps * 32, smem));
  per_sm = std::max(per_sm, 1);
  const int64_t want = (m.rows + kWarps - 1) / kWarps;
  const int grid = int(std::min<int64_t>(want, int64_t(info.sms) * per_sm));
  kernel<<<grid, kWarps * 32, smem, stream>>>(
      int(m.rows), int(m.cols), m.codes, m.row_off, reinterpret_cast<const uint16_t*>(m.minmax),
      reinterpret_cast<const uint2*>(dec), reinterpret_cast<const uint16_t*>(x), y);
  CUDA_CHECK_LAUNCH();
}

template <int K, class Y>
void Launch(const DictView& m, const uint32_t* dec, const Bf16* x, Y* y, cudaStream_t stream) {
  static const DeviceInfo info = GetDeviceInfo();
  const size_t tiles = size_t(kWarps) * 32 * (sizeof(uint2) + sizeof(int));
  const size_t xbytes = size_t(K) * size_t(XsStride(int(m.cols))) * sizeof(float);
  if (tiles + xbytes <= size_t(info.smem_optin)) LaunchK<K, true>(m, dec, x, y, tiles + xbytes, stream);
  else LaunchK<K, false>(m, dec, x, y, tiles, stream);
}

template <class Y>
void MatvecCuda(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, Y* y,
                void* stream_ptr) {
  // row_off lives on the device: only host-side facts are checked here.
  QMOE_CHECK(m.rows >= 0 && m.cols >= 0 && m.rows <= INT32_MAX && m.cols <= INT32_MAX,
             "DictMatvecCuda: bad shape ", m.rows, "x", m.cols);
  QMOE_CHECK(k >= 1 && k <= kDictMaxBatch, "DictMatvecCuda: batch k = ", k, " (expected 1..",
             kDictMaxBatch, ")");
  QMOE_CHECK(dec && m.row_off && (m.rows == 0 || (m.minmax && x && y)) &&
                 (m.num_codes == 0 || m.codes),
             "DictMatvecCuda: null device pointer (dec, row_off, minmax, codes, x or y)");
  if (m.rows == 0) return;
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  // Tokens in chunks of 16/8/4/2/1: each chunk is one launch with its own x and y slices.
  for (int64_t j0 = 0; j0 < k;) {
    const int64_t left = k - j0;
    const Bf16* xj = x + j0 * m.cols;
    Y* yj = y + j0 * m.rows;
    if (left >= 16) Launch<16>(m, dec, xj, yj, stream), j0 += 16;
    else if (left >= 8) Launch<8>(m, dec, xj, yj, stream), j0 += 8;
    else if (left >= 4) Launch<4>(m, dec, xj, yj, stream), j0 += 4;
    else if (left >= 2) Launch<2>(m, dec, xj, yj, stream), j0 += 2;
    else Launch<1>(m, dec, xj, yj, stream), j0 += 1;
  }
}

}  // namespace

void DictMatvecCuda(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, Bf16* y,
                    void* stream) {
  MatvecCuda(m, dec, x, k, reinterpret_cast<uint16_t*>(y), stream);
}
void DictMatvecCuda(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, float* y,
                    void* stream) {
  MatvecCuda(m, dec, x, k, y, stream);
}

CublasBf16Gemv::CublasBf16Gemv() {
  cublasHandle_t h = nullptr;
  CUBLAS_CHECK(cublasCreate(&h));
  handle_ = h;
}
CublasBf16Gemv::~CublasBf16Gemv() {
  if (handle_) cublasDestroy(static_cast<cublasHandle_t>(handle_));
}

void CublasBf16Gemv::Run(const Bf16* w_dev, int64_t h, int64_t w, const Bf16* x_dev, int64_t k,
                         Bf16* y_dev) {
  // Row-major W[h][w] is column-major W^T (w x h, ld w): y(h x k, col-major) = op_T(W^T) * x.
  const float alpha = 1.0f, beta = 0.0f;
  CUBLAS_CHECK(cublasGemmEx(static_cast<cublasHandle_t>(handle_), CUBLAS_OP_T, CUBLAS_OP_N,
                            int(h), int(k), int(w), &alpha, w_dev, CUDA_R_16BF, int(w), x_dev,
                            CUDA_R_16BF, int(w), &beta, y_dev, CUDA_R_16BF, int(h),
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void CudaSynchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace qmoe::kernels
