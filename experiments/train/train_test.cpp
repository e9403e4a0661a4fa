// Trainer tests: the loss falls on real text; an interrupted + resumed run equals an uninterrupted
// one bit for bit; the export reloads (Checkpoint::Open) to the same logits as the in-memory
// model; the training forward equals SwitchModel::Forward; AdamW matches its formula; recipes
// reject bad keys.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <sys/wait.h>

#include <cmath>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <numeric>
#include <unistd.h>
#include <filesystem>

#include "experiments/eval/router_forward.h"
#include "experiments/train/adamw.h"
#include "experiments/train/model_card.h"
#include "experiments/train/trainer.h"
#include "framework/core/error.h"
#include "framework/data/chunking.h"
#include "framework/data/corpus.h"
#include "framework/io/atomic_file.h"
#include "framework/io/checkpoint.h"
#include "framework/model/random_weights.h"
#include "framework/model/switch_names.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

const std::string kRoot = QMOE_SOURCE_DIR;

SwitchConfig TinyConfig() {
  SwitchConfig c;
  c.name = "tiny-test";
  c.d_model = 16, c.d_ff = 32, c.num_heads = 2, c.d_kv = 8;
  c.num_layers = 2, c.num_decoder_layers = 2, c.num_experts = 4;
  c.vocab_size = 8128;  // the project tokenizer's rows
  return c;
}

fs::path TempDir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("qmoe_train_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TrainRecipe TinyRecipe(const fs::path& out) {
  TrainRecipe r;
  r.path = "tiny-test-recipe";
  r.model = TinyConfig();
  r.train.batch_tokens = 512;
  r.train.max_steps = 40;
  r.train.warmup_steps = 5;
  r.train.lr = 1e-2;
  r.train.log_every = 1000;
  r.train.checkpoint_every = 1000;
  r.train.out_dir = out.string();
  r.train.export_dir = (out / "export").string();
  return r;
}

// Real text: the committed validation documents of one domain, cut into 64-token chunks.
std::vector<std::vector<int32_t>> TextChunks(size_t n) {
  data::Tokenizer tok = data::Tokenizer::Load(kRoot + "/data/tokenizer/spiece.model");
  std::vector<std::vector<int32_t>> out;
  for (const auto& d : data::ReadDocuments(kRoot + "/data/valid/austen.jsonl")) {
    for (auto& c : data::ChunkDocument(tok, d.text, 64)) {
      if (c.size() >= 8) out.push_back(std::move(c));
      if (out.size() >= n) return out;
    }
  }
  return out;
}

TEST(Trainer, LossFallsOnRealText) {
  fs::path dir = TempDir("loss");
  TrainRecipe r = TinyRecipe(dir);
  TrainOptions o;
  o.repo_root = kRoot;
  o.export_model = false;
  TrainSummary s = TrainOnChunks(r, o, TextChunks(256));
  ASSERT_EQ(s.losses.size(), 40u);
  auto mean = [](auto b, auto e) { return std::accumulate(b, e, 0.0) / double(e - b); };
  const double first = mean(s.losses.begin(), s.losses.begin() + 3), last = mean(s.losses.end() - 3, s.losses.end());
  // Start: about ln(8128) = 9.0 nats (near-uniform). Even a bigram-level fit of 40 steps on
  // 256 chunks is worth well over a nat; a broken gradient or optimizer leaves the loss flat.
  EXPECT_GT(first, 8.0);
  EXPECT_LT(last, first - 1.5) << "first " << first << " last " << last;
}

std::map<std::string, at::Tensor> LoadParams(const fs::path& ckpt) {
  auto ck = Checkpoint::Open(ckpt / "params");
  std::map<std::string, at::Tensor> out;
  for (const auto& n : ck->Names()) out[n] = ck->Load(n);
  return out;
}

TEST(Trainer, ResumeEqualsUninterruptedRun) {
  auto chunks = TextChunks(64);
  fs::path a = TempDir("straight"), b = TempDir("resumed");
  TrainRecipe ra = TinyRecipe(a), rb = TinyRecipe(b);
  ra.train.max_steps = rb.train.max_steps = 8;
  ra.train.aux_loss = rb.train.aux_loss = 0.05;  // exercise the router losses too
  TrainOptions o;
  o.repo_root = kRoot;
  o.export_model = false;
  TrainSummary sa = TrainOnChunks(ra, o, chunks);
  o.stop_after_steps = 3;  // "interrupted" after step 3 (checkpoint written on exit)
  TrainSummary sb1 = TrainOnChunks(rb, o, chunks);
  EXPECT_EQ(sb1.steps, 3);
  o.stop_after_steps = -1;
  o.resume = true;
  TrainSummary sb2 = TrainOnChunks(rb, o, chunks);
  EXPECT_EQ(sb2.steps, 8);
  ASSERT_EQ(sb2.losses.size(), 5u);
  // Same data stream, same optimizer state, same float ops in the same order: bit-identical.
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(sa.losses[3 + i], sb2.losses[i]) << "step " << 4 + i;
  auto pa = LoadParams(a / "tiny-test" / "checkpoint"), pb = LoadParams(b / "tiny-test" / "checkpoint");
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& [n, t] : pa) EXPECT_TRUE(at::equal(t, pb.at(n))) << n;
  // And training really moved the weights (the comparison above is not vacuous).
  auto init = RandomSwitchWeights(ra.model, static_cast<uint64_t>(ra.train.seed), at::kFloat, 1.0);
  EXPECT_FALSE(at::equal(init.at("shared.weight"), pa.at("shared.weight")));
}

// The checkpoint folder is replaced whole: a kill -9 at random moments of a run that checkpoints
// every step always leaves a checkpoint that loads and resumes, and a full disk (injected ENOSPC at
// many points of a save) is one clear error that leaves the previous checkpoint exactly as it was.
TEST(Trainer, CheckpointSaveSurvivesKillAndFullDisk) {
  auto chunks = TextChunks(64);
  fs::path d = TempDir("crash");
  TrainRecipe r = TinyRecipe(d);
  r.train.checkpoint_every = 1;
  TrainOptions o;
  o.repo_root = kRoot;
  o.export_model = false;
  o.resume = true;
  const fs::path ck = d / "tiny-test" / "checkpoint";
  auto step_of = [&] { return nlohmann::json::parse(std::ifstream(ck / "state.json")).at("step").get<int64_t>(); };
  // Kill first: the children fork before this process starts any LibTorch worker threads.
  std::mt19937 rng(7);
  int64_t last = 0;
  for (int round = 0; round < 4; ++round) {
    r.train.max_steps = 1000;
    const pid_t pid = ::fork();
    if (pid == 0) {
      TrainOnChunks(r, o, chunks);
      ::_exit(0);
    }
    ::usleep(std::uniform_int_distribution<int>(300000, 1500000)(rng));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the training child ended by itself (status " << status << ")";
    fs::remove_all(ck.string() + ".tmp." + std::to_string(pid));  // the killed writer's staging folder
    if (!fs::exists(ck)) continue;  // killed before its first checkpoint
    const int64_t step = step_of();
    EXPECT_GE(step, last) << "round " << round;
    last = step;
    EXPECT_EQ(LoadParams(ck).size(), SwitchTensorShapes(r.model).size());
    EXPECT_FALSE(Checkpoint::Open(ck / "optimizer")->Names().empty());
  }
  ASSERT_GT(last, 0) << "no kill landed after a checkpoint; the test checked nothing";
  r.train.max_steps = last + 1;
  EXPECT_EQ(TrainOnChunks(r, o, chunks).steps, last + 1);  // resumes from what the kills left

  const auto before = LoadParams(ck);
  const int64_t step_before = step_of();
  uint64_t total = 0;  // bytes of one checkpoint
  for (const auto& e : fs::recursive_directory_iterator(ck)) total += e.is_regular_file() ? e.file_size() : 0;
  r.train.max_steps = step_before + 1;
  // Faults at 0, 1/7, ..., 6/7 of one checkpoint's bytes: always inside the next save, whose size
  // differs from this one's by a few bytes (a fault at the very end could miss a shorter save).
  for (uint64_t i = 0; i < 7; ++i) {
    const uint64_t k = total * i / 7;
    SetWriteFaultForTest(static_cast<int64_t>(k));
    std::string msg = "<no error>";
    try {
      TrainOnChunks(r, o, chunks);
    } catch (const Error& e) {
      msg = e.what();
    }
    SetWriteFaultForTest(-1);
    EXPECT_NE(msg.find("disk full"), std::string::npos) << "fault after " << k << " of " << total << ": " << msg;
    EXPECT_EQ(step_of(), step_before);
    const auto now = LoadParams(ck);
    ASSERT_EQ(now.size(), before.size());
    for (const auto& [n, t] : before) EXPECT_TRUE(at::equal(t, now.at(n))) << n << " after a fault at " << k;
    for (const auto& e : fs::directory_iterator(ck.parent_path()))
      EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  }
}

TEST(Trainer, ExportReloadsToTheSameLogits) {
  SwitchConfig cfg = TinyConfig();
  auto w = RandomSwitchWeights(cfg, 7, at::kFloat, 1.0);
  std::vector<std::pair<std::string, at::Tensor>> ordered;
  for (const auto& s : SwitchTensorShapes(cfg)) ordered.emplace_back(s.name, w.at(s.name));
  fs::path dir = TempDir("export") / "tiny-test";
  TrainRecipe r = TinyRecipe(dir.parent_path());
  r.train.layout = "safetensors_sharded";
  r.train.max_shard_mb = 1;  // several shards: exercises the index
  ExportHfModel(dir, r, ordered, kRoot + "/data/tokenizer/spiece.model");
  EXPECT_TRUE(fs::exists(dir / "model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(dir / "spiece.model"));
  auto reloaded = SwitchModel::FromDirectory(dir.string());
  SwitchModel mem(cfg, std::make_shared<MapWeights>(w));
  PaddedBatch enc = PadBatch({{5, 9, 100, 8000, 1}, {7, 7, 1}}), dec = PadBatch({{0, 8099, 44, 12}, {0, 8099}});
  at::NoGradGuard ng;
  at::Tensor a = mem.Forward(enc.ids, dec.ids, enc.mask, dec.mask);
  at::Tensor b = reloaded->Forward(enc.ids, dec.ids, enc.mask, dec.mask);
  // fp32 written and read back byte for byte, same ops: identical logits.
  EXPECT_TRUE(at::equal(a, b));
  // The training forward is the same composition as Forward: identical logits too.
  RouterAux aux;
  at::Tensor c = TrainForward(mem, enc.ids, enc.mask, dec.ids, dec.mask, &aux);
  EXPECT_TRUE(at::equal(a, c));
  EXPECT_EQ(aux.num_layers, 2);  // one MoE block per stack (block 1)
  int64_t routed = 0;
  for (const auto& l : aux.counts)
    for (int64_t n : l) routed += n;
  EXPECT_EQ(routed, (5 + 3) + (4 + 2));  // non-padding tokens only
}

TEST(AdamW, OneStepMatchesFormula) {
  at::Tensor p = at::tensor({1.0f, -2.0f, 0.5f}).set_requires_grad(true);
  at::Tensor g = at::tensor({0.1f, 0.2f, -0.3f});
  p.mutable_grad() = g.clone();
  AdamW opt({{"p", p}}, AdamWOptions{0.9, 0.99, 1e-8, 0.1}, {{"p", true}});
  opt.Step(0.01);
  // Step 1: m = 0.1 g, v = 0.01 g^2, m̂ = g, v̂ = g^2 -> update = lr * g / (|g| + eps), after decay.
  for (int i = 0; i < 3; ++i) {
    const double p0 = std::vector<double>{1.0, -2.0, 0.5}[i], gi = g[i].item<double>();
    const double want = p0 * (1 - 0.01 * 0.1) - 0.01 * gi / (std::abs(gi) + 1e-8);
    EXPECT_NEAR(p[i].item<double>(), want, 1e-6);  // fp32 arithmetic on O(1) values
  }
}

TEST(Recipe, RejectsUnknownKeysWithSuggestion) {
  YAML::Node n = YAML::Load("model: {name: x, d_model: 16}\ntrain: {max_stpes: 3}\n");
  try {
    RecipeFromYaml(n, "r.yaml");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_stpes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("max_steps"), std::string::npos) << e.what();
  }
  EXPECT_THROW(RecipeFromYaml(YAML::Load("modle: {}\n"), "r.yaml"), Error);
}

TEST(Recipe, ShippedRecipesParse) {
  for (const char* n : {"switch-tiny-8", "switch-tiny-32", "switch-tiny-128"}) {
    TrainRecipe r = LoadRecipe(kRoot + "/configs/train/" + std::string(n) + ".yaml");
    EXPECT_EQ(r.model.name, n);
    // <= ~20 MB in fp32 (the size budget of the shipped models).
    EXPECT_LE(r.model.NumParams() * 4, 21'000'000) << n;
  }
}

}  // namespace
}  // namespace qmoe
