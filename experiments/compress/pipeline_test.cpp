// The pipeline on a tiny random Switch model: validation positions never reach a Hessian (by
// construction), the in-pass loss equals a standalone forward of the same (compressed) weights,
// and the loss aggregation is the length-weighted span-corruption aggregate.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <random>

#include "experiments/compress/pipeline.h"
#include "framework/model/random_weights.h"
#include "framework/model/switch_names.h"
#include "methods/method.h"

namespace qmoe {
namespace {

TEST(CalibrationRows, NeverValidationNeverMaskedFirstCapInOrder) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t total = 500, t_cal = rng() % total;
    std::vector<uint8_t> keep(total);
    for (auto& k : keep) k = rng() % 4 != 0;
    std::vector<int64_t> routed;
    for (int64_t p = 0; p < total; ++p)
      if (rng() % 3 == 0) routed.push_back(p);
    const int64_t cap = int64_t(rng() % 60) - 1;  // -1 = no cap
    auto rows = CalibrationRows(routed, cap, t_cal, keep);
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_LT(rows[i], t_cal) << "a validation position entered a Hessian";
      EXPECT_TRUE(keep[rows[i]]);
      if (i) EXPECT_LT(rows[i - 1], rows[i]);
    }
    // Exactly the premask-kept calibration positions among the first `cap` routed ones.
    size_t expect = 0;
    for (size_t i = 0; i < routed.size() && (cap < 0 || int64_t(i) < cap); ++i)
      expect += routed[i] < t_cal && keep[routed[i]];
    EXPECT_EQ(rows.size(), expect);
  }
}

TEST(SampleLoss, MeanCrossEntropyOfNextTokens) {
  // Logits favour a known token per position; loss = mean of -log softmax at the targets.
  at::Tensor logits = at::zeros({3, 4});
  logits[0][2] = 2.0;
  logits[1][1] = 1.0;
  std::vector<int32_t> ids = {0, 2, 3};
  double l0 = -(2.0 - std::log(std::exp(2.0) + 3.0));
  double l1 = -(0.0 - std::log(std::exp(1.0) + 3.0));
  EXPECT_NEAR(SampleLoss(logits, ids), (l0 + l1) / 2, 1e-6);
}

SwitchConfig TinyConfig() {
  SwitchConfig c;
  c.name = "tiny";
  c.d_model = 16, c.d_ff = 24, c.num_heads = 2, c.d_kv = 8;
  c.num_layers = 2, c.num_decoder_layers = 2, c.num_experts = 4;
  c.encoder_sparse_step = 2, c.decoder_sparse_step = 2;
  c.vocab_size = 60, c.tie_word_embeddings = true, c.dtype = "float32";
  return c;
}

data::Sample RandomSample(std::mt19937& rng, int64_t enc_len, int64_t dec_len) {
  data::Sample s;
  for (int64_t i = 0; i < enc_len; ++i) s.encoder.push_back(3 + rng() % 50);
  s.decoder.push_back(0);
  for (int64_t i = 1; i < dec_len; ++i) s.decoder.push_back(3 + rng() % 50);
  s.encoder_premask.assign(enc_len, 1);
  s.decoder_premask.assign(dec_len, 1);
  return s;
}

double StandaloneLoss(SwitchModel& m, const std::vector<data::SampleSet>& val) {
  double num = 0, den = 0;
  for (const auto& set : val)
    for (const auto& s : set.samples) {
      std::vector<int64_t> e(s.encoder.begin(), s.encoder.end()), d(s.decoder.begin(), s.decoder.end());
      at::Tensor logits = m.Forward(at::tensor(e, at::kLong).unsqueeze(0), at::tensor(d, at::kLong).unsqueeze(0));
      num += SampleLoss(logits[0], s.decoder) * double(s.decoder.size());
      den += double(s.decoder.size());
    }
  return num / den;
}

class PipelineTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PipelineTest, InPassLossEqualsStandaloneForwardOfTheCompressedWeights) {
  SwitchConfig cfg = TinyConfig();
  auto base = std::make_shared<MapWeights>(RandomSwitchWeights(cfg, 11, at::kFloat, 3.0));
  std::mt19937 rng(5);
  std::vector<data::Sample> cal;
  for (int i = 0; i < 12; ++i) cal.push_back(RandomSample(rng, 20 + i, 6 + i % 4));
  data::SampleSet val;
  val.name = "validation/x";
  for (int i = 0; i < 5; ++i) val.samples.push_back(RandomSample(rng, 15 + i, 5 + i));

  const MethodInfo& info = Methods().Get(GetParam());
  auto method = info.make({});
  auto overlay = std::make_shared<OverlayWeights>(base);
  SwitchModel model(cfg, overlay);
  // Record the quantized weights as they are produced, to rebuild the compressed model afterwards.
  auto quantized = std::make_shared<OverlayWeights>(base);
  PipelineCallbacks cb;
  int64_t experts_seen = 0;
  cb.on_expert = [&](const ExpertRecord& r) {
    ++experts_seen;
    const std::string name = ExpertWeightName(r.stack, r.block, r.expert, r.matrix);
    ASSERT_TRUE(overlay->overrides().Has(name));
    quantized->Set(name, overlay->overrides().Get(name).clone());
    EXPECT_LE(r.calibration_tokens, r.routed);
  };
  PipelineOptions opt;
  opt.group_experts = 3;  // groups that do not divide the expert count
  PipelineResult res = RunPipeline(model, *overlay, method.get(), GetParam(), {}, 1, cal, {val}, opt, cb);
  EXPECT_EQ(experts_seen, 2 * 2 * 4) << "every expert matrix of every MoE block";
  SwitchModel standalone(cfg, quantized);
  const double expect = StandaloneLoss(standalone, {val});
  // Same weights and the same ops per sample; only the order of a few reductions differs (the
  // pipeline adds expert outputs per expert, the model per batch). fp32 relative error of a loss
  // of O(1) over ~100 ops: well below 1e-5.
  EXPECT_NEAR(res.loss.at("all").loss_nats, expect, 1e-5 * std::max(1.0, expect));
  EXPECT_NEAR(res.loss.at("validation/x").loss_nats, expect, 1e-5 * std::max(1.0, expect));
  EXPECT_EQ(res.loss.at("all").samples, 5);
  if (GetParam() != "bf16") {
    SwitchModel uncompressed(cfg, base);
    EXPECT_GT(std::abs(StandaloneLoss(uncompressed, {val}) - expect), 1e-6) << "compression changed nothing";
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, PipelineTest, ::testing::Values("rtn", "ternary", "gptq"));

}  // namespace
}  // namespace qmoe
