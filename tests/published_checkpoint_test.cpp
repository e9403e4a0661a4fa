// The published QMoE layout (noexp.pt / expNN.pt / sizes.pt) works wherever a model directory does:
// detected once (serving/model_dir.h), evaluated by `eval`, evaluated without further
// compression by `compress`, and served from its packed codes by `runtime`. On a tiny directory
// written here (vocabulary sized for the shipped tokenizer, so the committed validation data runs).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>

#include "experiments/compress/compress_experiment.h"
#include "experiments/eval/eval_experiment.h"
#include "experiments/runtime/runtime_experiment.h"
#include "serving/model_dir.h"
#include "serving/published_fixture.h"
#include "serving/qmoe_published.h"
#include "framework/data/samples.h"

namespace qmoe {
namespace {
namespace fs = std::filesystem;

struct TmpDir {
  fs::path p = fs::temp_directory_path() / ("qmoe_published_ckpt_" + std::to_string(getpid()));
  TmpDir() { fs::create_directories(p); }
  ~TmpDir() { fs::remove_all(p); }
};

SwitchConfig Tiny(const fs::path& dir) {
  SwitchConfig c;
  c.name = "tiny-published";
  c.d_model = 16, c.d_ff = 27, c.num_heads = 2, c.d_kv = 6, c.num_layers = 2, c.num_decoder_layers = 2;
  c.num_experts = 3, c.vocab_size = 8128, c.dtype = "float32";
  c.path = dir.string();
  return c;
}

// Runs one experiment on the model section `cfg` (2 validation samples per domain) into a fresh
// run of `db`; returns its metrics by name (domain-less rows).
std::map<std::string, double> RunOn(Experiment&& ex, const SwitchConfig& cfg, ResultsDb& db) {
  YAML::Node config;
  data::DataParams dp;
  dp.n_validation_per_domain = 2;
  std::map<std::string, ParamMap> sections{{"model", ToParamMap(cfg)}, {"data", ToParamMap(dp)}};
  RunRecord rec;
  rec.key = "published-" + std::to_string(std::rand());
  rec.experiment = "test";
  const int64_t run = db.BeginRun(rec);
  RunContext ctx{config, sections, db, run, 0, ""};
  ex.Run(ctx);
  ctx.Flush();
  std::map<std::string, double> out;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db.handle(), "SELECT name, value FROM metrics WHERE run_id = ? AND domain = ''", -1, &st, nullptr);
  sqlite3_bind_int64(st, 1, run);
  while (sqlite3_step(st) == SQLITE_ROW)
    out[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] = sqlite3_column_double(st, 1);
  sqlite3_finalize(st);
  return out;
}

TEST(PublishedCheckpoint, DetectedOnceAndOpenedAsItsLayout) {
  TmpDir tmp;
  WritePublishedQmoeDir(tmp.p / "pub", Tiny(tmp.p / "pub"), 3);
  EXPECT_EQ(DetectModelDirLayout(tmp.p / "pub"), ModelDirLayout::kPublished);
  EXPECT_TRUE(IsCompressedModelDir(tmp.p / "pub"));
  auto w = OpenModelDirWeights(tmp.p / "pub");
  EXPECT_NE(dynamic_cast<const PublishedQmoeWeights*>(w.get()), nullptr);
  EXPECT_EQ(OpenPackedExperts(*w, Tiny(tmp.p / "pub"))->num_experts(), 2 * 3);
  // Without exp00.pt it is not that layout (and not compressed).
  fs::create_directories(tmp.p / "hf");
  WriteHfConfig(Tiny(tmp.p / "hf"), tmp.p / "hf");
  EXPECT_EQ(DetectModelDirLayout(tmp.p / "hf"), ModelDirLayout::kHf);
  EXPECT_FALSE(IsCompressedModelDir(tmp.p / "hf"));
  EXPECT_STREQ(ModelDirLayoutName(ModelDirLayout::kPublished), "published");
}

TEST(PublishedCheckpoint, EvalCompressAndRuntimeTakeItAsModelPath) {
  TmpDir tmp;
  const fs::path dir = tmp.p / "pub";
  const SwitchConfig cfg = Tiny(dir);
  WritePublishedQmoeDir(dir, cfg, 3);
  ResultsDb db((tmp.p / "r.db").string());

  auto eval = RunOn(EvalExperiment(EvalExperiment::Params{}), cfg, db);
  ASSERT_TRUE(eval.count("loss_nats"));
  EXPECT_TRUE(std::isfinite(eval["loss_nats"]));
  EXPECT_EQ(eval["validation_samples"], 2.0 * 6);  // six shipped validation domains

  // compress: no further compression (no compress_seconds, nothing saved), the same evaluation.
  CompressExperiment::Params cp;
  cp.save = (tmp.p / "never").string();
  auto comp = RunOn(CompressExperiment(cp), cfg, db);
  EXPECT_EQ(comp.count("compress_seconds"), 0u);
  EXPECT_FALSE(fs::exists(tmp.p / "never"));
  EXPECT_EQ(comp["loss_nats"], eval["loss_nats"]);

  // runtime: experiment.compressed empty, model.path compressed -> served from the packed codes.
  RuntimeExperiment::Params rp;
  rp.tokens = 4, rp.samples = 2, rp.baseline = "shared";
  auto run = RunOn(RuntimeExperiment(rp), cfg, db);
  EXPECT_GT(run["expert_packed_bytes"], 0.0);
  EXPECT_EQ(run["simulated_token_agreement"], 1.0);
  // The dense baseline needs an uncompressed model, which model.path is not here.
  rp.baseline = "dense";
  EXPECT_THROW(RunOn(RuntimeExperiment(rp), cfg, db), Error);
}

}  // namespace
}  // namespace qmoe
