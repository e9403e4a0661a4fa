// The top-level `device` key at planning time: device=cpu keeps every existing run key (it is a
// late key at its old meaning), another device is part of the key, experiments without a device
// path refuse one, bad spellings fail before anything runs, and experiments read the parsed spec.
// Also the runtime experiment's later key `kernel_path`, which keeps keys the same way.
#include <gtest/gtest.h>

#include "experiments/run_device.h"
#include "experiments/runner.h"
#include "framework/core/error.h"
#include "framework/core/repo_path.h"

namespace qmoe {
namespace {

PointPlan Plan(std::vector<std::string> overrides) {
  return PlanPoint(SourceDir() + "/configs", overrides, "/nonexistent/unused.db");
}

std::string ErrorOf(const std::vector<std::string>& overrides) {
  try {
    Plan(overrides);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DeviceKey, CpuKeepsTheKeyOtherDevicesChangeIt) {
  for (const char* ex : {"experiment=eval", "experiment=compress", "experiment=runtime", "experiment=kernels"}) {
    const PointPlan plain = Plan({ex}), cpu = Plan({ex, "device=cpu"}), cuda = Plan({ex, "device=cuda"});
    EXPECT_EQ(plain.key, cpu.key) << ex;
    EXPECT_NE(cpu.key, cuda.key) << ex;
    EXPECT_NE(cuda.key, Plan({ex, "device=cuda:1"}).key) << ex;
    EXPECT_FALSE(cpu.device.cuda);
    EXPECT_EQ(cuda.device.ToString(), "cuda:0");
  }
  // The key of a device=cpu run does not contain the key at all (runs recorded before it existed).
  EXPECT_EQ(Plan({"experiment=eval"}).key, Plan({"experiment=eval", "device=cpu"}).key);
}

TEST(DeviceKey, PlanningRejectsBadDevicesWithOneError) {
  EXPECT_NE(ErrorOf({"experiment=eval", "device=gpu"}).find("device = 'gpu'"), std::string::npos);
  EXPECT_NE(ErrorOf({"experiment=eval", "device=cuda:0,0"}).find("listed twice"), std::string::npos);
  const std::string m = ErrorOf({"experiment=matrix", "device=cuda"});
  EXPECT_NE(m.find("experiment 'matrix' runs on the CPU only"), std::string::npos) << m;
  EXPECT_EQ(ErrorOf({"experiment=matrix", "device=cpu"}), "");
  // Planning never asks for the GPU itself (a sweep may be planned where the jobs will not run).
  EXPECT_EQ(ErrorOf({"experiment=eval", "device=cuda:3"}), "");
}

TEST(DeviceKey, ExperimentsReadTheParsedSpec) {
  const PointPlan p = Plan({"experiment=eval", "device=cuda:2,0"});
  std::map<std::string, ParamMap> sections = p.typed;
  ResultsDb db(testing::TempDir() + "/run_device_test.db");
  RunContext ctx{p.cfg.root, sections, db, 0, 0, ""};
  EXPECT_EQ(RunDevice(ctx).ordinals, std::vector<int>({2, 0}));
  sections.erase("");
  RunContext bare{p.cfg.root, sections, db, 0, 0, ""};
  EXPECT_FALSE(RunDevice(bare).cuda);  // no root section: the CPU
}

// experiment.kernel_path='' (the default: the ISA's kernel) is left out of the key, so runtime runs
// recorded before the key existed are found again; a named kernel is part of the key. (Checked by
// hand against the binary before the key: `qmoe sweep experiment=runtime --dry-run` printed the same
// d92d763b5f2e with both.)
TEST(LateKeys, RuntimeKernelPathKeepsTheKeyAtItsDefault) {
  const PointPlan plain = Plan({"experiment=runtime"});
  EXPECT_EQ(plain.key, Plan({"experiment=runtime", "experiment.kernel_path="}).key);
  EXPECT_NE(plain.key, Plan({"experiment=runtime", "experiment.kernel_path=avx2_pairs"}).key);
  EXPECT_NE(Plan({"experiment=runtime", "experiment.kernel_path=avx2_pairs"}).key,
            Plan({"experiment=runtime", "experiment.kernel_path=avx512_bf16dot"}).key);
}

}  // namespace
}  // namespace qmoe
