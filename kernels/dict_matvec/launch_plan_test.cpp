// The host-side launch planner of the CUDA dict kernel (launch_plan.h), on the CPU: every branch
// (x in shared memory or the global-memory fallback, one row per warp or grid-stride, the
// max-grid clamp, the int32 guards) at the paper's expert shapes and at huge ones.
#include "kernels/dict_matvec/launch_plan.h"

#include <gtest/gtest.h>

#include <climits>

#include "framework/core/error.h"

namespace qmoe::kernels {
namespace {

// The paper's six expert shapes (rows x cols of W) of switch-base/large/c2048.
const int64_t kShapes[][2] = {{768, 3072}, {3072, 768}, {1024, 4096}, {4096, 1024}, {2080, 6144}, {6144, 2080}};

// Invariants every plan must satisfy, whatever the device and shape.
void ExpectSound(const CudaDeviceLimits& d, const DictLaunchPlan& p, int64_t rows, int64_t cols, int64_t k) {
  const int64_t xbytes = k * DictXsStride(cols) * 4;
  EXPECT_EQ(p.shared_x, kDictTileBytes + xbytes <= d.smem_optin) << rows << "x" << cols << " k=" << k;
  EXPECT_EQ(p.smem_bytes, kDictTileBytes + (p.shared_x ? xbytes : 0));
  EXPECT_LE(p.smem_bytes, d.smem_optin);
  EXPECT_EQ(p.block, kDictThreads);
  EXPECT_GE(p.grid, 1);
  EXPECT_LE(p.grid, d.max_grid_x);
  EXPECT_LE(p.grid, int64_t{d.sms} * p.blocks_per_sm);  // no block waits for a second wave
  // Every row is covered: by one warp each, or by striding.
  EXPECT_EQ(p.grid_stride, p.grid * kDictWarps < rows);
  if (!p.grid_stride) EXPECT_EQ(p.grid, (rows + kDictWarps - 1) / kDictWarps);
  if (p.shared_x) {
    EXPECT_EQ(p.xs_stride, DictXsStride(cols));
    EXPECT_EQ(p.xs_stride % 4, 0);  // keeps the uint2 tiles after x 8-byte aligned
    EXPECT_GE(p.xs_stride, cols + kDictXPad);
  }
}

TEST(DictLaunchPlan, PaperShapesEveryBatchOnA100AndH100) {
  for (const CudaDeviceLimits& d : {A100Limits(), H100Limits()})
    for (const auto& s : kShapes)
      for (int64_t k = 1; k <= 16; ++k) {
        // codes ~ rows*cols/14 at the paper's sparsity; only its int32 bound matters here.
        const DictLaunchPlan p = PlanDictLaunch(d, s[0], s[1], s[0] * s[1] / 14, k);
        ExpectSound(d, p, s[0], s[1], k);
      }
}

TEST(DictLaunchPlan, SharedXFitsAtOneTokenOf768x3072) {
  // k = 1, cols 3072: x needs (3072 + 32) floats = 12416 bytes, + 3072 tile bytes = 15488 bytes.
  // Blocks per SM: threads 2048/256 = 8; shared (164 KiB) / (15488 + 1024 reserved, in 128-byte
  // granules: 16512) = 10; so 8. Rows 768 need 96 blocks < 108 SMs x 8: one row per warp.
  const DictLaunchPlan p = PlanDictLaunch(A100Limits(), 768, 3072, 0, 1);
  EXPECT_TRUE(p.shared_x);
  EXPECT_EQ(p.smem_bytes, 15488);
  EXPECT_EQ(p.blocks_per_sm, 8);
  EXPECT_EQ(p.grid, 96);
  EXPECT_FALSE(p.grid_stride);
}

TEST(DictLaunchPlan, SixteenTokensOfWideRowsFallBackToGlobalX) {
  // k = 16 at cols 3072: x takes 16 x 3104 x 4 = 198656 bytes, + 3072 tile bytes = 201728:
  // over an A100's 163 KiB opt-in (166912) -> global x; under an H100's 227 KiB (232448) -> shared.
  const DictLaunchPlan a = PlanDictLaunch(A100Limits(), 768, 3072, 0, 16);
  EXPECT_FALSE(a.shared_x);
  EXPECT_EQ(a.smem_bytes, kDictTileBytes);
  EXPECT_EQ(a.xs_stride, 0);
  const DictLaunchPlan h = PlanDictLaunch(H100Limits(), 768, 3072, 0, 16);
  EXPECT_TRUE(h.shared_x);
  EXPECT_EQ(h.smem_bytes, 201728);
  // A device with a small opt-in limit (48 KiB, pre-Volta style) falls back far earlier.
  CudaDeviceLimits small = A100Limits();
  small.smem_optin = 48 * 1024;
  EXPECT_FALSE(PlanDictLaunch(small, 64, 2080, 0, 8).shared_x);  // 8 x 2112 x 4 + 3072 = 70656
  EXPECT_TRUE(PlanDictLaunch(small, 64, 2080, 0, 4).shared_x);   // 4 x 2112 x 4 + 3072 = 36864
}

TEST(DictLaunchPlan, ManyRowsStrideOverTheResidentGrid) {
  // 6144 x 2080, k = 16: x 16 x 2112 x 4 = 135168 bytes + 3072 = 138240: one block per SM on an
  // A100 (164 KiB per SM), so 108 blocks cover 6144 rows by striding (768 blocks wanted).
  const DictLaunchPlan p = PlanDictLaunch(A100Limits(), 6144, 2080, 0, 16);
  EXPECT_TRUE(p.shared_x);
  EXPECT_EQ(p.blocks_per_sm, 1);
  EXPECT_EQ(p.grid, 108);
  EXPECT_TRUE(p.grid_stride);
}

TEST(DictLaunchPlan, GridIsClampedToTheDeviceMaximum) {
  CudaDeviceLimits d = A100Limits();
  d.max_grid_x = 1000;
  d.sms = 100000;  // so the grid limit, not residency, is what binds
  const DictLaunchPlan p = PlanDictLaunch(d, 1'000'000, 64, 0, 1);
  EXPECT_EQ(p.grid, 1000);
  EXPECT_TRUE(p.grid_stride);
  ExpectSound(d, p, 1'000'000, 64, 1);
}

TEST(DictLaunchPlan, HugeShapesStayIn64BitsAndTheInt32FieldsAreGuarded) {
  const CudaDeviceLimits d = H100Limits();
  // The largest shape the format addresses: rows and cols near INT32_MAX. Products such as
  // k * stride * 4 (~ 1.4e11) and grid * warps would overflow int; the plan must not.
  const int64_t rows = INT32_MAX, cols = INT32_MAX - 64;
  const DictLaunchPlan p = PlanDictLaunch(d, rows, cols, INT32_MAX, 16);
  EXPECT_FALSE(p.shared_x);
  EXPECT_TRUE(p.grid_stride);
  EXPECT_GT(DictXsStride(cols), cols);  // no wrap-around
  ExpectSound(d, p, rows, cols, 16);

  auto error_of = [&](int64_t r, int64_t c, int64_t codes, int64_t k) -> std::string {
    try {
      PlanDictLaunch(d, r, c, codes, k);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of(int64_t{INT32_MAX} + 1, 64, 0, 1).find("rows exceed INT32_MAX"), std::string::npos);
  EXPECT_NE(error_of(64, INT32_MAX, 0, 1).find("columns exceed"), std::string::npos);
  EXPECT_NE(error_of(64, 64, int64_t{INT32_MAX} + 1, 1).find("row_off is int32"), std::string::npos);
  EXPECT_NE(error_of(64, 64, 0, 0).find("expected 1..16"), std::string::npos);
  EXPECT_NE(error_of(64, 64, 0, 17).find("expected 1..16"), std::string::npos);
  EXPECT_EQ(PlanDictLaunch(d, 0, 64, 0, 1).grid, 0);  // nothing to launch
  EXPECT_THROW(PlanDictLaunch(CudaDeviceLimits{}, 64, 64, 0, 1), Error);  // limits never queried
}

TEST(BlocksPerSm, TheTightestLimitBinds) {
  const CudaDeviceLimits d = A100Limits();
  EXPECT_EQ(BlocksPerSm(d, 256, 0, 0), 8);    // 2048 threads / 256
  EXPECT_EQ(BlocksPerSm(d, 64, 0, 0), 32);    // max 32 blocks per SM
  // 128 regs x 32 lanes = 4096 per warp (a multiple of 256), x 8 warps = 32768: 65536 / 32768 = 2.
  EXPECT_EQ(BlocksPerSm(d, 256, 0, 128), 2);
  // 33 regs -> 1056 per warp, rounded to 1280; x 8 = 10240: 65536 / 10240 = 6.
  EXPECT_EQ(BlocksPerSm(d, 256, 0, 33), 6);
  // Shared memory: (40000 + 1024) rounded to 41088; 167936 / 41088 = 4.
  EXPECT_EQ(BlocksPerSm(d, 256, 40000, 0), 4);
  EXPECT_EQ(BlocksPerSm(d, 256, 200000, 0), 1);  // never 0: a block that fits runs alone
}

TEST(DictRoute, FusedUpToTheThresholdThenDecompressGemm) {
  EXPECT_EQ(ChooseDictRoute(1, 16), DictRoute::kFused);
  EXPECT_EQ(ChooseDictRoute(16, 16), DictRoute::kFused);
  EXPECT_EQ(ChooseDictRoute(17, 16), DictRoute::kDecompressGemm);
  EXPECT_EQ(ChooseDictRoute(100, 128), DictRoute::kFused);  // a measured threshold above 16: chunks
  EXPECT_THROW(ChooseDictRoute(0, 16), Error);
  EXPECT_EQ(FusedChunks(1), "1");
  EXPECT_EQ(FusedChunks(16), "16");
  EXPECT_EQ(FusedChunks(37), "16,16,4,1");
  EXPECT_EQ(FusedChunks(15), "8,4,2,1");
}

}  // namespace
}  // namespace qmoe::kernels
