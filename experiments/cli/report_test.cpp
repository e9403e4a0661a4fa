// `qmoe report` on a database that mixes models, grids, data settings, seeds, an old replicate
// and a capped calibration request: every table is checked cell by cell against values computed
// by hand from the runs below.
#include "experiments/cli/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "experiments/cli/report_runs.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/results/results_db.h"
#include "framework/results/test_db.h"

namespace qmoe {
namespace {

using testing_results::FreshDbPath;

const std::string kA = "switch-tiny-8", kB = "switch-tiny-32";

struct Spec {
  std::string model = kA, method = "gptq", grid, bits;
  std::string mul = "1", mask = "true", nval = "128", group = "16";
  int64_t seed = 0;
  bool seed_scheme = true;  // false: an old row from before seeds drew the calibration data
  double loss = NAN, sparsity = NAN, secs = NAN;
  int64_t requested = -1, used = -1;  // -1: from the method (625 with a Hessian at 1x)
  std::map<std::string, double> domains;
  std::map<std::string, double> layers;  // layer_compress_seconds by layer name
  std::string samples_metric = "validation_samples";
  double samples = 768;
  std::string quantizer = "gptq";        // dict / rans only
  std::map<std::string, double> extra;   // more run-level metrics
};

int64_t Add(ResultsDb& db, const Spec& s) {
  static int n = 0;
  RunRecord r;
  r.key = "k" + std::to_string(++n);
  r.experiment = "compress";
  r.method = s.method;
  r.model = s.model;
  r.seed = s.seed;
  r.code_version = "qmoe 0.1; experiment compress v1; method " + s.method + " v1" +
                   (s.seed != 0 && s.seed_scheme ? "; seeds v1" : "");
  r.params = {{"seed", std::to_string(s.seed)},
              {"model.name", s.model},
              {"model.num_experts", s.model == kA ? "8" : "32"},
              {"data.mask_special", s.mask},
              {"data.n_validation_per_domain", s.nval},
              {"experiment.type", "compress"},
              {"experiment.calibration_mul", s.mul},
              {"experiment.calibration_samples", "0"},
              {"experiment.group_experts", s.group},
              {"results.dir", "results/runs" + std::to_string(n)},  // never splits a table
              {"method.name", s.method}};
  if (!s.grid.empty()) r.params["method.grid"] = s.grid;
  if (!s.bits.empty()) r.params["method.bits"] = s.bits;
  if (s.method == "gptq" || s.method == "dict") r.params["method.damp"] = "0.1";
  const bool coded = s.method == "dict" || s.method == "rans";
  if (coded) r.params["method.quantizer"] = s.quantizer;
  const int64_t id = db.BeginRun(r);
  const bool hessian = s.method == "gptq" || (coded && s.quantizer == "gptq");
  const double mul = std::stod(s.mul);
  const int64_t req = s.requested >= 0 ? s.requested : hessian ? std::llround(625 * mul) : 0;
  const int64_t used = s.used >= 0 ? s.used : req;
  db.AddMetric(id, "calibration_samples_requested", double(req));
  db.AddMetric(id, "calibration_samples", double(used));
  db.AddMetric(id, s.samples_metric, s.samples);
  if (!std::isnan(s.loss)) db.AddMetric(id, "loss_nats", s.loss);
  if (!std::isnan(s.sparsity)) db.AddMetric(id, "natural_sparsity", s.sparsity);
  if (!std::isnan(s.secs)) db.AddMetric(id, "compress_seconds", s.secs);
  for (const auto& [d, v] : s.domains) db.AddMetric(id, "loss_nats", v, "nats", {"", -1, "", d});
  for (const auto& [l, v] : s.layers) db.AddMetric(id, "layer_compress_seconds", v, "s", {l, -1, "", ""});
  for (const auto& [name, v] : s.extra) db.AddMetric(id, name, v);
  db.FinishRun(id, "done");
  return id;
}

// The mixed database; the comments give the cells the report must print.
class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = FreshDbPath("report_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    ResultsDb db(path_);
    // Model A, masking on, 128 validation samples per domain: the table4 sweep plus replicates.
    Add(db, {.method = "bf16", .loss = 2.00, .domains = {{"a", 1.9}, {"b", 2.1}}, .samples_metric = "n_samples"});
    Add(db, {.method = "rtn", .bits = "2", .loss = 3.00});
    Add(db, {.method = "ternary", .loss = 4.00});
    Add(db, {.grid = "minmax", .bits = "2", .mul = "0.5", .loss = 2.50});
    Add(db, {.grid = "minmax", .bits = "2", .loss = 2.40, .sparsity = 0.60, .domains = {{"a", 2.3}, {"b", 2.5}}});
    Add(db, {.grid = "minmax", .bits = "2", .mul = "2", .loss = 2.30});
    Add(db, {.grid = "ternary", .bits = "4", .mul = "0.5", .loss = 2.90, .secs = 10});
    Add(db, {.grid = "ternary", .bits = "4", .loss = 2.80, .sparsity = 0.80, .secs = 20,
             .domains = {{"a", 2.7}, {"b", 2.9}},
             .layers = {{"decoder.block.1", 77}, {"encoder.block.11", 99}, {"encoder.block.3", 5.0}}});
    Add(db, {.grid = "ternary", .bits = "4", .seed = 1, .loss = 2.70, .sparsity = 0.82, .secs = 22,
             .domains = {{"a", 2.6}, {"b", 2.8}}, .layers = {{"encoder.block.3", 6.0}}});
    Add(db, {.grid = "ternary", .bits = "4", .seed = 2, .loss = 2.60, .sparsity = 0.84});
    Add(db, {.grid = "ternary", .bits = "4", .group = "4", .loss = 2.80, .layers = {{"encoder.block.3", 2.0}}});
    Add(db, {.grid = "ternary", .bits = "4", .group = "1", .loss = 2.80, .layers = {{"encoder.block.3", 8.0}}});
    Add(db, {.grid = "ternary", .bits = "4", .seed = 3, .seed_scheme = false, .loss = 2.80});  // old replicate
    Add(db, {.grid = "ternary", .bits = "4", .mul = "2", .loss = 2.75, .secs = 40});
    Add(db, {.method = "dict", .loss = 2.81});
    // Model A, masking off (the Table 2 ablation).
    Add(db, {.grid = "minmax", .bits = "2", .mask = "false", .loss = 2.45});
    Add(db, {.grid = "ternary", .bits = "4", .mask = "false", .loss = 2.95});
    // Model A with another data setting: a group of its own.
    Add(db, {.method = "bf16", .nval = "24", .loss = 2.05, .samples_metric = "n_samples", .samples = 144});
    // Model B: a capped 2x request (5000 asked, 3156 in the split).
    Add(db, {.model = kB, .method = "bf16", .loss = 1.80});
    Add(db, {.model = kB, .grid = "minmax", .bits = "2", .loss = 2.10});
    Add(db, {.model = kB, .grid = "ternary", .bits = "4", .mul = "2", .loss = 2.20, .requested = 5000, .used = 3156});
    // Model B on a synthetic checkpoint (same keys otherwise): never pooled with the real runs.
    const int64_t synth = Add(db, {.model = kB, .method = "bf16", .loss = 9.99});
    db.SetRunParam(synth, "model.synthetic", "true");
    // Table 6 (no loss: no other table takes them): model A coded for real, model B synthetic with
    // two seeds of QMoE dict (only the experts' bits differ) and one RTN rans run without a save.
    Add(db, {.method = "dict", .extra = {{"bits_per_param_experts", 0.9}, {"bits_per_param", 1.6},
                                         {"compressed_gb", 1.6}, {"compressed_disk_bytes", 1.7e9},
                                         {"peak_rss_mib", 1024}}});
    for (int64_t seed : {0, 1}) {
      const int64_t id = Add(db, {.model = kB, .method = "dict", .seed = seed,
                                  .extra = {{"bits_per_param_experts", seed == 0 ? 0.80 : 0.82},
                                            {"bits_per_param", 1.0}, {"compressed_gb", 1.0},
                                            {"compressed_disk_bytes", 1.05e9}, {"peak_rss_mib", 2048}}});
      db.SetRunParam(id, "model.synthetic", "true");
    }
    const int64_t rans = Add(db, {.model = kB, .method = "rans", .quantizer = "rtn",
                                  .extra = {{"bits_per_param_experts", 0.64}, {"bits_per_param", 0.8},
                                            {"compressed_gb", 0.8}, {"peak_rss_mib", 1536}}});
    db.SetRunParam(rans, "model.synthetic", "true");
  }

  std::string Report(const std::vector<std::string>& args) {
    std::ostringstream out;
    EXPECT_EQ(RunReportCommand(args, path_, out), 0);
    return out.str();
  }

  std::string path_;
};

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream is(s);
  for (std::string l; std::getline(is, l);) out.push_back(l);
  return out;
}

// Cells of a printed row: columns are separated by two or more spaces.
std::vector<std::string> Cells(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    size_t j = line.find("  ", i);
    if (j == std::string::npos) j = line.size();
    out.push_back(line.substr(i, j - i));
    i = line.find_first_not_of(' ', j);
    if (i == std::string::npos) break;
  }
  return out;
}

// The rows (cells) of every table printed under "runs with <heading>", by first cell; the text of
// that block (up to the next table) in *block.
std::map<std::string, std::vector<std::string>> TableFor(const std::string& out, const std::string& heading,
                                                         std::string* block = nullptr) {
  const auto lines = Lines(out);
  std::map<std::string, std::vector<std::string>> rows;
  int found = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] != "runs with " + heading) continue;
    ++found;
    size_t k = i + 3;  // header, dashes
    for (; k < lines.size() && !lines[k].empty() && lines[k].rfind("paper:", 0) != 0; ++k) {
      auto c = Cells(lines[k]);
      rows[c[0]] = c;
    }
    if (block)
      for (size_t m = i; m < lines.size() && !lines[m].empty(); ++m) *block += lines[m] + "\n";
  }
  EXPECT_EQ(found, 1) << "expected one table under 'runs with " << heading << "' in:\n" << out;
  return rows;
}

using Row = std::vector<std::string>;
const std::string kHeadA = "model.name=switch-tiny-8, data.mask_special=true, data.n_validation_per_domain=128";
const std::string kHeadB =
    "model.name=switch-tiny-32, data.mask_special=true, data.n_validation_per_domain=128, model.synthetic=false";

TEST_F(ReportTest, Table4OneTablePerGroupSeedsAndCappedCells) {
  const std::string out = Report({"table4"});
  std::string block;
  auto a = TableFor(out, kHeadA, &block);
  // paper columns: switch-base-128 (the tiny models are not in the paper).
  EXPECT_EQ(a["BF16"], (Row{"BF16", "2.000", "2.000", "1.73", "1.73"}));
  EXPECT_EQ(a["RTN"], (Row{"RTN", "3.000", "4.000", "2.27", "4.54"}));
  EXPECT_EQ(a["QMoE 0.5x"], (Row{"QMoE 0.5x", "2.500", "2.900", "1.78", "2.11"}));
  // tern 1x: seeds 0 (three runs at |E| = 16, 4, 1, all 2.80), 1 (2.70), 2 (2.60); the old seed-3
  // row is left out: mean 2.70, sample std over seeds 0.10.
  EXPECT_EQ(a["QMoE 1.0x"], (Row{"QMoE 1.0x", "2.400", "2.700±0.100 (n=3)", "1.76", "1.99"}));
  EXPECT_EQ(a["QMoE 1.0x dict"], (Row{"QMoE 1.0x dict", "-", "2.810", "-", "1.99"}));
  EXPECT_EQ(a["QMoE 2.0x"], (Row{"QMoE 2.0x", "2.300", "2.750", "1.76", "1.93"}));
  EXPECT_EQ(a.size(), 6u);
  EXPECT_NE(block.find("loss over 768 validation samples per run"), std::string::npos) << block;
  EXPECT_NE(out.find("(1 run with seed != 0 recorded before seeds drew"), std::string::npos) << out;

  auto b = TableFor(out, kHeadB, &block);
  EXPECT_EQ(b["BF16"], (Row{"BF16", "1.800", "1.800", "1.73", "1.73"}));
  EXPECT_EQ(b["QMoE 1.0x"], (Row{"QMoE 1.0x", "2.100", "-", "1.76", "1.99"}));
  EXPECT_EQ(b["QMoE 2.0x"], (Row{"QMoE 2.0x", "-", "2.200*", "1.76", "1.93"}));
  EXPECT_EQ(b.size(), 3u);
  EXPECT_NE(block.find("* capped calibration: asked for 5000 samples, the split has 3156"), std::string::npos) << block;
  auto synthetic = TableFor(out, "model.name=switch-tiny-32, data.mask_special=true, data.n_validation_per_domain=128, "
                                 "model.synthetic=true");
  EXPECT_EQ(synthetic["BF16"], (Row{"BF16", "9.990", "9.990", "1.73", "1.73"}));

  // The masking ablation and the other data setting are tables of their own.
  auto nomask = TableFor(out, "model.name=switch-tiny-8, data.mask_special=false, data.n_validation_per_domain=128");
  EXPECT_EQ(nomask["QMoE 1.0x"], (Row{"QMoE 1.0x", "2.450", "2.950", "1.76", "1.99"}));
  EXPECT_EQ(nomask.size(), 1u);
  auto v24 = TableFor(out, "model.name=switch-tiny-8, data.mask_special=true, data.n_validation_per_domain=24", &block);
  EXPECT_EQ(v24["BF16"], (Row{"BF16", "2.050", "2.050", "1.73", "1.73"}));
  EXPECT_NE(block.find("loss over 144 validation samples per run"), std::string::npos) << block;  // old n_samples
}

TEST_F(ReportTest, WhereSelectsOneGroupAndUnknownKeysAreErrors) {
  const std::string out = Report({"table4", "--where", "model.name=" + kB});
  EXPECT_EQ(out.find(kA), std::string::npos) << out;
  // Two groups left (real and synthetic weights): the heading names the model and what differs.
  auto b = TableFor(out, "model.name=switch-tiny-32, model.synthetic=false");
  EXPECT_EQ(b["BF16"], (Row{"BF16", "1.800", "1.800", "1.73", "1.73"}));

  const std::string seed1 = Report({"table4", "--where=seed=1"});
  auto s = TableFor(seed1, "model.name=switch-tiny-8");
  EXPECT_EQ(s["QMoE 1.0x"], (Row{"QMoE 1.0x", "-", "2.700", "1.76", "1.99"}));

  std::ostringstream os;
  try {
    RunReportCommand({"table4", "--where", "model.nmae=x"}, path_, os);
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.nmae"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("did you mean 'model.name'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(RunReportCommand({"table9"}, path_, os), Error);
}

TEST_F(ReportTest, Table2PairsMaskingSettingsOfOneGroup) {
  const std::string out = Report({"table2"});
  auto t = TableFor(out, "model.name=switch-tiny-8, data.n_validation_per_domain=128, experiment.calibration_mul=1");
  EXPECT_EQ(t["no"], (Row{"no", "2.000", "2.450", "2.950", "1.73", "1.86", "2.16"}));
  EXPECT_EQ(t["yes"], (Row{"yes", "2.000", "2.400", "2.700±0.100 (n=3)", "1.73", "1.76", "1.99"}));
  // A at 0.5x and 2x, A with 24 validation samples, B at 1x and 2x, synthetic B: one setting each.
  EXPECT_NE(out.find("(6 more groups have runs at one masking setting only"), std::string::npos) << out;
}

TEST_F(ReportTest, Table1TimesTheFirstSparseEncoderBlockByNumber) {
  const std::string out = Report({"table1"});
  // encoder.block.3 (not decoder.block.1 nor encoder.block.11, which sort first as strings).
  EXPECT_NE(out.find("encoder.block.3, the first sparse encoder block"), std::string::npos) << out;
  auto t = TableFor(out, "model.name=switch-tiny-8");
  EXPECT_EQ(t["ours (s)"], (Row{"ours (s)", "8.00", "2.00", "5.50±0.71 (n=2)"}));  // |E| = 1, 4, 16
  EXPECT_EQ(t["speed-up"], (Row{"speed-up", "1.00x", "4.00x", "1.45x"}));        // 8 / 5.5
  EXPECT_EQ(t["paper (s)"], (Row{"paper (s)", "174.1", "54.4", "28.8"}));
}

TEST_F(ReportTest, Table3SparsityPerCalibration) {
  const std::string out = Report({"table3"});
  auto t = TableFor(out, "model.name=switch-tiny-8");
  EXPECT_EQ(t["QMoE 1.0x"], (Row{"QMoE 1.0x", "60.0", "82.0±2.0 (n=3)", "72.2", "85.7"}));
  EXPECT_EQ(t.size(), 1u);
}

TEST_F(ReportTest, Table5PerDomainBesideThePaper) {
  const std::string out = Report({"table5"});
  auto t = TableFor(out, "model.name=switch-tiny-8");
  EXPECT_EQ(t["a"], (Row{"a", "1.900", "2.300", "2.650±0.071 (n=2)"}));
  EXPECT_EQ(t["b"], (Row{"b", "2.100", "2.500", "2.850±0.071 (n=2)"}));
  EXPECT_EQ(t["(all)"], (Row{"(all)", "2.000", "2.400", "2.750±0.071 (n=2)"}));
  EXPECT_EQ(t["paper arxiv"], (Row{"paper arxiv", "1.31", "1.34", "1.42"}));
}

TEST_F(ReportTest, Table7TimeAgainstCalibrationSize) {
  const std::string out = Report({"table7"});
  auto t = TableFor(out, "model.name=switch-tiny-8");
  EXPECT_EQ(t["0.5x"], (Row{"0.5x", "313", "10.0", "8.4"}));  // llround(625 · 0.5), as the experiment asks
  EXPECT_EQ(t["1.0x"], (Row{"1.0x", "625", "21.0±1.4 (n=2)", "14.0"}));
  EXPECT_EQ(t["2.0x"], (Row{"2.0x", "1250", "40.0", "21.6"}));
}

// Rates are 16 / bits, the bf16 size 16 / bits_per_param · compressed_gb, the disk size bytes / 1e9
// and RSS MiB / 1024; the paper's bits are 16 / its rates (17.06x -> 0.938, 11.76x -> 1.361).
const std::string kHead6A = "model.name=switch-tiny-8", kHead6B = "model.name=switch-tiny-32";
TEST_F(ReportTest, Table6RatesAndSizesBesideThePaper) {
  const std::string out = Report({"table6"});
  std::string block;
  auto b = TableFor(out, kHead6B, &block);
  // seeds 0 and 1: experts 0.80 and 0.82 (rates 20 and 19.512): mean 0.810, std 0.02 / sqrt 2.
  EXPECT_EQ(b["QMoE 1.0x dict"],
            (Row{"QMoE 1.0x dict", "switch-tiny-32 (synthetic)", "0.810±0.014 (n=2)", "19.76±0.34 (n=2)",
                 "1.000±0.000 (n=2)", "16.00±0.00 (n=2)", "1.00±0.00 (n=2)", "16.0±0.0 (n=2)", "1.05±0.00 (n=2)",
                 "2.00±0.00 (n=2)"}));
  EXPECT_EQ(b["RTN rans"], (Row{"RTN rans", "switch-tiny-32 (synthetic)", "0.640", "25.00", "0.800", "20.00", "0.80",
                                "16.0", "-", "1.50"}));
  EXPECT_EQ(b.size(), 3u) << block;  // the two rows and the paper's (one key for its three rows)
  EXPECT_NE(block.find("(synthetic): a checkpoint written by qmoe synth"), std::string::npos) << block;
  block.clear();
  auto a = TableFor(out, kHead6A, &block);
  EXPECT_EQ(a["QMoE 1.0x dict"], (Row{"QMoE 1.0x dict", "switch-tiny-8", "0.900", "17.78", "1.600", "10.00", "1.60",
                                      "16.0", "1.70", "1.00"}));
  EXPECT_EQ(block.find("synthetic"), std::string::npos) << block;
  int paper = 0;
  for (const auto& line : Lines(out)) {
    if (line.rfind("paper QMoE dict  switch-base-128", 0) == 0) {
      ++paper;
      EXPECT_EQ(Cells(line), (Row{"paper QMoE dict", "switch-base-128", "0.938", "17.06", "1.361", "11.76", "1.27",
                                  "14.9", "-", "-"}));
    }
    if (line.rfind("paper QMoE dict  switch-c-2048", 0) == 0) {
      ++paper;
      EXPECT_EQ(Cells(line), (Row{"paper QMoE dict", "switch-c-2048", "0.797", "20.07", "0.808", "19.81", "158.60",
                                  "3142.0", "-", "-"}));
    }
  }
  EXPECT_EQ(paper, 4) << out;  // both rows under each of the two tables
}

// Without coded runs the table still prints the paper's rows and the command that makes ours.
TEST(ReportTable6, NoRunsPrintsThePaperAndTheCommand) {
  const std::string path = FreshDbPath("report_table6_empty");
  { ResultsDb db(path); }
  std::ostringstream out;
  EXPECT_EQ(RunReportCommand({"table6"}, path, out), 0);
  EXPECT_NE(out.str().find("qmoe synth model=switch-base-128"), std::string::npos) << out.str();
  bool found = false;
  for (const auto& line : Lines(out.str()))
    if (line.rfind("paper QMoE dict  switch-large-128", 0) == 0) {
      found = true;
      EXPECT_EQ(Cells(line), (Row{"paper QMoE dict", "switch-large-128", "0.872", "18.34", "1.201", "13.32", "3.96",
                                  "52.7", "-", "-"}));
    }
  EXPECT_TRUE(found) << out.str();
}

// Seeds 0 and 1 of a real replicate on switch-tiny-8 (losses 5.484357 and 5.483826): the spread is
// |a - b| / sqrt(2) = 0.000375, shown with two significant digits rather than as "±0.000".
TEST(ReportCells, SmallSpreadKeepsTwoSignificantDigits) {
  report::Run s0, s1, s1b;
  s1.seed = s1b.seed = 1;
  report::CellStats c;
  c.Add(s0, 5.484357);
  c.Add(s1, 5.483826);
  EXPECT_EQ(c.Format(3), "5.484±0.00038 (n=2)");
  c.Add(s1b, 5.483826);  // a second run of seed 1 does not add a replicate
  EXPECT_EQ(c.Format(3), "5.484±0.00038 (n=2)");
  report::CellStats one;
  one.Add(s0, 2.0);
  one.Add(s0, 2.5);  // two runs of one seed: their mean, no spread
  EXPECT_EQ(one.Format(2), "2.25");
}

TEST(ReportGroups, KeysOneRunLacksNeverConflict) {
  report::Run bf16, g1, g2;
  bf16.id = 1, g1.id = 2, g2.id = 3;
  bf16.params = {{"model.name", "m"}, {"method.name", "bf16"}};
  g1.params = {{"model.name", "m"}, {"method.name", "gptq"}, {"method.damp", "0.1"}};
  g2.params = {{"model.name", "m"}, {"method.name", "gptq"}, {"method.damp", "0.01"}, {"seed", "4"}};
  auto groups = report::GroupRuns({&bf16, &g1, &g2}, {"method.name"});
  ASSERT_EQ(groups.size(), 2u);  // one per damping; BF16 belongs to both
  for (const auto& g : groups) {
    EXPECT_EQ(g.runs.size(), 2u);
    EXPECT_EQ(g.runs.front()->id, 1);
  }
  EXPECT_EQ(groups[0].heading, "model.name=m, method.damp=0.1");
  EXPECT_EQ(groups[1].heading, "model.name=m, method.damp=0.01");
}

}  // namespace
}  // namespace qmoe
