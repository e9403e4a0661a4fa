#include "experiments/runner.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <streambuf>

#include "experiments/experiment.h"
#include "experiments/launcher/launcher_config.h"
#include "experiments/synth/synth_command.h"
#include "experiments/section_schemas.h"
#include "framework/core/error.h"
#include "framework/core/hash.h"
#include "framework/core/repo_path.h"
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
    const std::string src = SourceDir();
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

// Copies everything written to one stream into a second buffer (the run's log file).
class TeeBuf : public std::streambuf {
 public:
  TeeBuf(std::streambuf* a, std::streambuf* b) : a_(a), b_(b) {}

 protected:
  int overflow(int c) override {
    if (c == EOF) return !EOF;
    const int ra = a_->sputc(char(c)), rb = b_->sputc(char(c));
    return ra == EOF || rb == EOF ? EOF : c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    b_->sputn(s, n);
    return a_->sputn(s, n);
  }
  int sync() override { return (a_->pubsync() == 0 && b_->pubsync() == 0) ? 0 : -1; }

 private:
  std::streambuf* a_;
  std::streambuf* b_;
};

// The run's log: while alive, std::cout and std::cerr are also written to <run_dir>/log.txt. A
// sweep worker's output already goes to that file (the sweep opens it), so it is not teed twice.
class RunLog {
 public:
  // `header` opens the log (it does not go to the terminal).
  RunLog(const std::string& path, const std::string& header) {
    struct stat err {}, log {};
    if (fstat(STDERR_FILENO, &err) == 0 && stat(path.c_str(), &log) == 0 && err.st_dev == log.st_dev &&
        err.st_ino == log.st_ino) {
      std::cerr << header << "\n";
      return;
    }
    file_.open(path, std::ios::out | std::ios::trunc);
    if (!file_) return;  // a log we cannot write never stops the run
    file_ << header << "\n";
    out_ = std::make_unique<TeeBuf>(std::cout.rdbuf(), file_.rdbuf());
    err_ = std::make_unique<TeeBuf>(std::cerr.rdbuf(), file_.rdbuf());
    old_out_ = std::cout.rdbuf(out_.get());
    old_err_ = std::cerr.rdbuf(err_.get());
  }
  ~RunLog() {
    if (!out_) return;
    std::cout.flush();
    std::cerr.flush();
    std::cout.rdbuf(old_out_);
    std::cerr.rdbuf(old_err_);
  }
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

 private:
  std::ofstream file_;
  std::unique_ptr<TeeBuf> out_, err_;
  std::streambuf* old_out_ = nullptr;
  std::streambuf* old_err_ = nullptr;
};

// Config keys added after results were first recorded. While one holds the value that reproduces
// the behaviour from before it existed, it stays out of the run key, so databases written before it
// resume instead of recomputing every point. Append here whenever a key joins a config group.
void DropLateKeysAtTheirOldMeaning(YAML::Node& keyed) {
  struct LateKey { const char* section; const char* key; const char* old_meaning; };
  static const LateKey kLate[] = {{"data", "c4_dir", ""}, {"data", "redpajama_dir", ""},
                                  {"data", "long_documents", "chunk"}, {"model", "tokenizer", ""},
                                  {"", "device", "cpu"}, {"experiment", "kernel_path", ""}};
  for (const LateKey& k : kLate) {
    YAML::Node section = *k.section ? keyed[k.section] : keyed;  // "" = a top-level key
    if (section && section.IsMap() && section[k.key] && section[k.key].IsScalar() &&
        section[k.key].as<std::string>() == k.old_meaning)
      section.remove(k.key);
  }
}

}  // namespace

std::string DefaultConfigDir() {
  if (const char* env = std::getenv("QMOE_CONFIG_DIR"); env && *env) return env;
  if (fs::exists("configs/config.yaml")) return "configs";
  return SourceDir() + "/configs";
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

namespace {

// An experiment without randomness runs as seed 0 whatever seed was asked for: replicates would
// repeat identical work under different keys.
void DropUnusedSeed(PointPlan& p, const ExperimentInfo& ex) {
  if (!p.cfg.root["seed"]) return;
  auto& root_params = p.typed[""];
  auto it = root_params.find("seed");
  if (it == root_params.end() || std::get<int64_t>(it->second) == 0) return;
  if (ex.seed.used && (!ex.point_uses_seed || ex.point_uses_seed(p.typed))) return;
  std::cerr << "note: " << (ex.seed.used ? "this point of experiment '" : "experiment '") << p.experiment
            << "' draws nothing at random; seed=" << std::get<int64_t>(it->second)
            << " is ignored (its run is the seed-0 run)\n";
  it->second = int64_t{0};
  p.cfg.root["seed"] = 0;
}

}  // namespace

PointPlan PlanPoint(const std::string& config_dir, const std::vector<std::string>& overrides,
                    const std::string& db_override) {
  PointPlan p;
  p.cfg = ComposeConfig(config_dir, overrides);
  p.typed = ValidateConfig(p.cfg, BuildSchema(p.cfg));
  auto& typed = p.typed;
  const YAML::Node& root = p.cfg.root;
  p.experiment = Scalar(root, "experiment", "type");
  const ExperimentInfo& ex = Experiments().Get(p.experiment);
  DropUnusedSeed(p, ex);
  if (auto it = typed[""].find("device"); it != typed[""].end()) p.device = ParseDevice(std::get<std::string>(it->second));
  QMOE_CHECK(!p.device.cuda || ExperimentTakesDevice(p.experiment), "device=", p.device.ToString(),
             ": experiment '", p.experiment, "' runs on the CPU only (device applies to compress, eval, runtime and kernels)");
  if (ex.preflight) ex.preflight(typed);

  // The key covers only what determines the result: drop output locations and unused sections.
  YAML::Node keyed = YAML::Clone(root);
  keyed.remove("results");
  keyed.remove("sweep");     // how a sweep was declared does not change a point's result,
  keyed.remove("launcher");  // nor where it runs
  for (const auto& k : ex.not_in_run_key)
    if (keyed["experiment"] && keyed["experiment"].IsMap()) keyed["experiment"].remove(k);
  DropLateKeysAtTheirOldMeaning(keyed);
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
  if (auto it = typed[""].find("seed"); it != typed[""].end()) p.seed = std::get<int64_t>(it->second);
  if (ex.seed.scheme > 0 && p.seed != 0) version += StrCat("; seeds v", ex.seed.scheme);
  p.code_version = version;
  p.key = Sha256Hex(CanonicalYaml(keyed) + "\n# " + version);

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

bool ExperimentTakesDevice(const std::string& type) {
  return type == "compress" || type == "eval" || type == "runtime" || type == "kernels";
}

PointOutcome RunPoint(const PointPlan& plan, const std::string& sweep_id, bool verbose) {
  RequireDevice(plan.device);  // before the database is touched: a missing GPU records nothing
  if (auto parent = fs::path(plan.db_path).parent_path(); !parent.empty()) fs::create_directories(parent);
  ResultsDb db(plan.db_path);
  if (db.RunStatus(plan.key) == std::optional<std::string>("done")) {
    if (verbose) std::cerr << "skip (already done): " << Join(plan.cfg.overrides, " ") << "\n";
    return PointOutcome::kSkipped;
  }

  RunRecord rec = RecordOf(plan, sweep_id);
  int64_t run_id = db.BeginRun(rec);

  // Hydra-style per-run record: the resolved config, the overrides and the log.
  fs::create_directories(plan.run_dir);
  std::ofstream(fs::path(plan.run_dir) / "config.yaml") << rec.config_yaml << "\n";
  {
    std::ofstream ov(fs::path(plan.run_dir) / "overrides.yaml");
    for (const auto& o : plan.cfg.overrides) ov << "- " << o << "\n";
  }

  RunLog log((fs::path(plan.run_dir) / "log.txt").string(),
             StrCat("run ", run_id, " (key ", plan.key.substr(0, 16), "): ", Join(plan.cfg.overrides, " ")));
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
