// Evaluator tests: the length-weighted aggregate equals a hand computation (per-sample mean over L-1
// targets, weighted by L_i) on a tiny random model, independent of batching; the unigram
// baseline; forward input files; and every shipped model reproduces its model card.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cfloat>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "experiments/eval/eval_experiment.h"
#include "experiments/eval/forward_command.h"
#include "experiments/eval/span_loss.h"
#include "framework/core/error.h"
#include "framework/data/samples.h"
#include "framework/model/random_weights.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

const std::string kRoot = QMOE_SOURCE_DIR;

SwitchConfig Tiny() {
  SwitchConfig c;
  c.name = "tiny-eval";
  c.d_model = 16, c.d_ff = 24, c.num_heads = 2, c.d_kv = 8;
  c.num_layers = 2, c.num_decoder_layers = 2, c.num_experts = 4, c.vocab_size = 50;
  return c;
}

data::Sample MakeSample(std::vector<int32_t> enc, std::vector<int32_t> dec) {
  data::Sample s;
  s.doc_id = "test";
  s.encoder = std::move(enc), s.decoder = std::move(dec);
  return s;
}

// Hand computation: each sample alone (no padding), CE summed in double by explicit loops.
double HandLoss(SwitchModel& m, const data::Sample& s) {
  at::NoGradGuard ng;
  at::Tensor e = at::tensor(std::vector<int64_t>(s.encoder.begin(), s.encoder.end())).unsqueeze(0);
  at::Tensor d = at::tensor(std::vector<int64_t>(s.decoder.begin(), s.decoder.end())).unsqueeze(0);
  at::Tensor logits = m.Forward(e, d).to(at::kDouble)[0];
  double sum = 0;
  for (size_t t = 0; t + 1 < s.decoder.size(); ++t) {
    at::Tensor row = logits[static_cast<int64_t>(t)];
    const double mx = row.max().item<double>();
    const double lse = mx + std::log((row - mx).exp().sum().item<double>());
    sum += lse - row[s.decoder[t + 1]].item<double>();
  }
  return sum / double(s.decoder.size() - 1);
}

TEST(SpanLoss, AggregateWeightsSamplesByDecoderLength) {
  SwitchModel m(Tiny(), std::make_shared<MapWeights>(RandomSwitchWeights(Tiny(), 3, at::kFloat, 4.0)));
  // Decoder lengths 2, 5 and 9, encoders of different lengths too: padding is exercised.
  std::vector<data::Sample> samples = {MakeSample({3, 4, 49, 1}, {0, 49}),
                                       MakeSample({5, 6, 7, 8, 9, 48, 10, 1}, {0, 48, 11, 12, 47}),
                                       MakeSample({20, 21, 1}, {0, 49, 22, 23, 24, 48, 25, 26, 47})};
  std::vector<double> hand;
  double num = 0, den = 0, tok_num = 0, tok_den = 0;
  for (const auto& s : samples) {
    hand.push_back(HandLoss(m, s));
    num += hand.back() * double(s.decoder.size()), den += double(s.decoder.size());
    tok_num += hand.back() * double(s.decoder.size() - 1), tok_den += double(s.decoder.size() - 1);
  }
  const double want = num / den, per_token = tok_num / tok_den;
  const double per_doc = (hand[0] + hand[1] + hand[2]) / 3;
  // The hand loss and the evaluator differ only in float rounding: fp32 logits (batched vs
  // single GEMMs sum in another order: a few ulps of the O(|logit|) terms) and fp32 vs double
  // log-softmax. 64 fp32 ulps of the loss scale covers both with margin; the weighting rules
  // differ by orders of magnitude more (checked below), so the test still separates them.
  const double tol = 64 * FLT_EPSILON * std::max(1.0, want);
  ASSERT_GT(std::abs(want - per_token), 10 * tol) << "test data cannot tell the weightings apart";
  ASSERT_GT(std::abs(want - per_doc), 10 * tol) << "test data cannot tell the weightings apart";
  for (int64_t batch : {1, 2, 3}) {
    SpanLoss l = EvaluateSpanCorruption(m, samples, batch);
    EXPECT_NEAR(l.loss, want, tol) << "batch " << batch;
    EXPECT_EQ(l.n_samples, 3);
    EXPECT_EQ(l.n_targets, 1 + 4 + 8);
    ASSERT_EQ(l.sample_loss.size(), 3u);
    for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(l.sample_loss[i], hand[i], tol) << "sample " << i;
  }
}

TEST(SpanLoss, UnigramMatchesHandComputation) {
  std::vector<int64_t> counts = {0, 3, 1, 6};  // V = 4, N = 10 -> p = (c+1)/14
  std::vector<data::Sample> s = {MakeSample({1}, {0, 3, 1}), MakeSample({1}, {0, 2, 3, 3, 1})};
  const double l0 = -(std::log(7 / 14.) + std::log(4 / 14.)) / 2;
  const double l1 = -(std::log(2 / 14.) + 2 * std::log(7 / 14.) + std::log(4 / 14.)) / 4;
  SpanLoss u = UnigramSpanLoss(counts, s);
  EXPECT_NEAR(u.loss, (l0 * 3 + l1 * 5) / 8, 1e-12);  // double arithmetic on a few terms
}

TEST(Forward, ReadsRaggedJsonAndRejectsBadInput) {
  fs::path dir = fs::temp_directory_path() / ("qmoe_eval_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "in.json") << R"({"encoder_ids": [[5, 6, 1], [7, 1]], "decoder_ids": [[0, 9], [0]]})";
  ForwardInput in = ReadForwardInput((dir / "in.json").string());
  EXPECT_EQ(in.encoder_ids.sizes(), at::IntArrayRef({2, 3}));
  EXPECT_EQ(in.encoder_mask.sum().item<int64_t>(), 5);
  EXPECT_EQ(in.decoder_mask.sum().item<int64_t>(), 3);
  std::ofstream(dir / "bad.json") << R"({"encoder_ids": [[5, -6]], "decoder_ids": [[0]]})";
  try {
    ReadForwardInput((dir / "bad.json").string());
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("encoder_ids"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// Every shipped model reproduces the numbers of its card. The card was computed by the same code
// (model_card.cpp) on the same samples with the same batching, so the only freedom is the BLAS
// kernel choice (OpenBLAS picks blocking by CPU): per-logit differences of a few fp32 ulps, i.e. a
// relative loss difference well below 16 * FLT_EPSILON, which is the tolerance.
void CheckCard(const std::string& name, bool full) {
  const fs::path dir = fs::path(kRoot) / "models" / name;
  ASSERT_TRUE(fs::exists(dir / "card.json")) << dir;
  nlohmann::json card = nlohmann::json::parse(std::ifstream(dir / "card.json"));
  auto model = SwitchModel::FromDirectory(dir.string());
  data::DataParams dp;
  dp.n_validation_per_domain = full ? card["domains"].begin()->at("n_samples").get<int64_t>()
                                    : card["check"]["samples_per_domain"].get<int64_t>();
  data::Tokenizer tok = data::LoadTokenizer(dp, kRoot);
  std::vector<double> loss;
  std::vector<int64_t> len;
  for (const auto& set : data::BuildValidationSets(dp, tok, kRoot)) {
    EXPECT_EQ(set.protocol_id, card["protocol_id"].get<std::string>());
    const std::string domain = set.name.substr(set.name.find('/') + 1);
    SpanLoss l = EvaluateSpanCorruption(*model, set.samples, card["eval_batch_size"].get<int64_t>());
    const double want = full ? card["domains"][domain]["loss_nats"].get<double>()
                             : card["check"]["domains"][domain].get<double>();
    EXPECT_NEAR(l.loss, want, 16 * FLT_EPSILON * want) << name << " " << domain;
    loss.insert(loss.end(), l.sample_loss.begin(), l.sample_loss.end());
    len.insert(len.end(), l.decoder_len.begin(), l.decoder_len.end());
  }
  const double want = full ? card["aggregate"]["loss_nats"].get<double>() : card["check"]["aggregate"].get<double>();
  EXPECT_NEAR(AggregateSpanLoss(loss, len), want, 16 * FLT_EPSILON * want) << name;
  // The card's loss must be a trained model's: well below the unigram baseline.
  EXPECT_LT(card["aggregate"]["loss_nats"].get<double>(), card["aggregate"]["unigram_loss_nats"].get<double>() - 0.3);
}

TEST(ShippedModels, ReproduceTheirModelCards) {
  const bool full = std::getenv("QMOE_FULL_CARD_CHECK") != nullptr;
  for (const char* n : {"switch-tiny-8", "switch-tiny-32", "switch-tiny-128"}) CheckCard(n, full);
}

TEST(EvalModelSection, MismatchedArchitectureNamesTheKey) {
  SwitchConfig c;  // switch-base-8 defaults
  c.path = "models/switch-tiny-8";
  try {
    LoadSectionModel(c);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.d_model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qmoe
