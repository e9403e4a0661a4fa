#include "experiments/sweep.h"

#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "experiments/launcher/launcher_config.h"
#include "experiments/launcher/slurm_commands.h"
#include "experiments/launcher/slurm_sweep.h"
#include "experiments/runner.h"
#include "framework/core/error.h"
#include "framework/core/progress.h"
#include "framework/core/strings.h"
#include "framework/results/results_db.h"

extern char** environ;
namespace fs = std::filesystem;

namespace qmoe {
namespace {

// Splits on commas that are not inside quotes, brackets, braces or parentheses.
std::vector<std::string> SplitTopLevel(const std::string& v) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (char c : v) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '[' || c == '{' || c == '(') {
      ++depth;
    } else if (c == ']' || c == '}' || c == ')') {
      --depth;
    } else if (c == ',' && depth == 0) {
      out.push_back(Trim(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.push_back(Trim(cur));
  return out;
}

std::string FormatNumber(double x, bool integral) {
  if (integral) return std::to_string(static_cast<long long>(std::llround(x)));
  std::ostringstream os;
  os << x;
  return os.str();
}

// range(start, stop[, step]) with stop exclusive, as in Hydra's sweep grammar.
std::vector<std::string> ExpandRange(const std::string& arg, const std::string& inner) {
  auto parts = SplitTopLevel(inner);
  QMOE_CHECK(parts.size() == 2 || parts.size() == 3, "sweep override '", arg,
             "': range() takes (start, stop[, step])");
  bool integral = true;
  std::vector<double> v;
  for (const auto& p : parts) {
    char* end = nullptr;
    double x = std::strtod(p.c_str(), &end);
    QMOE_CHECK(!p.empty() && *end == '\0', "sweep override '", arg, "': range() argument '", p,
               "' is not a number");
    if (p.find_first_of(".eE") != std::string::npos) integral = false;
    v.push_back(x);
  }
  double start = v[0], stop = v[1], step = v.size() == 3 ? v[2] : 1.0;
  QMOE_CHECK(step != 0, "sweep override '", arg, "': range() step must not be 0");
  std::vector<std::string> out;
  for (int i = 0;; ++i) {
    double x = start + i * step;
    if ((step > 0 && x >= stop - 1e-12) || (step < 0 && x <= stop + 1e-12)) break;
    out.push_back(FormatNumber(x, integral));
    QMOE_CHECK(out.size() <= 100000, "sweep override '", arg, "': range() has too many values");
  }
  QMOE_CHECK(!out.empty(), "sweep override '", arg, "': range() is empty");
  return out;
}

}  // namespace

std::vector<std::vector<std::string>> ExpandSweep(const std::vector<std::string>& args) {
  std::vector<std::vector<std::string>> choices;  // per argument, its alternatives
  for (const auto& a : args) {
    size_t eq = a.find('=');
    if (eq == std::string::npos) {
      choices.push_back({a});
      continue;
    }
    std::string key = a.substr(0, eq), val = Trim(a.substr(eq + 1));
    std::vector<std::string> vals;
    if (val.rfind("range(", 0) == 0 && val.back() == ')') {
      vals = ExpandRange(a, val.substr(6, val.size() - 7));
    } else {
      vals = SplitTopLevel(val);
    }
    std::vector<std::string> alts;
    for (const auto& v : vals) {
      QMOE_CHECK(!v.empty() || vals.size() == 1, "sweep override '", a, "' has an empty value in its list");
      alts.push_back(key + "=" + v);
    }
    choices.push_back(alts);
  }
  std::vector<std::vector<std::string>> points{{}};
  for (const auto& alts : choices) {
    std::vector<std::vector<std::string>> next;
    for (const auto& p : points)
      for (const auto& alt : alts) {
        auto q = p;
        q.push_back(alt);
        next.push_back(std::move(q));
      }
    points = std::move(next);
  }
  return points;
}

std::string NewSweepId() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::gmtime(&t));
  return StrCat(buf, "-", getpid());
}

namespace {

// Spawns `qmoe _point ...` for one point with its output in the run folder's log.
pid_t SpawnWorker(const PointPlan& plan, const SweepOptions& opt, const std::string& sweep_id) {
  std::vector<std::string> argv = {"qmoe", "_point", "--configs", opt.config_dir, "--sweep-id", sweep_id};
  if (!opt.db_override.empty()) argv.insert(argv.end(), {"--db", opt.db_override});
  argv.push_back("--");
  argv.insert(argv.end(), plan.cfg.overrides.begin(), plan.cfg.overrides.end());
  std::vector<char*> cargv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);

  fs::create_directories(plan.run_dir);
  std::string log = (fs::path(plan.run_dir) / "log.txt").string();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  QMOE_CHECK(rc == 0, "cannot start a sweep worker process: ", std::strerror(rc));
  return pid;
}

// A worker that died without recording its end leaves its run "running": mark it failed.
void MarkCrashed(const PointPlan& plan, const std::string& why) {
  ResultsDb db(plan.db_path);
  db.MarkRunFailed(plan.key, why);
}

}  // namespace

std::vector<std::vector<std::string>> SweepPoints(const std::vector<std::string>& args, const std::string& config_dir) {
  auto points = ExpandSweep(args);
  // A config may declare its own grids (the paper's tables, configs/experiment/table*.yaml):
  //   sweep: {grids: ["method=bf16", "method=gptq experiment.calibration_mul=0.5,1,2"]}
  // The sweep is then the union of the grids, each appended to the command line's overrides.
  const ComposedConfig first = ComposeConfig(config_dir, points.front());
  const YAML::Node& root = first.root;  // const access: never creates keys
  if (!root["sweep"] || !root["sweep"]["grids"]) return points;
  const YAML::Node grids = root["sweep"]["grids"];
  QMOE_CHECK(grids.IsSequence(), first.origin.count("sweep.grids") ? first.origin.at("sweep.grids") : "config",
             ": sweep.grids must be a list of override strings");
  std::vector<std::vector<std::string>> out;
  for (const auto& g : grids) {
    std::vector<std::string> grid_args = args;
    for (const auto& tok : Split(g.as<std::string>(), ' '))
      if (!Trim(tok).empty()) grid_args.push_back(Trim(tok));
    for (auto& p : ExpandSweep(grid_args)) out.push_back(std::move(p));
  }
  return out;
}

int RunSweep(const std::vector<std::string>& args, const SweepOptions& opt) {
  auto points = SweepPoints(args, opt.config_dir);
  const ComposedConfig first = ComposeConfig(opt.config_dir, points.front());
  const LauncherParams launcher = LauncherOf(first);
  const bool slurm = launcher.name == "slurm";
  if (slurm && launcher.WantsGpu())  // the GPU override hook (configs/launcher/slurm.yaml)
    for (auto& p : points) p.insert(p.end(), launcher.gpu_overrides.begin(), launcher.gpu_overrides.end());
  // Plan every point first, so a bad override stops the sweep before anything runs.
  std::vector<PointPlan> plans;
  std::map<std::string, size_t> seen;
  const std::string launcher_yaml = CanonicalYaml(first.root["launcher"]);
  for (const auto& p : points) {
    PointPlan plan = PlanPoint(opt.config_dir, p, opt.db_override);
    QMOE_CHECK(CanonicalYaml(plan.cfg.root["launcher"]) == launcher_yaml, "sweep point '", Join(p, " "),
               "' has another launcher than the first point; the launcher applies to a whole sweep and cannot be swept");
    QMOE_CHECK(!slurm || plans.empty() || plan.db_path == plans.front().db_path, "launcher=slurm: every point must ",
               "record into one database; point '", Join(p, " "), "' uses ", plan.db_path);
    if (seen.count(plan.key)) continue;  // two override spellings of the same config
    seen[plan.key] = plans.size();
    plans.push_back(std::move(plan));
  }

  // Local points run here: a device this machine lacks stops the sweep before anything runs.
  if (!slurm && !opt.dry_run)
    for (const auto& plan : plans) RequireDevice(plan.device);

  std::set<std::string> in_flight;  // queued or running in an earlier cluster sweep
  if (slurm && !opt.dry_run) {
    slurm::RunProgram({"sbatch", "--version"});  // a missing sbatch is one Error, before anything is written
    const std::string root = std::get<std::string>(plans.front().typed.at("results").at("sweeps"));
    MergeSweepShards(root, plans.front().db_path);  // points finished by earlier sweeps count as done
    for (auto& k : KeysInFlight(root, plans.front().db_path)) in_flight.insert(std::move(k));
  }

  std::vector<PointPlan*> todo;
  int already = 0, queued = 0;
  {
    std::map<std::string, std::unique_ptr<ResultsDb>> dbs;
    for (auto& plan : plans) {
      if (auto parent = fs::path(plan.db_path).parent_path(); !parent.empty()) fs::create_directories(parent);
      auto& db = dbs[plan.db_path];
      if (!db) db = std::make_unique<ResultsDb>(plan.db_path);
      bool done = db->RunStatus(plan.key) == std::optional<std::string>("done");
      if (opt.dry_run)
        std::cout << (done ? "done    " : "pending ") << plan.key.substr(0, 12) << "  " << Join(plan.cfg.overrides, " ") << "\n";
      if (done) ++already;
      else if (in_flight.count(plan.key)) ++queued;
      else todo.push_back(&plan);
    }
  }
  if (slurm) {
    std::cerr << "sweep: " << plans.size() << (plans.size() == 1 ? " point, " : " points, ") << already << " already done, "
              << (queued ? StrCat(queued, " queued by an earlier sweep, ") : "") << todo.size() << " to submit to Slurm\n";
    if (opt.jobs > 1) std::cerr << "sweep: -j applies to launcher=local; use launcher.array_parallelism\n";
    if (opt.dry_run || todo.empty()) return 0;
    SubmitSlurmSweep({todo.begin(), todo.end()}, launcher, opt);
    return 0;
  }
  std::cerr << "sweep: " << plans.size() << " points, " << already << " already done, " << todo.size()
            << " to run" << (opt.jobs > 1 ? StrCat(" with ", opt.jobs, " workers") : "") << "\n";
  if (opt.dry_run || todo.empty()) return 0;

  const std::string sweep_id = NewSweepId();
  Progress progress("sweep", static_cast<int64_t>(todo.size()));
  int failed = 0;
  if (opt.jobs <= 1) {
    for (PointPlan* plan : todo) {
      progress.SetLabel(Join(plan->cfg.overrides, " "));
      if (RunPoint(*plan, sweep_id, false) == PointOutcome::kFailed) ++failed;
      progress.Advance();
    }
  } else {
    std::map<pid_t, PointPlan*> running;
    size_t next = 0;
    while (next < todo.size() || !running.empty()) {
      while (next < todo.size() && static_cast<int>(running.size()) < opt.jobs) {
        running[SpawnWorker(*todo[next], opt, sweep_id)] = todo[next];
        ++next;
      }
      int status = 0;
      pid_t pid = waitpid(-1, &status, 0);
      if (pid < 0) break;
      auto it = running.find(pid);
      if (it == running.end()) continue;
      PointPlan* plan = it->second;
      running.erase(it);
      if (WIFSIGNALED(status)) {
        MarkCrashed(*plan, StrCat("worker killed by signal ", WTERMSIG(status), "; log: ", plan->run_dir, "/log.txt"));
        ++failed;
      } else if (WEXITSTATUS(status) != 0) {
        ++failed;
      }
      progress.SetLabel(Join(plan->cfg.overrides, " "));
      progress.Advance();
    }
  }
  progress.Finish();
  std::cerr << "sweep " << sweep_id << ": " << (todo.size() - failed) << " done, " << failed << " failed\n";
  return failed;
}

}  // namespace qmoe
