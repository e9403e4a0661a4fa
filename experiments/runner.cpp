#include "experiments/runner.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "experiments/experiment.h"
#include "experiments/launcher/launcher_config.h"
#include "experiments/synth/synth_command.h"
#include "experiments/section_schemas.h"
#include "framework/core/error.h"
#include "framework/core/hash.h"
#include "framework/core/strings.h"
#include "framework/results/results_db.h"
#include "methods/method.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return Trim(out);
}

// The commit of the source tree this binary was built from, with "-dirty" for local changes.
const std::string& GitCommit() {
  static const std::string commit = [] {
    std::string src = QMOE_SOURCE_DIR;
    std::string c = Shell("git -C '" + src + "' rev-parse --short=12 HEAD 2>/dev/null");
    if (c.empty()) return std::string("unknown");
    if (!Shell("git -C '" + src + "' status --porcelain --untracked-files=no 2>/dev/null").empty())
      c += "-dirty";
    return c;
  }();
  return commit;
}

std::string HostName() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string Scalar(const YAML::Node& n, const std::string& section, const std::string& key) {
  if (!n[section] || !n[section].IsMap() || !n[section][key] || !n[section][key].IsScalar()) return "";
  return n[section][key].as<std::string>();
}

}  // namespace

std::string DefaultConfigDir() {
  if (const char* env = std::getenv("QMOE_CONFIG_DIR"); env && *env) return env;
  if (fs::exists("configs/config.yaml")) return "configs";
  return std::string(QMOE_SOURCE_DIR) + "/configs";
}

ConfigSchema BuildSchema(const ComposedConfig& cfg) {
  ConfigSchema schema;
  schema[""] = RootSchema();
  schema["results"] = ResultsSchema();
  if (cfg.root["sweep"]) schema["sweep"] = SweepSchema();
  if (cfg.root["launcher"]) schema["launcher"] = LauncherSchema();
  for (const auto& [section, specs] : ModelSectionSchemas(cfg)) schema[section] = specs;

  std::string type = Scalar(cfg.root, "experiment", "type");
  QMOE_CHECK(!type.empty(), "config has no experiment.type (set it in configs/experiment/*.yaml or ",
             "override experiment=<option>)");
  const ExperimentInfo& ex = Experiments().Get(type);
  std::vector<ParamSpec> ex_specs = ex.params;
  ex_specs.insert(ex_specs.begin(), ParamSpec{"type", ParamType::kString, type, "experiment type", Experiments().Keys()});
  schema["experiment"] = ex_specs;

  if (cfg.root["method"]) {
    std::string name = Scalar(cfg.root, "method", "name");
    QMOE_CHECK(!name.empty(), "config section 'method' has no 'name' (one of ", Join(Methods().Keys(), ", "), ")");
    const MethodInfo& m = Methods().Get(name);
    std::vector<ParamSpec> m_specs = m.params;
    m_specs.insert(m_specs.begin(), ParamSpec{"name", ParamType::kString, name, "method key", Methods().Keys()});
    schema["method"] = m_specs;
  }
  return schema;
}

PointPlan PlanPoint(const std::string& config_dir, const std::vector<std::string>& overrides,
                    const std::string& db_override) {
  PointPlan p;
  p.cfg = ComposeConfig(config_dir, overrides);
  p.typed = ValidateConfig(p.cfg, BuildSchema(p.cfg));
  auto& typed = p.typed;
  const YAML::Node& root = p.cfg.root;
  p.experiment = Scalar(root, "experiment", "type");
  const ExperimentInfo& ex = Experiments().Get(p.experiment);

  // The key covers only what determines the result: drop output locations and unused sections.
  YAML::Node keyed = YAML::Clone(root);
  keyed.remove("results");
  keyed.remove("sweep");     // how a sweep was declared does not change a point's result,
  keyed.remove("launcher");  // nor where it runs
  std::string version = StrCat("qmoe ", QMOE_VERSION, "; experiment ", p.experiment, " v", ex.version);
  if (ex.uses_method && root["method"]) {
    p.method = Scalar(root, "method", "name");
    version += StrCat("; method ", p.method, " v", Methods().Get(p.method).version);
  } else {
    keyed.remove("method");
  }
  if (ex.uses_model) {
    p.model = Scalar(root, "model", "name");
  } else {
    for (const char* s : {"model", "data", "eval"}) keyed.remove(s);
  }
  p.code_version = version;
  p.key = Sha256Hex(CanonicalYaml(keyed) + "\n# " + version);
  if (auto it = typed[""].find("seed"); it != typed[""].end()) p.seed = std::get<int64_t>(it->second);

  p.db_path = !db_override.empty() ? db_override : std::get<std::string>(typed["results"]["db"]);
  std::string runs = std::get<std::string>(typed["results"]["dir"]);
  p.run_dir = (fs::path(runs) / p.key.substr(0, 16)).string();
  return p;
}


RunRecord RecordOf(const PointPlan& plan, const std::string& sweep_id) {
  RunRecord rec;
  rec.key = plan.key;
  rec.sweep_id = sweep_id;
  rec.experiment = plan.experiment;
  rec.method = plan.method;
  rec.model = plan.model;
  rec.config_yaml = CanonicalYaml(plan.cfg.root);
  rec.overrides = Join(plan.cfg.overrides, "\n");
  rec.git_commit = GitCommit();
  rec.code_version = plan.code_version;
  rec.seed = plan.seed;
  rec.host = HostName();
  rec.params = FlattenConfig(plan.cfg.root);
  // A synthetic checkpoint is labelled in every run on it, so no report mistakes it for a trained model.
  if (!plan.model.empty() && synth::IsSyntheticCheckpoint(Scalar(plan.cfg.root, "model", "path")))
    rec.params["model.synthetic"] = "true";
  return rec;
}

PointOutcome RunPoint(const PointPlan& plan, const std::string& sweep_id, bool verbose) {
  if (auto parent = fs::path(plan.db_path).parent_path(); !parent.empty()) fs::create_directories(parent);
  ResultsDb db(plan.db_path);
  if (db.RunStatus(plan.key) == std::optional<std::string>("done")) {
    if (verbose) std::cerr << "skip (already done): " << Join(plan.cfg.overrides, " ") << "\n";
    return PointOutcome::kSkipped;
  }

  RunRecord rec = RecordOf(plan, sweep_id);
  int64_t run_id = db.BeginRun(rec);

  // Hydra-style per-run record: the resolved config and the overrides.
  fs::create_directories(plan.run_dir);
  std::ofstream(fs::path(plan.run_dir) / "config.yaml") << rec.config_yaml << "\n";
  {
    std::ofstream ov(fs::path(plan.run_dir) / "overrides.yaml");
    for (const auto& o : plan.cfg.overrides) ov << "- " << o << "\n";
  }

  auto t0 = std::chrono::steady_clock::now();
  try {
    const ExperimentInfo& ex = Experiments().Get(plan.experiment);
    auto experiment = ex.make(plan.typed.at("experiment"));
    RunContext ctx{plan.cfg.root, plan.typed, db, run_id, plan.seed, plan.run_dir};
    try {
      experiment->Run(ctx);
    } catch (...) {
      ctx.Flush();  // keep what the failed run measured, for the post-mortem
      throw;
    }
    ctx.Flush();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    db.AddMetric(run_id, "wall_seconds", secs, "s");
    db.FinishRun(run_id, "done");
    if (verbose) std::cerr << "done in " << secs << " s: run " << run_id << " " << Join(plan.cfg.overrides, " ") << "\n";
    return PointOutcome::kDone;
  } catch (const std::exception& e) {
    db.FinishRun(run_id, "failed", e.what());
    std::cerr << "run " << run_id << " failed: " << e.what() << "\n";
    return PointOutcome::kFailed;
  }
}

}  // namespace qmoe
