// Planning and running one point: which experiments put `seed` in their run key, the capped
// calibration check before anything runs, and the per-run folder with its log.
#include "experiments/runner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/repo_path.h"

namespace qmoe {
namespace {

namespace fs = std::filesystem;

PointPlan Plan(std::vector<std::string> overrides) {
  return PlanPoint(SourceDir() + "/configs", overrides, "/nonexistent/unused.db");
}

TEST(RunKey, SeedEntersOnlyWhereSomethingIsDrawn) {
  // eval draws nothing at random: seed=1 plans the seed-0 run.
  const PointPlan e0 = Plan({"experiment=eval"}), e1 = Plan({"experiment=eval", "seed=1"});
  EXPECT_EQ(e0.key, e1.key);
  EXPECT_EQ(e1.seed, 0);
  // compress with a method that calibrates: replicates differ, and seed != 0 carries the scheme.
  const PointPlan g0 = Plan({"experiment=compress", "method=gptq"}), g1 = Plan({"experiment=compress", "method=gptq", "seed=1"});
  EXPECT_NE(g0.key, g1.key);
  EXPECT_EQ(g1.seed, 1);
  EXPECT_EQ(g0.code_version.find("seeds v"), std::string::npos) << g0.code_version;  // seed-0 keys as before
  EXPECT_NE(g1.code_version.find("; seeds v1"), std::string::npos) << g1.code_version;
  // compress without calibration (bf16) draws nothing either.
  EXPECT_EQ(Plan({"experiment=compress", "method=bf16"}).key, Plan({"experiment=compress", "method=bf16", "seed=2"}).key);
  // allow_capped permits, never changes a result: not in the key.
  EXPECT_EQ(g0.key, Plan({"experiment=compress", "method=gptq", "experiment.allow_capped=true"}).key);
  // matrix draws its matrices from seed.
  EXPECT_NE(Plan({"experiment=matrix"}).key, Plan({"experiment=matrix", "seed=1"}).key);
}

// Databases written before later config keys existed must resume: these keys are the ones the
// first released version computed for the same points (printed by its `qmoe sweep --dry-run`).
TEST(RunKey, UnchangedForPointsRecordedBeforeLaterKeys) {
  EXPECT_EQ(Plan({"experiment=compress", "method=bf16"}).key.substr(0, 12), "174d196eece1");
  EXPECT_EQ(Plan({"experiment=compress", "method=dict"}).key.substr(0, 12), "5800ffbab185");
  EXPECT_EQ(Plan({"experiment=eval"}).key.substr(0, 12), "8887fc94c90c");
}

TEST(Preflight, CappedCalibrationNeedsAllowCapped) {
  // switch-tiny-32 at 2x asks for round(2 · 78.125 · 32) = 5000 samples; the split has fewer.
  const std::vector<std::string> o = {"experiment=compress", "model=switch-tiny-32", "method=gptq",
                                      "experiment.calibration_mul=2"};
  try {
    Plan(o);
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("asks for 5000 calibration samples"), std::string::npos) << msg;
    EXPECT_NE(msg.find("experiment.allow_capped=true"), std::string::npos) << msg;
  }
  auto allowed = o;
  allowed.push_back("experiment.allow_capped=true");
  EXPECT_NO_THROW(Plan(allowed));
  EXPECT_NO_THROW(Plan({"experiment=compress", "model=switch-tiny-32", "method=bf16", "experiment.calibration_mul=2"}));
}

TEST(RunPoint, KeepsConfigOverridesAndLogInTheRunFolder) {
  const fs::path tmp = fs::path(::testing::TempDir()) / ("qmoe_runner_test_" + std::to_string(getpid()));
  fs::remove_all(tmp);
  const PointPlan p = PlanPoint(SourceDir() + "/configs",
                                {"experiment=matrix", "method=rtn", "experiment.rows=8", "experiment.cols=16",
                                 "experiment.count=1", "results.dir=" + (tmp / "runs").string()},
                                (tmp / "r.db").string());
  ASSERT_EQ(RunPoint(p, "", false), PointOutcome::kDone);
  for (const char* f : {"config.yaml", "overrides.yaml", "log.txt"}) EXPECT_TRUE(fs::exists(fs::path(p.run_dir) / f)) << f;
  std::ifstream log(fs::path(p.run_dir) / "log.txt");
  std::stringstream ss;
  ss << log.rdbuf();
  EXPECT_NE(ss.str().find("run 1 (key " + p.key.substr(0, 16) + "): experiment=matrix"), std::string::npos) << ss.str();

  // What the run writes to std::cerr (here its failure) reaches the log too.
  const PointPlan bad = PlanPoint(SourceDir() + "/configs",
                                  {"experiment=matrix", "method=rtn", "experiment.source=safetensors",
                                   "experiment.weights=/nonexistent/w.safetensors", "results.dir=" + (tmp / "runs").string()},
                                  (tmp / "r.db").string());
  ASSERT_EQ(RunPoint(bad, "", false), PointOutcome::kFailed);
  std::ifstream bad_log(fs::path(bad.run_dir) / "log.txt");
  std::stringstream bs;
  bs << bad_log.rdbuf();
  EXPECT_NE(bs.str().find("run 2 failed: "), std::string::npos) << bs.str();
  EXPECT_NE(bs.str().find("/nonexistent/w.safetensors"), std::string::npos) << bs.str();
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace qmoe
