// Tests for kernels/common: CPU/GPU detection never fails, dense GEMV baselines vs their _ref.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/common/cpu_features.h"
#include "kernels/common/cuda_device.h"
#include "kernels/common/dense_gemv.h"

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

}  // namespace
}  // namespace qmoe::kernels
