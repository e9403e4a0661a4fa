// Tests for kernels/common: CPU/GPU detection never fails, dense GEMV baselines (ours, OpenBLAS)
// vs their _ref, the worker pool, the cache-size parser and the bandwidth probe.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/common/bf16_gemv.h"
#include "kernels/common/cache_info.h"
#include "kernels/common/cpu_features.h"
#include "kernels/common/cuda_device.h"
#include "kernels/common/dense_gemv.h"
#include "kernels/common/openblas.h"
#include "kernels/common/stream_probe.h"
#include "kernels/common/worker_pool.h"
#include "framework/core/error.h"

namespace qmoe::kernels {
namespace {

TEST(CpuFeatures, BestIsSupportedAndScalarAlwaysIs) {
  EXPECT_TRUE(CpuSupports(CpuIsa::kScalar));
  EXPECT_TRUE(CpuSupports(BestCpuIsa()));
}

TEST(CudaDevice, CountIsNeverNegative) { EXPECT_GE(CudaDeviceCount(), 0); }

TEST(DenseGemv, MatchesRef) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t cols : {1, 17, 32, 77, 1000})
    for (int64_t k : {1, 3, 8}) {
      const int64_t h = 5;
      std::vector<float> w(h * cols), x(k * cols), y(k * h), yr(k * h);
      std::vector<Bf16> wb(h * cols);
      for (auto& v : w) v = u(rng);
      for (auto& v : x) v = u(rng);
      for (size_t i = 0; i < w.size(); ++i) wb[i] = FloatToBf16(w[i]);
      // fp32 accumulation vs fp64: |err| <= (cols + 2) * 2^-24 * 2 * sum|w||x| (cols - 1 sum
      // roundings + lane reduction/final, c = 2 for reordering) + 2^-24 |y| (ref cast to fp32).
      auto check = [&](const char* what, auto&& wv) {
        for (int64_t j = 0; j < k; ++j)
          for (int64_t r = 0; r < h; ++r) {
            double abs_sum = 0;
            for (int64_t c = 0; c < cols; ++c)
              abs_sum += std::fabs(double(wv(r * cols + c))) * std::fabs(x[j * cols + c]);
            const double tol = double(cols + 2) * std::ldexp(1.0, -23) * abs_sum +
                               std::ldexp(std::fabs(yr[j * h + r]), -24);
            EXPECT_NEAR(y[j * h + r], yr[j * h + r], tol) << what << " cols=" << cols << " k=" << k;
          }
        double n = 0;
        for (float v : y) n += std::fabs(v);
        EXPECT_GT(n, 0.0) << what;
      };
      DenseGemvF32(w.data(), h, cols, x.data(), k, y.data());
      DenseGemvF32Ref(w.data(), h, cols, x.data(), k, yr.data());
      check("f32", [&](int64_t i) { return w[i]; });
      DenseGemvBf16(wb.data(), h, cols, x.data(), k, y.data());
      DenseGemvBf16Ref(wb.data(), h, cols, x.data(), k, yr.data());
      check("bf16", [&](int64_t i) { return Bf16ToFloat(wb[i]); });
    }
}

// |y - y_ref| bound for an fp32-accumulated dot product of `cols` terms against the fp64 reference
// rounded to fp32. Each product w*x is rounded at most once (inside an FMA or a multiply) and each
// partial sum once; whatever the order (lanes, row groups, panels, the final lane reduction), a
// sum of n terms computed in fp32 errs by at most gamma_n * sum|terms| with gamma_n = n u / (1 - n u)
// <= 1.01 n u for n u < 0.01, u = 2^-24; n = cols products + cols additions (+ a few for the
// lane reduction: 2 cols + 16 bounds them all). The reference's own fp32 cast adds u |y_ref|.
double DotTolerance(int64_t cols, double abs_sum, double y_ref) {
  const double u = std::ldexp(1.0, -24);
  return 1.01 * double(2 * cols + 16) * u * abs_sum + u * std::fabs(y_ref);
}

TEST(Bf16Gemv, EveryPathMatchesRefForAnyShapeBatchAndThreads) {
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<CpuIsa> isas;
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512})
    if (CpuSupports(isa)) isas.push_back(isa);
  for (int64_t cols : {1, 15, 16, 33, 64, 77, 1000, 2080})
    for (int64_t h : {1, 3, 37})
      for (int64_t k : {1, 2, 3, 4, 5, 8, 11}) {
        std::vector<Bf16> w(size_t(h * cols));
        std::vector<float> x(size_t(k * cols)), yr(size_t(k * h));
        for (auto& v : w) v = FloatToBf16(u(rng));
        for (auto& v : x) v = u(rng);
        Bf16GemvRef(w.data(), h, cols, x.data(), k, yr.data());
        for (CpuIsa isa : isas)
          for (int threads : {1, 2, 3}) {
            std::vector<float> y(size_t(k * h), NAN);
            Bf16Gemv(w.data(), h, cols, x.data(), k, y.data(), threads, isa);
            for (int64_t j = 0; j < k; ++j)
              for (int64_t r = 0; r < h; ++r) {
                double abs_sum = 0;
                for (int64_t c = 0; c < cols; ++c)
                  abs_sum += std::fabs(double(Bf16ToFloat(w[r * cols + c]))) * std::fabs(x[j * cols + c]);
                ASSERT_NEAR(y[j * h + r], yr[j * h + r], DotTolerance(cols, abs_sum, yr[j * h + r]))
                    << CpuIsaName(isa) << " h=" << h << " cols=" << cols << " k=" << k << " threads=" << threads
                    << " row " << r << " token " << j;
              }
          }
      }
}

TEST(Bf16Gemv, RejectsBadArguments) {
  std::vector<Bf16> w(4);
  std::vector<float> x(4), y(4);
  EXPECT_THROW(Bf16Gemv(w.data(), 0, 4, x.data(), 1, y.data()), Error);
  EXPECT_THROW(Bf16Gemv(w.data(), 1, 4, x.data(), 1, y.data(), 0), Error);
}

TEST(OpenBlas, GemvAndGemmMatchRef) {
  const OpenBlas* blas = OpenBlas::Get();
  if (blas == nullptr) GTEST_SKIP() << "no OpenBLAS on this machine";
  EXPECT_FALSE(blas->CoreName().empty());
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t h = 37, cols = 300;
  for (int threads : {1, 2})
    for (int64_t k : {1, 2, 8}) {
      blas->SetThreads(threads);
      EXPECT_EQ(blas->Threads(), threads);
      std::vector<float> w(size_t(h * cols)), x(size_t(k * cols)), y(size_t(k * h)), yr(size_t(k * h));
      for (auto& v : w) v = u(rng);
      for (auto& v : x) v = u(rng);
      blas->Gemm(w.data(), h, cols, x.data(), k, y.data());
      DenseGemvF32Ref(w.data(), h, cols, x.data(), k, yr.data());
      for (int64_t j = 0; j < k; ++j)
        for (int64_t r = 0; r < h; ++r) {
          double abs_sum = 0;
          for (int64_t c = 0; c < cols; ++c) abs_sum += std::fabs(w[r * cols + c]) * std::fabs(x[j * cols + c]);
          EXPECT_NEAR(y[j * h + r], yr[j * h + r], DotTolerance(cols, abs_sum, yr[j * h + r]))
              << OpenBlas::KernelName(k) << " k=" << k << " threads=" << threads;
        }
    }
  blas->SetThreads(1);
}

TEST(WorkerPool, RunsEveryPartOnceAndPropagatesErrors) {
  for (int n : {1, 2, 5, 3}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    for (int rep = 0; rep < 50; ++rep) RunOnThreads(n, [&](int t) { hits[size_t(t)]++; });
    for (auto& c : hits) EXPECT_EQ(c.load(), 50);
  }
  EXPECT_THROW(RunOnThreads(2, [](int t) { QMOE_CHECK(t != 1, "part one fails"); }), Error);
  EXPECT_THROW(RunOnThreads(0, [](int) {}), Error);
  long b, e, covered = 0, prev = 0;
  for (int t = 0; t < 3; ++t) {
    PartRange(1000, 3, t, 64, &b, &e);
    EXPECT_EQ(b, prev);
    EXPECT_EQ(b % 64, 0);
    covered += e - b, prev = e;
  }
  EXPECT_EQ(covered, 1000);
}

TEST(CacheInfo, ParsesSysfsSizesAndFindsACache) {
  EXPECT_EQ(bench::ParseCacheSize("32768K"), int64_t{32} << 20);
  EXPECT_EQ(bench::ParseCacheSize("260M"), int64_t{260} << 20);
  EXPECT_EQ(bench::ParseCacheSize("4096"), 4096);
  EXPECT_EQ(bench::ParseCacheSize(""), 0);
  EXPECT_EQ(bench::ParseCacheSize("x"), 0);
  const bench::LlcInfo llc = bench::LastLevelCache();
  EXPECT_GT(llc.bytes, 0);
  EXPECT_FALSE(llc.source.empty());
}

TEST(StreamProbe, MeasuresAPositiveBandwidth) {
  for (int threads : {1, 2}) {
    const double gbs = ReadBandwidthGBs(threads, int64_t{8} << 20, 2);
    EXPECT_GT(gbs, 0.1) << threads;
    EXPECT_LT(gbs, 1e4) << threads;
  }
}

}  // namespace
}  // namespace qmoe::kernels
