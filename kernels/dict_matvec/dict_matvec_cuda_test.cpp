// The CUDA dict kernels against the CPU reference, on a GPU (built with the CUDA toolkit; every
// test skips itself, naming the reason, where no GPU is usable): the dense decode bit-exact, the
// fused kernel on the paths the planner chooses (x in shared memory, the global-memory fallback,
// grid-stride), the decompress + cuBLAS GEMM route above the threshold, and the cached device
// limits against the CUDA runtime's own answer.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "codecs/dict/dict_codec.h"
#include "kernels/common/cuda_buffer.h"
#include "kernels/common/cuda_device.h"
#include "kernels/dict_matvec/dict_matvec.h"
#include "kernels/dict_matvec/dict_matvec_cuda.h"
#include "kernels/dict_matvec/dict_test_data.h"

namespace qmoe::kernels {
namespace {

using dict_test::DecodeTable;
using dict_test::TestMatrix;

#define QMOE_SKIP_WITHOUT_GPU()                                                                     \
  if (CudaDeviceCount() == 0)                                                                       \
  GTEST_SKIP() << "no usable CUDA device (cudaGetDeviceCount failed or found 0; error 35 = no driver)"

// One matrix on the device.
struct DeviceMatrix {
  DeviceBuffer<uint16_t> codes;
  DeviceBuffer<int32_t> row_off;
  DeviceBuffer<Bf16> minmax;
  DictView view;
  explicit DeviceMatrix(const TestMatrix& m) : codes(m.codes), row_off(m.row_off), minmax(m.minmax) {
    view = DictView{m.rows, m.cols, codes.data(), int64_t(m.codes.size()), row_off.data(), minmax.data()};
  }
};

std::vector<float> ToFloats(const std::vector<Bf16>& v) {
  std::vector<float> f(v.size());
  for (size_t i = 0; i < v.size(); ++i) f[i] = Bf16ToFloat(v[i]);
  return f;
}

// Error bound of an fp32 accumulation of cols products in ANY order (the warp tree, cuBLAS's
// split-K): |fl(sum) - sum| <= (n-1) u sum|w x| + O(u^2); taken as (n + 2) u 2 sum|w x| for the
// O(u^2) terms and the fp32 rounding of each product (u = 2^-24). A bf16 output adds one rounding
// of <= 2^-8 relative (round to nearest: 2^-9, doubled for the final fp32 -> bf16 step).
std::vector<double> Tolerance(const TestMatrix& m, const std::vector<float>& xf, int64_t k,
                              const std::vector<float>& yref) {
  const double u = std::ldexp(1.0, -24);
  std::vector<double> tol(size_t(k * m.rows));
  for (int64_t j = 0; j < k; ++j)
    for (int64_t r = 0; r < m.rows; ++r) {
      double abs_sum = 0;
      for (int64_t c = 0; c < m.cols; ++c) abs_sum += std::fabs(m.Weight(r, c)) * std::fabs(xf[j * m.cols + c]);
      const double acc = double(m.cols + 2) * u * 2.0 * abs_sum;
      const double yr = std::fabs(yref[j * m.rows + r]);
      tol[j * m.rows + r] = acc + u * yr + std::ldexp(1.0, -8) * (yr + acc);
    }
  return tol;
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& ref, const std::vector<double>& tol,
                 const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(double(got[i]) - ref[i]) <= tol[i])) {
      if (first < 0) first = int64_t(i);
      ++bad;
    }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " outside tolerance; first at " << first
                    << ": got " << (first >= 0 ? got[size_t(first)] : 0) << " want "
                    << (first >= 0 ? ref[size_t(first)] : 0);
}

// y = x W^T through DictMatmulCuda with the given threshold, compared with DictMatvecRef.
void CheckMatmul(int64_t rows, int64_t cols, int64_t k, int64_t threshold, const std::string& what) {
  const TestMatrix m = dict_test::RandomTernary(rows, cols, 0.885, uint64_t(rows * 131 + cols));
  const std::vector<Bf16> xb = dict_test::RandomBf16(k * cols, uint64_t(k + 7));
  std::vector<float> xf(xb.size()), yref(size_t(k * rows));
  for (size_t i = 0; i < xb.size(); ++i) xf[i] = Bf16ToFloat(xb[i]);
  for (int64_t j0 = 0; j0 < k; j0 += kDictMaxBatch) {  // the reference takes <= 16 tokens per call
    const int64_t n = std::min(kDictMaxBatch, k - j0);
    DictMatvecRef(m.View(), DecodeTable().data(), xb.data() + j0 * cols, n, yref.data() + j0 * rows);
  }
  DeviceMatrix dm(m);
  DeviceBuffer<uint32_t> dec(DecodeTable());
  DeviceBuffer<Bf16> x(xb), y(size_t(k * rows)), scratch(size_t(rows * cols));
  CublasBf16Gemv blas;
  int dev = 0;
  ASSERT_EQ(cudaGetDevice(&dev), cudaSuccess);
  DictMatmulCuda(dev, dm.view, dec.data(), x.data(), k, y.data(), scratch.data(), blas, threshold);
  CudaSynchronize();
  ExpectClose(ToFloats(y.Download()), yref, Tolerance(m, xf, k, yref), what);
}

TEST(DictCuda, DecompressIsBitExactWithTheReference) {
  QMOE_SKIP_WITHOUT_GPU();
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {19, 2081}, {111, 19}, {768, 3072}}) {
    const TestMatrix m = dict_test::RandomTernary(rows, cols, 0.885, 11);
    std::vector<Bf16> ref(size_t(rows * cols));
    DictDecompress(m.View(), DecodeTable().data(), ref.data());
    DeviceMatrix dm(m);
    DeviceBuffer<uint32_t> dec(DecodeTable());
    DeviceBuffer<Bf16> out(size_t(rows * cols));
    DictDecompressCuda(dm.view, dec.data(), out.data());
    CudaSynchronize();
    const std::vector<Bf16> got = out.Download();
    int64_t bad = 0;
    for (size_t i = 0; i < ref.size(); ++i) bad += got[i].bits != ref[i].bits;
    EXPECT_EQ(bad, 0) << rows << "x" << cols;
  }
}

TEST(DictCuda, FusedSharedXPath) {
  QMOE_SKIP_WITHOUT_GPU();
  DeviceMatrix dm(dict_test::RandomTernary(768, 2081, 0.885, 3));
  EXPECT_TRUE(DictLaunchPlanOn(0, dm.view, 4).shared_x);
  CheckMatmul(768, 2081, 4, 16, "fused, x in shared memory");
}

TEST(DictCuda, FusedGlobalXFallback) {
  QMOE_SKIP_WITHOUT_GPU();
  // 16 tokens of 8192 columns need 16 x 8224 x 4 = 526 KiB of x: more than any GPU's shared memory.
  const TestMatrix m = dict_test::RandomTernary(64, 8192, 0.885, 5);
  DeviceMatrix dm(m);
  EXPECT_FALSE(DictLaunchPlanOn(0, dm.view, 16).shared_x);
  CheckMatmul(64, 8192, 16, 16, "fused, x from global memory");
}

TEST(DictCuda, FusedGridStride) {
  QMOE_SKIP_WITHOUT_GPU();
  // Far more rows than the resident grid covers: every warp handles many rows.
  const TestMatrix m = dict_test::RandomTernary(200000, 30, 0.885, 9);
  DeviceMatrix dm(m);
  EXPECT_TRUE(DictLaunchPlanOn(0, dm.view, 1).grid_stride);
  CheckMatmul(200000, 30, 1, 16, "fused, grid-stride");
}

TEST(DictCuda, RoutesAboveSixteenTokens) {
  QMOE_SKIP_WITHOUT_GPU();
  CheckMatmul(111, 2081, 37, 16, "decompress + cuBLAS GEMM");
  CheckMatmul(111, 2081, 37, 64, "fused chunks 16,16,4,1");
}

TEST(DictCuda, CachedLimitsMatchTheRuntime) {
  QMOE_SKIP_WITHOUT_GPU();
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  const CudaDeviceLimits d = CudaLimits(0);
  EXPECT_EQ(d.sms, prop.multiProcessorCount);
  EXPECT_EQ(d.smem_optin, int64_t(prop.sharedMemPerBlockOptin));
  EXPECT_EQ(d.max_grid_x, prop.maxGridSize[0]);
  EXPECT_EQ(d.regs_per_sm, prop.regsPerMultiprocessor);
  EXPECT_EQ(CudaLimits(0).sms, d.sms);  // cached: same answer
}

}  // namespace
}  // namespace qmoe::kernels
