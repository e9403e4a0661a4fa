// Running one point: compose and validate its config, skip it if already done, record the run,
// run the experiment, and record success or failure.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "framework/config/config.h"
#include "framework/device/device.h"
#include "framework/results/results_db.h"

namespace qmoe {

struct PointPlan {
  ComposedConfig cfg;
  std::map<std::string, ParamMap> typed;  // ValidateConfig's typed sections
  std::string key;           // run key (sha256 hex)
  std::string db_path;
  std::string run_dir;       // results/runs/<key prefix>
  std::string experiment, method, model;
  int64_t seed = 0;
  std::string code_version;
  DeviceSpec device;         // the top-level `device` (parsed; checked for a GPU only when it runs)
};

// Composes + validates the config of one point (throws qmoe::Error on bad input).
PointPlan PlanPoint(const std::string& config_dir, const std::vector<std::string>& overrides,
                    const std::string& db_override);

// The record BeginRun stores for a planned point (config, overrides, commit, host, params).
RunRecord RecordOf(const PointPlan& plan, const std::string& sweep_id);

enum class PointOutcome { kDone, kSkipped, kFailed };

// Runs a planned point; never throws for experiment failures (they are recorded as failed).
// A device the machine does not have is one Error thrown before anything is recorded.
PointOutcome RunPoint(const PointPlan& plan, const std::string& sweep_id, bool verbose);

// The config directory: --configs, else $QMOE_CONFIG_DIR, else ./configs, else the source tree's.
std::string DefaultConfigDir();
// The experiment types that honour `device`; any other runs on the CPU and rejects device != cpu.
bool ExperimentTakesDevice(const std::string& type);
// Builds the validation schema for a composed config from the registries.
ConfigSchema BuildSchema(const ComposedConfig& cfg);

}  // namespace qmoe
