// The "dict" method through the registry: output == inner ternary weights cast to bf16, packed
// fields in the published dtypes/shapes read back exactly, storage = exact bytes, stats,
// UsesHessian follows the inner method, and bad packed input is one clear Error.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "framework/core/error.h"
#include "methods/codec/codec_method.h"
#include "methods/codec/packed_tensors.h"
#include "methods/method.h"

namespace qmoe::dict {
namespace {

using codecs::I32Tensor;
using codecs::InnerParams;
using codecs::MakeTernaryQuantizer;
using codecs::PackedBytes;

QuantTarget Target(int64_t g, int64_t rows, int64_t cols) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(11);
  QuantTarget t;
  t.weight = at::normal(0.0, 0.05, {g, rows, cols}, gen);
  at::Tensor x = at::normal(0.0, 1.0, {g, 4 * cols, cols}, gen);
  t.hessian = at::bmm(x.transpose(1, 2), x);
  for (int64_t e = 0; e < g; ++e) t.names.push_back("expert_" + std::to_string(e) + ".wo");
  return t;
}

at::Tensor Bf16(const at::Tensor& w) { return w.to(at::kBFloat16).to(at::kFloat); }

struct Case {
  std::string quantizer, inner_key;
};

class DictMethodInner : public ::testing::TestWithParam<Case> {};

TEST_P(DictMethodInner, EqualsInnerTernaryInBf16AndReadsBack) {
  const auto& [quantizer, inner_key] = GetParam();
  ParamMap inner_params;
  if (inner_key == "gptq") inner_params = {{"grid", std::string("ternary")}};
  for (const std::string symbols : {"reference", "exact_zeros"}) {
    auto dict = Methods().Get("dict").make({{"quantizer", quantizer}, {"symbols", symbols}});
    auto inner = Methods().Get(inner_key).make(inner_params);
    EXPECT_EQ(dict->UsesHessian(), inner->UsesHessian());
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{19, 45}, {1, 29}, {111, 64}}) {
      const QuantTarget t = Target(2, rows, cols);
      const QuantOutput q = dict->Quantize(t);
      EXPECT_TRUE(at::equal(q.weight, Bf16(inner->Quantize(t).weight))) << rows << "x" << cols;
      for (int64_t e = 0; e < 2; ++e) {
        const MatrixResult& m = q.matrices[e];
        EXPECT_EQ(m.packed.at("w_comp").scalar_type(), at::kShort);
        EXPECT_EQ(m.packed.at("row_off").sizes(), at::IntArrayRef({rows + 1}));
        EXPECT_EQ(m.packed.at("row_off").scalar_type(), at::kInt);
        EXPECT_EQ(m.packed.at("ter_minmax").sizes(), at::IntArrayRef({2 * rows}));
        EXPECT_EQ(m.packed.at("ter_minmax").scalar_type(), at::kBFloat16);
        const int64_t cw = m.packed.at("w_comp").numel();
        EXPECT_EQ(m.storage_bits, 8.0 * double(2 * cw + 4 * (rows + 1) + 4 * rows));
        EXPECT_EQ(m.storage_bits, 8.0 * double(PackedBytes(m.packed, {"shape"})));
        EXPECT_EQ(m.stats.at("codewords"), double(cw));
        EXPECT_GT(m.stats.at("entropy_bits"), 0.0);
        EXPECT_EQ(m.stats.at("natural_sparsity"), (q.weight[e] == 0).sum().item<double>() / double(rows * cols));
        EXPECT_TRUE(at::equal(dict->Dequantize(m.packed), q.weight[e]));
        // The row min/max are the bf16 extremes of the row.
        const at::Tensor mm = m.packed.at("ter_minmax").view({rows, 2}).to(at::kFloat);
        EXPECT_TRUE(at::equal(mm.select(1, 0), std::get<0>(q.weight[e].min(1))));
        EXPECT_TRUE(at::equal(mm.select(1, 1), std::get<0>(q.weight[e].max(1))));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Inner, DictMethodInner,
                         ::testing::Values(Case{"rtn", "ternary"}, Case{"gptq", "gptq"}),
                         [](const auto& i) { return i.param.quantizer; });

TEST(DictMethod, UnknownInnerQuantizerIsAClearError) {
  InnerParams p;
  p.quantizer = "awq";
  try {
    MakeTernaryQuantizer(p, "dict");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("quantizer must be gptq or rtn"), std::string::npos) << e.what();
  }
}

TEST(DictMethod, BadPackedInputIsOneError) {
  auto dict = Methods().Get("dict").make({{"quantizer", std::string("rtn")}});
  const QuantOutput q = dict->Quantize(Target(1, 5, 33));
  const auto& good = q.matrices[0].packed;
  auto expect_error = [&](std::map<std::string, at::Tensor> p, const std::string& needle) {
    try {
      dict->Dequantize(p);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  { auto p = good; p.erase("w_comp"); expect_error(p, "'w_comp' is missing"); }
  { auto p = good; p["row_off"] = p["row_off"].to(at::kLong); expect_error(p, "'row_off' must be a 1-D Int"); }
  { auto p = good; p["row_off"] = p["row_off"].narrow(0, 0, 3); expect_error(p, "'row_off' has 3 entries"); }
  { auto p = good; p["shape"] = I32Tensor({5, 35}); expect_error(p, "decodes"); }
  { auto p = good; p["w_comp"] = p["w_comp"].clone(); p["w_comp"][0] = int16_t(-1); expect_error(p, "overruns"); }
}

}  // namespace
}  // namespace qmoe::dict
