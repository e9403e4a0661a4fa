// The `runtime` experiment end to end on a tiny dict-compressed model written here (shared
// baseline, so no uncompressed checkpoint is needed), and its bad-input errors.
#include "experiments/runtime/runtime_experiment.h"
#include "experiments/runtime/kernels_experiment.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "serving/compressed_model.h"
#include "framework/core/error.h"
#include "framework/data/samples.h"
#include "framework/model/random_weights.h"
#include "framework/model/switch_names.h"
#include "codecs/dict/dict_codec.h"
#include "methods/codec/codec_method.h"
#include "methods/codec/packed_tensors.h"

namespace qmoe {
namespace {
namespace fs = std::filesystem;

struct TmpDir {
  fs::path p = fs::temp_directory_path() / ("qmoe_runtime_test_" + std::to_string(getpid()));
  TmpDir() { fs::create_directories(p); }
  ~TmpDir() { fs::remove_all(p); }
};

// Vocabulary large enough for the shipped tokenizer (8100 ids + sentinels), everything else tiny.
SwitchConfig Tiny() {
  SwitchConfig c;
  c.name = "tiny-runtime";
  c.d_model = 16, c.d_ff = 27, c.num_heads = 2, c.d_kv = 6, c.num_layers = 2, c.num_decoder_layers = 2;
  c.num_experts = 4, c.vocab_size = 8128, c.dtype = "float32";
  return c;
}

void WriteCompressed(const SwitchConfig& cfg, const fs::path& dir) {
  WriteHfConfig(cfg, dir / "src");
  std::ifstream f(dir / "src" / "config.json");
  std::stringstream text;
  text << f.rdbuf();
  auto w = RandomSwitchWeights(cfg, 5, at::kFloat, 3.0);
  CompressedModelWriter writer(dir / "comp", "dict", ToParamMap(codecs::InnerParams{}), 1, text.str());
  for (Stack s : {Stack::kEncoder, Stack::kDecoder})
    for (int64_t b = 0; b < cfg.NumBlocks(s); ++b) {
      if (!cfg.IsSparse(s, b)) continue;
      std::vector<MatrixResult> results;
      std::vector<std::string> names;
      std::vector<std::pair<int64_t, int64_t>> shapes;
      for (int64_t e = 0; e < cfg.num_experts; ++e)
        for (const char* m : {"wi", "wo"}) {
          const std::string name = ExpertWeightName(s, b, e, m);
          at::Tensor x = w.at(name);
          at::Tensor hi = at::clamp_min(std::get<0>(x.max(1, true)), 0).to(at::kBFloat16).to(at::kFloat);
          at::Tensor lo = at::clamp_max(std::get<0>(x.min(1, true)), 0).to(at::kBFloat16).to(at::kFloat);
          at::Tensor q = at::where(x > hi / 2, hi, at::where(x < lo / 2, lo, at::zeros_like(x))).contiguous();
          auto enc = dict::Encode(ternary::SymbolsFromTernary(q.data_ptr<float>(), q.size(0), q.size(1),
                                                           ternary::SymbolMode::kReference));
          MatrixResult r;
          r.packed = codecs::ToTensors(dict::Pack(enc));
          r.storage_bits = 8.0 * double(dict::ExactBytes(enc));
          results.push_back(std::move(r));
          names.push_back(name);
          shapes.emplace_back(enc.rows, enc.cols);
        }
      std::vector<std::pair<std::string, const MatrixResult*>> mats;
      for (size_t i = 0; i < results.size(); ++i) mats.emplace_back(names[i], &results[i]);
      writer.WriteExpertBlock(StrCat(StackName(s), "-", b), mats, shapes);
    }
  std::vector<std::pair<std::string, at::Tensor>> dense;
  for (const auto& t : SwitchTensorShapes(cfg))
    if (!t.is_expert) dense.emplace_back(t.name, w.at(t.name));
  writer.Finish(dense);
}

double MetricValue(ResultsDb& db, int64_t run, const std::string& name) {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db.handle(), "SELECT value FROM metrics WHERE run_id = ? AND name = ?", -1, &st, nullptr);
  sqlite3_bind_int64(st, 1, run);
  sqlite3_bind_text(st, 2, name.c_str(), -1, SQLITE_TRANSIENT);
  double v = -1e300;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_double(st, 0);
  sqlite3_finalize(st);
  return v;
}

struct Ctx {
  YAML::Node config;
  std::map<std::string, ParamMap> sections;
  std::unique_ptr<ResultsDb> db;
  int64_t run_id = 0;
  Ctx(const fs::path& dir, const SwitchConfig& cfg) {
    sections["model"] = ToParamMap(cfg);
    sections["data"] = ToParamMap(data::DataParams{});
    db = std::make_unique<ResultsDb>((dir / "r.db").string());
    RunRecord rec;
    rec.key = "runtime-test";
    rec.experiment = "runtime";
    run_id = db->BeginRun(rec);
  }
  RunContext Get() { return RunContext{config, sections, *db, run_id, 0, ""}; }
};

TEST(RuntimeExperiment, TimesSharedBaselineAndWritesMetrics) {
  TmpDir tmp;
  const SwitchConfig cfg = Tiny();
  WriteCompressed(cfg, tmp.p);
  Ctx c(tmp.p, cfg);
  RuntimeExperiment::Params p;
  p.compressed = (tmp.p / "comp").string();
  p.tokens = 5, p.samples = 3, p.baseline = "shared";
  RunContext ctx = c.Get();
  RuntimeExperiment(p).Run(ctx);
  ctx.Flush();  // the runner does this when an experiment returns
  EXPECT_EQ(MetricValue(*c.db, c.run_id, "timed_samples"), 2.0);  // the first prompt is the warm-up
  const double tc = MetricValue(*c.db, c.run_id, "generate_seconds_compressed");
  const double tb = MetricValue(*c.db, c.run_id, "generate_seconds_baseline");
  ASSERT_GT(tc, 0.0);
  ASSERT_GT(tb, 0.0);
  EXPECT_NEAR(MetricValue(*c.db, c.run_id, "runtime_overhead"), tc / tb - 1.0, 1e-12);
  EXPECT_NEAR(MetricValue(*c.db, c.run_id, "tokens_per_second_compressed"), 5.0 / tc, 1e-9 * 5.0 / tc);
  EXPECT_GT(MetricValue(*c.db, c.run_id, "expert_packed_bytes"), 0.0);
  // Kernels vs dequantized experts: the logits differ only by bf16 activation rounding (bounded in
  // dict_experts_test); the inputs are deterministic and no greedy step of this model is that close
  // to a tie, so every token agrees (a wrong expert, layer or dtype path would not).
  EXPECT_EQ(MetricValue(*c.db, c.run_id, "simulated_token_agreement"), 1.0);
  EXPECT_EQ(MetricValue(*c.db, c.run_id, "generated_token_agreement"), -1e300);  // dense baseline only
}

TEST(RuntimeExperiment, BadInputIsOneClearError) {
  TmpDir tmp;
  const SwitchConfig cfg = Tiny();
  Ctx c(tmp.p, cfg);
  RuntimeExperiment::Params p;
  p.compressed = (tmp.p / "nowhere").string();
  RunContext ctx = c.Get();
  try {
    RuntimeExperiment(p).Run(ctx);
    FAIL() << "missing directory accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("experiment.compressed"), std::string::npos) << e.what();
  }
  WriteCompressed(cfg, tmp.p);
  p.compressed = (tmp.p / "comp").string();
  p.baseline = "dense";  // model.path is empty in the test's model section
  try {
    RuntimeExperiment(p).Run(ctx);
    FAIL() << "dense baseline without model.path accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.path"), std::string::npos) << e.what();
  }
}


// The kernels experiment: every stored ratio is the named baseline's seconds, in the same run, at
// the same shape, batch and threads, over the row's seconds; that baseline is the fastest dense
// kernel there; and the run records the machine.
TEST(KernelsExperiment, RatiosComeFromSameRunFastestDenseBaseline) {
  TmpDir tmp;
  Ctx c(tmp.p, Tiny());
  KernelsExperiment::Params p;
  p.shapes = "64x256,96x64";
  p.batches = "1,4";
  p.threads = "1,2";
  p.repeats = 3;
  p.calls = 2;
  p.cache_factor = 0;
  p.gemm_batches = "";
  RunContext ctx = c.Get();
  KernelsExperiment(p).Run(ctx);
  ctx.Flush();
  sqlite3* db = c.db->handle();
  auto count = [&](const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    int64_t n = -1;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
  };
  const std::string run = std::to_string(c.run_id);
  // 2 shapes x 2 batches x 2 thread counts, each with a bf16 GEMV row and at least one dict path.
  EXPECT_EQ(count("SELECT count(DISTINCT rows || 'x' || cols || '/' || batch || '/' || threads) FROM kernel_timings "
                  "WHERE kernel LIKE 'bf16_gemv_%' AND run_id = " + run),
            8);
  EXPECT_GE(count("SELECT count(*) FROM kernel_timings WHERE kernel LIKE 'dict_%' AND run_id = " + run), 8);
  // The dict rows and the dense rows (the rans rows' baseline is the dict kernel timed beside them,
  // checked below).
  const std::string rows = "FROM kernel_timings k WHERE k.run_id = " + run +
                           " AND k.baseline != '' AND k.kernel NOT LIKE 'rans_matvec_%'";
  const std::string base = "SELECT b.seconds FROM kernel_timings b WHERE b.run_id = k.run_id AND b.kernel = k.baseline "
                           "AND b.rows = k.rows AND b.cols = k.cols AND b.batch = k.batch AND b.threads = k.threads";
  const int64_t n = count("SELECT count(*) " + rows);
  EXPECT_GE(n, 16);
  // Every baseline exists in this run at the same point, once.
  EXPECT_EQ(count("SELECT count(*) " + rows + " AND (SELECT count(*) FROM (" + base + ")) = 1"), n);
  // ratio = baseline seconds / row seconds (to the double rounding of the division).
  EXPECT_EQ(count("SELECT count(*) " + rows + " AND abs(k.ratio - (" + base + ") / k.seconds) <= 1e-9 * k.ratio"), n);
  // The baseline is the fastest dense kernel (bf16 GEMV, OpenBLAS) at that point.
  EXPECT_EQ(count("SELECT count(*) " + rows + " AND (" + base + ") <= (SELECT min(d.seconds) FROM kernel_timings d "
                  "WHERE d.run_id = k.run_id AND d.rows = k.rows AND d.cols = k.cols AND d.batch = k.batch AND "
                  "d.threads = k.threads AND (d.kernel LIKE 'bf16_gemv_%' OR d.kernel LIKE 'openblas_%'))"),
            n);
  EXPECT_EQ(count("SELECT count(*) " + rows + " AND k.baseline NOT LIKE 'bf16_gemv_%' AND k.baseline NOT LIKE "
                  "'openblas_%'"),
            0);
  EXPECT_EQ(count("SELECT count(*) FROM kernel_timings WHERE run_id = " + run +
                  " AND kernel LIKE 'rans_matvec_%' AND (baseline NOT LIKE 'sub1_matvec_%' OR ratio <= 0)"),
            0);
  for (const char* key : {"measured.cpu_model", "measured.cpu_isa", "measured.threads", "measured.openblas_core"})
    EXPECT_EQ(count("SELECT count(*) FROM run_params WHERE value != '' AND key = '" + std::string(key) +
                    "' AND run_id = " + run),
              1)
        << key;
  EXPECT_GT(MetricValue(*c.db, c.run_id, "stream_read_gbytes_per_s_t1"), 0.0);
  EXPECT_GT(MetricValue(*c.db, c.run_id, "stream_read_gbytes_per_s_t2"), 0.0);
}

TEST(KernelsExperiment, UnknownDictPathIsAnErrorNamingTheKnownOnes) {
  TmpDir tmp;
  Ctx c(tmp.p, Tiny());
  KernelsExperiment::Params p;
  p.shapes = "64x256";
  p.paths = "avx9000";
  RunContext ctx = c.Get();
  try {
    KernelsExperiment(p).Run(ctx);
    FAIL() << "unknown path accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("avx9000"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("scalar"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qmoe
