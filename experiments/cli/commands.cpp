#include "experiments/cli/commands.h"

#include <iostream>

#include "experiments/cli/report.h"
#include "experiments/cli/run_summary.h"
#include "experiments/eval/forward_command.h"
#include "experiments/experiment.h"
#include "experiments/train/trainer.h"
#include "experiments/runner.h"
#include "experiments/sweep.h"
#include "experiments/synth/synth_command.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/results/results_cli.h"
#include "methods/dict/codec_cli.h"
#include "methods/method.h"

namespace qmoe {

CommonOptions ParseCommon(const std::vector<std::string>& args, const std::vector<std::string>& allowed,
                          const std::string& command) {
  CommonOptions o;
  o.config_dir = DefaultConfigDir();
  bool rest_are_overrides = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool is_flag = a.rfind("--", 0) == 0 || a.rfind("-j", 0) == 0;
    if (rest_are_overrides || !is_flag) {
      o.overrides.push_back(a);
      continue;
    }
    if (a == "--") {
      rest_are_overrides = true;
      continue;
    }
    std::string flag = a, value;
    if (auto eq = a.find('='); eq != std::string::npos) flag = a.substr(0, eq), value = a.substr(eq + 1);
    else if (a.rfind("-j", 0) == 0 && a.size() > 2) flag = "-j", value = a.substr(2);
    bool known = false;
    for (const auto& f : allowed) known |= f == flag;
    QMOE_CHECK(known, "qmoe ", command, ": unknown option '", flag, "'", DidYouMean(flag, allowed),
               "; options: ", Join(allowed, " "));
    auto need_value = [&]() -> std::string {
      if (!value.empty()) return value;
      QMOE_CHECK(i + 1 < args.size(), "qmoe ", command, ": option ", flag, " needs a value");
      return args[++i];
    };
    if (flag == "--configs") o.config_dir = need_value();
    else if (flag == "--db") o.db = need_value();
    else if (flag == "--sweep-id") o.sweep_id = need_value();
    else if (flag == "--dry-run") o.dry_run = true;
    else if (flag == "-j" || flag == "--jobs") {
      std::string v = need_value();
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      QMOE_CHECK(!v.empty() && *end == '\0' && n >= 1 && n <= 256, "qmoe ", command, ": -j expects a number of workers in [1, 256], got '", v, "'");
      o.jobs = static_cast<int>(n);
    }
  }
  return o;
}

namespace {

int CmdRun(const std::vector<std::string>& args) {
  auto o = ParseCommon(args, {"--configs", "--db"}, "run");
  PointPlan plan = PlanPoint(o.config_dir, o.overrides, o.db);
  std::cerr << "qmoe run: experiment " << plan.experiment << (plan.method.empty() ? "" : ", method " + plan.method)
            << (plan.model.empty() ? "" : ", model " + plan.model) << " -> " << plan.db_path << "\n";
  PointOutcome r = RunPoint(plan, "", true);
  if (r == PointOutcome::kFailed) return 1;
  // Show what was recorded, so the main job ends with a readable result.
  const int rc = RunResultsCommand({"show", plan.key.substr(0, 16)}, plan.db_path, std::cout);
  PrintRunSummary(plan, std::cout);
  return rc;
}

// A sweep worker: one point, recorded in the database; exit 1 when the run failed.
int CmdPoint(const std::vector<std::string>& args) {
  auto o = ParseCommon(args, {"--configs", "--db", "--sweep-id"}, "_point");
  PointPlan plan = PlanPoint(o.config_dir, o.overrides, o.db);
  return RunPoint(plan, o.sweep_id, true) == PointOutcome::kFailed ? 1 : 0;
}

int CmdSweep(const std::vector<std::string>& args) {
  auto o = ParseCommon(args, {"--configs", "--db", "-j", "--jobs", "--dry-run"}, "sweep");
  SweepOptions so;
  so.jobs = o.jobs;
  so.dry_run = o.dry_run;
  so.config_dir = o.config_dir;
  so.db_override = o.db;
  const int failed = RunSweep(o.overrides, so);
  // A config that declares `sweep.report` (the paper's tables) prints it when the sweep ends.
  if (!o.dry_run) {
    const ComposedConfig cfg = ComposeConfig(o.config_dir, ExpandSweep(o.overrides).front());
    const YAML::Node& root = cfg.root;
    if (root["sweep"] && root["sweep"]["report"]) {
      std::string db = o.db.empty() ? root["results"]["db"].as<std::string>() : o.db;
      std::cout << "\n";
      RunReportCommand({root["sweep"]["report"].as<std::string>()}, db, std::cout);
    }
  }
  return failed == 0 ? 0 : 1;
}

int CmdConfig(const std::vector<std::string>& args) {
  QMOE_CHECK(!args.empty() && args[0] == "show", "qmoe config: expected 'show', e.g. qmoe config show method=gptq");
  auto o = ParseCommon({args.begin() + 1, args.end()}, {"--configs"}, "config show");
  ComposedConfig cfg = ComposeConfig(o.config_dir, o.overrides);
  ValidateConfig(cfg, BuildSchema(cfg));
  std::cout << "# config: " << o.config_dir << "\n";
  for (const auto& [g, c] : cfg.choices) std::cout << "# " << g << ": " << c << "\n";
  std::cout << CanonicalYaml(cfg.root) << "\n";
  return 0;
}

int CmdMethods(const std::vector<std::string>& args) {
  QMOE_CHECK(args.empty(), "qmoe methods takes no arguments");
  for (const auto& key : Methods().Keys()) {
    const auto& m = Methods().Get(key);
    std::cout << key << " (v" << m.version << "): " << m.help << "\n" << FormatSpecs(m.params) << "\n";
  }
  return 0;
}

int CmdExperiments(const std::vector<std::string>& args) {
  QMOE_CHECK(args.empty(), "qmoe experiments takes no arguments");
  for (const auto& key : Experiments().Keys()) {
    const auto& e = Experiments().Get(key);
    std::cout << key << " (v" << e.version << "): " << e.help << "\n";
    if (!e.seed.used) std::cout << "  draws nothing at random: seed is not part of its run key\n";
    else if (e.point_uses_seed) std::cout << "  seed draws the random choices of points that have any; others run as seed 0\n";
    std::cout << FormatSpecs(e.params) << "\n";
  }
  return 0;
}

// Splits off --db PATH; without it the database is results.db of the default config.
std::string TakeDbPath(const std::vector<std::string>& args, std::vector<std::string>* rest) {
  std::string db;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--db" && i + 1 < args.size()) db = args[++i];
    else if (args[i].rfind("--db=", 0) == 0) db = args[i].substr(5);
    else rest->push_back(args[i]);
  }
  if (db.empty()) db = ComposeConfig(DefaultConfigDir(), {}).root["results"]["db"].as<std::string>();
  return db;
}

int CmdResults(const std::vector<std::string>& args) {
  std::vector<std::string> rest;
  std::string db = TakeDbPath(args, &rest);
  return RunResultsCommand(rest, db, std::cout);
}

int CmdReport(const std::vector<std::string>& args) {
  std::vector<std::string> rest;
  std::string db = TakeDbPath(args, &rest);
  return RunReportCommand(rest, db, std::cout);
}

int CmdCodec(const std::vector<std::string>& args) { return dict::RunCodecCommand(args, std::cout); }

// `qmoe eval model=NAME [data.*=...]` = `qmoe run experiment=eval model=NAME ...`.
int CmdEval(const std::vector<std::string>& args) {
  std::vector<std::string> a{"experiment=eval"};
  a.insert(a.end(), args.begin(), args.end());
  return CmdRun(a);
}

}  // namespace

const std::map<std::string, Command>& Commands() {
  static const std::map<std::string, Command> table = {
      {"run", CmdRun},           {"sweep", CmdSweep},   {"config", CmdConfig},
      {"methods", CmdMethods},   {"experiments", CmdExperiments},
      {"results", CmdResults},   {"codec", CmdCodec},       {"report", CmdReport},       {"_point", CmdPoint},
      {"train", TrainCommand},   {"eval", CmdEval},     {"forward", ForwardCommand},
      {"synth", synth::SynthCommand},
  };
  return table;
}

}  // namespace qmoe
