// The "rans" method through the registry: same weights as "dict" (inner ternary in bf16),
// packed fields read back exactly, storage = sum of counted fields, bad packed input rejected.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "framework/core/error.h"
#include "codecs/rans/rans_codec.h"
#include "methods/codec/packed_tensors.h"
#include "methods/method.h"
#include "methods/codec/codec_method.h"

namespace qmoe::rans {
namespace {

QuantTarget Target(int64_t g, int64_t rows, int64_t cols) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(13);
  QuantTarget t;
  t.weight = at::normal(0.0, 0.05, {g, rows, cols}, gen);
  at::Tensor x = at::normal(0.0, 1.0, {g, 4 * cols, cols}, gen);
  t.hessian = at::bmm(x.transpose(1, 2), x);
  return t;
}

TEST(RansMethod, SameWeightsAsDictAndReadsBack) {
  for (const std::string quantizer : {"rtn", "gptq"}) {
    auto rans = Methods().Get("rans").make({{"quantizer", quantizer}, {"chunk_weights", int64_t(200)}});
    auto dict = Methods().Get("dict").make({{"quantizer", quantizer}});
    EXPECT_EQ(rans->UsesHessian(), quantizer == "gptq");
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{19, 45}, {1, 29}, {111, 64}}) {
      const QuantTarget t = Target(2, rows, cols);
      const QuantOutput q = rans->Quantize(t);
      EXPECT_TRUE(at::equal(q.weight, dict->Quantize(t).weight)) << quantizer << " " << rows << "x" << cols;
      for (int64_t e = 0; e < 2; ++e) {
        const MatrixResult& m = q.matrices[e];
        EXPECT_EQ(m.storage_bits, 8.0 * double(codecs::PackedBytes(m.packed, {"shape"})));
        EXPECT_EQ(m.packed.at("freq").numel(), kSymbols);
        EXPECT_EQ(m.packed.at("ter_minmax").scalar_type(), at::kBFloat16);
        EXPECT_TRUE(at::equal(rans->Dequantize(m.packed), q.weight[e]));
        EXPECT_GT(m.stats.at("entropy_pair_bits"), 0.0);
      }
    }
  }
}

// Version 1 wrote 4 streams; such packed matrices still read back, and every stream count
// round-trips through the method.
TEST(RansMethod, EveryStreamCountReadsBack) {
  const QuantTarget t = Target(1, 37, 130);
  for (int64_t streams : {1, 4, 8, 16, 32}) {
    auto rans = Methods().Get("rans").make(
        {{"quantizer", std::string("rtn")}, {"chunk_weights", int64_t(1000)}, {"streams", streams}});
    const QuantOutput q = rans->Quantize(t);
    EXPECT_EQ(q.matrices[0].packed.at("rans_meta")[1].item<int32_t>(), streams);
    EXPECT_TRUE(at::equal(rans->Dequantize(q.matrices[0].packed), q.weight[0])) << streams << " streams";
  }
}

TEST(RansMethod, BadPackedInputIsOneError) {
  auto rans = Methods().Get("rans").make({{"quantizer", std::string("rtn")}, {"chunk_weights", int64_t(40)}});
  const QuantOutput q = rans->Quantize(Target(1, 7, 33));
  const auto& good = q.matrices[0].packed;
  auto expect_error = [&](std::map<std::string, at::Tensor> p, const std::string& needle) {
    try {
      rans->Dequantize(p);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  { auto p = good; p.erase("freq"); expect_error(p, "'freq' is missing"); }
  { auto p = good; p["rans_meta"] = codecs::I32Tensor({1, 33}); expect_error(p, "streams must be in [1, 32]"); }
  { auto p = good; p["rans_meta"] = codecs::I32Tensor({1, 0}); expect_error(p, "streams must be in [1, 32]"); }
  // The stream count is part of the format: the 8-stream data read as 4 streams is corrupt.
  ASSERT_EQ(good.at("rans_meta")[1].item<int32_t>(), 8);  // auto for a small matrix
  { auto p = good; p["rans_meta"] = codecs::I32Tensor({1, 4}); expect_error(p, "rans matrix: chunk"); }
  { auto p = good; p["freq"] = p["freq"].clone(); p["freq"][0] += 1; expect_error(p, "frequencies sum"); }
  { auto p = good; p["rans_words"] = p["rans_words"].clone(); p["rans_words"][9] += 1; expect_error(p, "rans matrix: chunk"); }
}

}  // namespace
}  // namespace qmoe::rans
