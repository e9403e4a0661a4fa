// The `launcher` config section: where a sweep's points run. `launcher=local` (the default) runs
// them on this machine; `launcher=slurm` submits them as one Slurm job array (docs/cluster.md).
// The section never enters a run key: where a point runs does not change its result.
#pragma once
#include <string>
#include <vector>

#include "framework/config/config.h"
#include "framework/core/params.h"

namespace qmoe {

struct LauncherParams {
  std::string name = "local";
  std::string partition;           // '' = the cluster's default partition
  std::string time = "01:00:00";   // sbatch --time, per task
  int64_t cpus_per_task = 2;
  std::string mem = "8G";          // sbatch --mem, per task ('' = partition default)
  std::string gres;                // e.g. gpu:1
  std::string account, qos;
  int64_t array_parallelism = 0;   // at most this many tasks at once (0 = no limit)
  std::vector<std::string> extra_flags;    // more sbatch flags, verbatim
  std::vector<std::string> setup;          // shell lines run in each task before qmoe
  std::vector<std::string> gpu_overrides;  // overrides added to every point when gres asks for a GPU
  bool finish_job = true;          // a dependent (afterany) job records how every task ended

  bool WantsGpu() const { return gres.rfind("gpu", 0) == 0; }
};

// The schema of the section, for ValidateConfig.
std::vector<ParamSpec> LauncherSchema();
// The launcher of a composed, validated config (local when the config has no `launcher` section).
// List keys (extra_flags, setup, gpu_overrides) must be lists of strings: else an Error naming the key.
LauncherParams LauncherOf(const ComposedConfig& cfg);

}  // namespace qmoe
