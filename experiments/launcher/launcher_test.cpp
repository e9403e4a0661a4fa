// The launcher config group: defaults, the slurm option's keys and lists, strict errors, and that
// the launcher never enters a run key.
#include <gtest/gtest.h>

#include "experiments/launcher/launcher_config.h"
#include "experiments/runner.h"
#include "framework/core/error.h"

namespace qmoe {
namespace {

const std::string kConfigs = std::string(QMOE_SOURCE_DIR) + "/configs";

LauncherParams Launcher(const std::vector<std::string>& overrides) {
  return LauncherOf(ComposeConfig(kConfigs, overrides));
}

template <class F>
std::string ErrorOf(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Launcher, LocalIsTheDefault) {
  EXPECT_EQ(Launcher({}).name, "local");
  EXPECT_EQ(ComposeConfig(kConfigs, {}).choices.at("launcher"), "local");
}

TEST(Launcher, SlurmKeysAndListsFromTheConfig) {
  LauncherParams l = Launcher({"launcher=slurm", "launcher.partition=gpu", "launcher.gres=gpu:1",
                               "launcher.cpus_per_task=8", "launcher.array_parallelism=3",
                               "launcher.extra_flags=[--constraint=a100, --exclusive]",
                               "launcher.setup=[module load cuda/12.2]", "launcher.gpu_overrides=[seed=3]"});
  EXPECT_EQ(l.name, "slurm");
  EXPECT_EQ(l.partition, "gpu");
  EXPECT_EQ(l.time, "01:00:00");  // from configs/launcher/slurm.yaml
  EXPECT_EQ(l.cpus_per_task, 8);
  EXPECT_EQ(l.array_parallelism, 3);
  EXPECT_TRUE(l.WantsGpu());
  EXPECT_EQ(l.extra_flags, (std::vector<std::string>{"--constraint=a100", "--exclusive"}));
  EXPECT_EQ(l.setup, (std::vector<std::string>{"module load cuda/12.2"}));
  EXPECT_EQ(l.gpu_overrides, (std::vector<std::string>{"seed=3"}));
  EXPECT_TRUE(l.finish_job);
  EXPECT_FALSE(Launcher({"launcher=slurm"}).WantsGpu());
}

TEST(Launcher, BadValuesAreOneErrorNamingTheKey) {
  std::string e = ErrorOf([] { Launcher({"launcher=slurm", "launcher.extra_flags=--exclusive"}); });
  EXPECT_NE(e.find("launcher.extra_flags must be a list"), std::string::npos) << e;
  e = ErrorOf([] { Launcher({"launcher=slurm", "launcher.cpus_per_task=0"}); });
  EXPECT_NE(e.find("cpus_per_task"), std::string::npos) << e;
  e = ErrorOf([] { Launcher({"launcher=slurm", "launcher.name=pbs"}); });
  EXPECT_NE(e.find("slurm"), std::string::npos) << e;
  e = ErrorOf([] { PlanPoint(kConfigs, {"experiment=matrix", "launcher=slurm", "launcher.partitoin=gpu"}, "x.db"); });
  EXPECT_NE(e.find("did you mean 'launcher.partition'"), std::string::npos) << e;
}

TEST(Launcher, NeverPartOfTheRunKey) {
  const std::string local = PlanPoint(kConfigs, {"experiment=matrix", "method=rtn"}, "x.db").key;
  EXPECT_EQ(PlanPoint(kConfigs, {"experiment=matrix", "method=rtn", "launcher=slurm", "launcher.mem=64G"}, "x.db").key,
            local);
  EXPECT_NE(PlanPoint(kConfigs, {"experiment=matrix", "method=rtn", "method.bits=3"}, "x.db").key, local);
}

}  // namespace
}  // namespace qmoe
