#include "kernels/dict_matvec/launch_plan.h"

#include <algorithm>
#include <climits>

#include "framework/core/error.h"

namespace qmoe::kernels {

CudaDeviceLimits A100Limits() {
  CudaDeviceLimits d;
  d.sms = 108;
  d.smem_optin = 163 * 1024;
  d.smem_per_sm = 164 * 1024;
  d.reserved_smem = 1024;
  d.max_threads_per_sm = 2048;
  d.max_blocks_per_sm = 32;
  d.regs_per_sm = 65536;
  d.max_grid_x = INT32_MAX;
  d.l2_bytes = 40 << 20;
  return d;
}

CudaDeviceLimits H100Limits() {
  CudaDeviceLimits d = A100Limits();
  d.sms = 132;
  d.smem_optin = 227 * 1024;
  d.smem_per_sm = 228 * 1024;
  d.l2_bytes = 50 << 20;
  return d;
}

int64_t BlocksPerSm(const CudaDeviceLimits& dev, int threads, int64_t smem, int regs) {
  int64_t n = dev.max_blocks_per_sm > 0 ? dev.max_blocks_per_sm : INT32_MAX;
  if (dev.max_threads_per_sm > 0) n = std::min<int64_t>(n, dev.max_threads_per_sm / threads);
  if (regs > 0 && dev.regs_per_sm > 0) {
    // Registers are allocated per warp in units of 256 (sm_50 and later).
    const int64_t warp_regs = (int64_t{regs} * 32 + 255) / 256 * 256;
    const int64_t warps = (threads + 31) / 32;
    n = std::min<int64_t>(n, dev.regs_per_sm / (warp_regs * warps));
  }
  if (dev.smem_per_sm > 0) {
    const int64_t per_block = (smem + dev.reserved_smem + 127) / 128 * 128;  // 128-byte granules
    n = std::min<int64_t>(n, dev.smem_per_sm / per_block);
  }
  return std::max<int64_t>(n, 1);
}

DictLaunchPlan PlanDictLaunch(const CudaDeviceLimits& dev, int64_t rows, int64_t cols, int64_t num_codes,
                              int64_t k, int regs_per_thread) {
  QMOE_CHECK(k >= 1 && k <= 16, "dict CUDA launch: k = ", k, " tokens (expected 1..16 per launch)");
  QMOE_CHECK(rows >= 0 && cols >= 0 && num_codes >= 0, "dict CUDA launch: negative shape ", rows, "x", cols,
             " with ", num_codes, " codes");
  // The stored format's row offsets are int32 and the kernel's column cursor is an int that
  // reaches cols + 27: larger matrices must be split into row ranges by the caller.
  QMOE_CHECK(rows <= INT32_MAX, "dict CUDA launch: ", rows, " rows exceed INT32_MAX (split the matrix by rows)");
  QMOE_CHECK(num_codes <= INT32_MAX, "dict CUDA launch: ", num_codes,
             " codewords exceed INT32_MAX (row_off is int32; split the matrix by rows)");
  QMOE_CHECK(cols <= INT32_MAX - 64, "dict CUDA launch: ", cols, " columns exceed INT32_MAX - 64");
  QMOE_CHECK(dev.sms > 0 && dev.max_grid_x > 0 && dev.smem_optin >= kDictTileBytes,
             "dict CUDA launch: device limits not queried (", dev.sms, " SMs, ", dev.smem_optin,
             " bytes of shared memory per block; the kernel needs ", kDictTileBytes, ")");
  DictLaunchPlan p;
  if (rows == 0) return p;
  const int64_t xbytes = k * DictXsStride(cols) * int64_t(sizeof(float));
  p.shared_x = kDictTileBytes + xbytes <= dev.smem_optin;
  p.smem_bytes = kDictTileBytes + (p.shared_x ? xbytes : 0);
  p.xs_stride = p.shared_x ? int(DictXsStride(cols)) : 0;
  p.blocks_per_sm = BlocksPerSm(dev, p.block, p.smem_bytes, regs_per_thread);
  const int64_t want = (rows + kDictWarps - 1) / kDictWarps;
  p.grid = std::min({want, int64_t{dev.sms} * p.blocks_per_sm, dev.max_grid_x});
  p.grid_stride = p.grid * kDictWarps < rows;
  return p;
}

DictRoute ChooseDictRoute(int64_t k, int64_t gemm_threshold) {
  QMOE_CHECK(k >= 1, "dict CUDA: k = ", k, " tokens (expected >= 1)");
  return k <= gemm_threshold ? DictRoute::kFused : DictRoute::kDecompressGemm;
}

std::string FusedChunks(int64_t k) {
  std::string s;
  for (int64_t left = k; left > 0;) {
    const int64_t c = left >= 16 ? 16 : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
    s += (s.empty() ? "" : ",") + std::to_string(c);
    left -= c;
  }
  return s;
}

}  // namespace qmoe::kernels
