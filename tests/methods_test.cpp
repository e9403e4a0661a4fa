// Every registered method, run on the same small batch of expert-shaped matrices with a real
// (correlated) Hessian: shapes, determinism, exact storage accounting, and a packed format that
// reads back to exactly the simulated weights.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "methods/method.h"

namespace qmoe {
namespace {

QuantTarget SmallTarget() {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const int64_t g = 3, rows = 19, cols = 45, n = 200;
  QuantTarget t;
  t.weight = at::normal(0.0, 0.05, {g, rows, cols}, gen);
  at::Tensor x = at::normal(0.0, 1.0, {g, n, cols}, gen);
  x = x + 0.8 * x.roll(1, 2);  // correlated features
  t.hessian = at::bmm(x.transpose(1, 2), x);
  for (int i = 0; i < g; ++i) t.names.push_back("expert_" + std::to_string(i) + ".wi");
  return t;
}

class EveryMethod : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryMethod, QuantizesDeterministicallyAndReadsBackItsPackedFormat) {
  const MethodInfo& info = Methods().Get(GetParam());
  auto method = info.make({});
  QuantTarget t = SmallTarget();
  QuantOutput a = method->Quantize(t);
  QuantOutput b = method->Quantize(t);
  ASSERT_EQ(a.weight.sizes(), t.weight.sizes());
  ASSERT_EQ(a.matrices.size(), 3u);
  EXPECT_TRUE(at::equal(a.weight, b.weight)) << "not deterministic";
  EXPECT_TRUE(at::isfinite(a.weight).all().item<bool>());
  EXPECT_GT(a.weight.abs().sum().item<double>(), 0.0) << "all-zero output";
  for (size_t g = 0; g < a.matrices.size(); ++g) {
    const MatrixResult& m = a.matrices[g];
    EXPECT_GT(m.storage_bits, 0.0);
    EXPECT_LE(m.storage_bits, 16.0 * 19 * 45 + 1024) << "more than bf16 plus 1 Kib of metadata";
    if (GetParam() == "bf16") continue;
    ASSERT_FALSE(m.packed.empty()) << "no packed tensors";
    at::Tensor back = method->Dequantize(m.packed);
    EXPECT_TRUE(at::equal(back, a.weight[g])) << "packed format does not read back exactly, matrix " << g;
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryMethod, ::testing::ValuesIn(Methods().Keys()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(EveryMethod);

}  // namespace
}  // namespace qmoe
