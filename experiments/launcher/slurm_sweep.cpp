#include "experiments/launcher/slurm_sweep.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "experiments/launcher/slurm_commands.h"
#include "experiments/launcher/sweep_folder.h"
#include "experiments/sweep.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/results/results_db.h"
#include "framework/results/shard.h"
#include "framework/results/sqlite_util.h"

extern char** environ;
namespace fs = std::filesystem;

namespace qmoe {
namespace {

std::string Abs(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string TaskId(const std::string& job, int index) { return StrCat(job, "_", index); }

std::string TaskLog(const SweepFolder& f, const std::string& task) { return StrCat(f.dir, "/logs/", task, ".out"); }

// "0-3,5,7-8" plus "%N" when at most N tasks may run at once.
std::string ArraySpec(const std::vector<int>& indices, int64_t parallelism) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < indices.size();) {
    size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    parts.push_back(j == i ? std::to_string(indices[i]) : StrCat(indices[i], "-", indices[j]));
    i = j + 1;
  }
  return Join(parts, ",") + (parallelism > 0 ? StrCat("%", parallelism) : "");
}

std::vector<std::string> SbatchResources(const LauncherParams& l, bool finish) {
  std::vector<std::string> f;
  if (!l.partition.empty()) f.push_back("--partition=" + l.partition);
  if (!l.account.empty()) f.push_back("--account=" + l.account);
  if (!l.qos.empty()) f.push_back("--qos=" + l.qos);
  f.push_back(StrCat("--cpus-per-task=", finish ? 1 : l.cpus_per_task));
  f.push_back("--time=" + (finish ? std::string("00:10:00") : l.time));
  if (!l.mem.empty()) f.push_back("--mem=" + (finish ? std::string("1G") : l.mem));
  if (!finish && !l.gres.empty()) f.push_back("--gres=" + l.gres);
  for (const auto& x : l.extra_flags) f.push_back(x);
  return f;
}

std::string JobScript(const SweepFolder& f, const LauncherParams& l, const std::string& array) {
  std::string s = StrCat("#!/bin/bash\n# qmoe cluster sweep ", f.id, ": one array task per point of points.txt (task index = point index).\n",
                         "# Written by `qmoe sweep ... launcher=slurm`. Resubmit points by hand with\n",
                         "#   sbatch --array=0,3 ", f.dir, "/job.sh      (or: qmoe sweep resume ", f.id, ")\n",
                         "#SBATCH --job-name=", f.JobName(), "\n", "#SBATCH --array=", array, "\n",
                         "#SBATCH --output=", f.dir, "/logs/%A_%a.out\n", "#SBATCH --chdir=", f.cwd, "\n");
  for (const auto& flag : SbatchResources(l, false)) s += "#SBATCH " + flag + "\n";
  for (const auto& line : l.setup) s += line + "\n";
  s += StrCat("exec ", ShellQuote(f.qmoe), " _task --sweep-dir ", ShellQuote(f.dir), " --index \"$SLURM_ARRAY_TASK_ID\"\n");
  return s;
}

std::string FinishScript(const SweepFolder& f, const LauncherParams& l) {
  std::string s = StrCat("#!/bin/bash\n# qmoe cluster sweep ", f.id, ": runs after an array job ends (afterany) and records\n",
                         "# every task that ended without a result (time limit, scancel, node failure) as failed.\n",
                         "# Usage: sbatch --dependency=afterany:ARRAY_JOB finish.sh ARRAY_JOB\n",
                         "#SBATCH --job-name=", f.JobName(), "-finish\n", "#SBATCH --output=", f.dir,
                         "/logs/finish-%j.out\n", "#SBATCH --chdir=", f.cwd, "\n");
  for (const auto& flag : SbatchResources(l, true)) s += "#SBATCH " + flag + "\n";
  for (const auto& line : l.setup) s += line + "\n";
  s += StrCat("exec ", ShellQuote(f.qmoe), " _sweep-finish --sweep-dir ", ShellQuote(f.dir), " --job \"$1\"\n");
  return s;
}

// Submits one array over `indices` (and its finish job) and records it in jobs.txt.
std::string SubmitArray(SweepFolder& f, const std::vector<int>& indices, std::ostream& out) {
  const std::string job = slurm::Submit({"--array=" + ArraySpec(indices, f.array_parallelism), f.dir + "/job.sh"});
  std::string finish;
  if (f.finish_job) {
    try {
      finish = slurm::Submit({"--dependency=afterany:" + job, "--kill-on-invalid-dep=yes", f.dir + "/finish.sh", job});
    } catch (const Error& e) {
      std::cerr << "qmoe: warning: the finish job was not submitted (" << e.what()
                << "); `qmoe sweep status` records how the tasks ended instead\n";
    }
  }
  f.AppendSubmission({job, finish, static_cast<int64_t>(std::time(nullptr)), indices});
  out << "submitted sweep " << f.id << ": array job " << job << " with " << indices.size() << " task"
      << (indices.size() == 1 ? "" : "s") << " (points " << ArraySpec(indices, 0) << ")"
      << (finish.empty() ? "" : ", finish job " + finish) << "\n  folder: " << f.dir
      << "\n  follow: qmoe sweep status " << f.id << " --wait\n";
  return job;
}

std::string LocalTmpDir() {
  const char* t = std::getenv("TMPDIR");
  if (t && *t && fs::is_directory(t)) return t;
  return "/tmp";
}

void RemoveDbFiles(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path + suffix, ec);
}

// Makes sure `db` ends with a finished (done or failed) run of point `p`: a run left "running"
// becomes failed with `reason`, and a point that never started gets a failed run of its own.
void RecordFailed(ResultsDb& db, const SweepFolder& f, const SweepPoint& p, const std::string& reason) {
  auto status = db.RunStatus(p.key);
  if (status == std::optional<std::string>("running")) {
    db.MarkRunFailed(p.key, reason);
    return;
  }
  if (status) return;
  RunRecord rec;
  try {
    rec = RecordOf(PlanPoint(f.config_dir, p.overrides, db.path()), f.id);
  } catch (const Error&) {  // the configs changed since submission: keep what the sweep recorded
    rec.sweep_id = f.id;
    rec.experiment = p.experiment.empty() ? "unknown" : p.experiment;
    rec.method = p.method;
    rec.model = p.model;
    rec.seed = p.seed;
    rec.overrides = Join(p.overrides, "\n");
  }
  rec.key = p.key;
  db.FinishRun(db.BeginRun(rec), "failed", reason);
}

// Writes a failed run of point `p` (attempt `job`) as a shard of its own, "<index>.<job>.lost.db":
// never the task's shard name, so a task shard that this machine cannot see yet (NFS caches
// directory entries) is never replaced; the merge lets a done run win over it.
void RecordFailedShard(const SweepFolder& f, const SweepPoint& p, const std::string& job, const std::string& reason) {
  const std::string work = StrCat(LocalTmpDir(), "/qmoe-", f.id, "-", TaskId(job, p.index), "-", getpid(), ".db");
  RemoveDbFiles(work);
  {
    ResultsDb db(work);
    RecordFailed(db, f, p, reason);
  }
  PublishShard(work, f.LostShardPath(p.index, job));
  RemoveDbFiles(work);
}

bool ShardFinished(const std::string& shard, const std::string& key) {
  if (!fs::exists(shard)) return false;
  try {
    for (const auto& r : ReadShardRuns(shard))
      if (r.key == key && r.status != "running") return true;
  } catch (const Error&) {
    return true;  // a bad shard is reported by the merge, never overwritten here
  }
  return false;
}

// The newest submission of each point.
std::map<int, const Submission*> LatestSubmission(const SweepFolder& f) {
  std::map<int, const Submission*> latest;
  for (const auto& s : f.submissions)
    for (int i : s.indices) latest[i] = &s;
  return latest;
}

// Tasks that Slurm no longer knows and that left no finished shard died without recording their
// end (node failure, SIGKILL, cancelled while pending): record them failed with Slurm's reason.
int RecordLostTasks(const SweepFolder& f, const std::map<std::string, std::string>& queued, const std::string& only_job) {
  int recorded = 0;
  const auto latest = LatestSubmission(f);
  for (const auto& s : f.submissions) {
    // One job's finish looks at that job; status looks at each point's newest attempt.
    if (only_job.empty() ? false : s.job != only_job) continue;
    for (int i : s.indices) {
      if (only_job.empty() && latest.at(i) != &s) continue;
      const std::string task = TaskId(s.job, i);
      if (queued.count(task) || ShardFinished(f.ShardPath(i, s.job), f.Point(i).key) ||
          ShardFinished(f.LostShardPath(i, s.job), f.Point(i).key))
        continue;
      const std::string state = slurm::EndState(task);
      const std::string reason =
          state.empty() ? StrCat("task ", task, " ended without recording a result and Slurm no longer knows how ",
                                 "(killed with SIGKILL, out of memory, node failure, or cancelled before it started); log: ",
                                 TaskLog(f, task))
                        : StrCat("task ", task, " ended without recording a result; Slurm: ", state, "; log: ",
                                 TaskLog(f, task));
      RecordFailedShard(f, f.Point(i), s.job, reason);
      ++recorded;
    }
  }
  return recorded;
}

struct PointView {
  std::string state = "not submitted";  // done | failed | running | pending | not submitted | unknown
  std::string task, error;
};

struct SweepView {
  std::vector<PointView> points;
  std::map<std::string, int> counts;
  std::string ProgressLine(const std::string& id) const {
    const int n = static_cast<int>(points.size()), done = Count("done");
    const int width = 24, filled = n ? done * width / n : 0;
    std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
    std::string line = StrCat("sweep ", id, ": [", bar, "] ", done, "/", n, " done, ", Count("running"), " running, ",
                              Count("pending"), " pending, ", Count("failed"), " failed");
    if (Count("not submitted")) line += StrCat(", ", Count("not submitted"), " not submitted");
    if (Count("unknown")) line += StrCat(", ", Count("unknown"), " unknown");
    return line;
  }
  int Count(const std::string& s) const { return counts.count(s) ? counts.at(s) : 0; }
};

// Records lost tasks, merges the sweep's shards into its database, and reads back every point's
// state. Without the queue (squeue failed) nothing is recorded as lost and states may be "unknown".
SweepView Refresh(const SweepFolder& f, bool need_queue) {
  std::map<std::string, std::string> queued;
  bool queue_known = true;
  try {
    queued = slurm::QueuedTasks(f.JobName());
  } catch (const Error& e) {
    if (need_queue) throw;
    std::cerr << "qmoe: warning: " << e.what() << "; showing the database only\n";
    queue_known = false;
  }
  if (queue_known) RecordLostTasks(f, queued, "");

  if (auto parent = fs::path(f.db).parent_path(); !parent.empty()) fs::create_directories(parent);
  ResultsDb db(f.db);
  if (fs::exists(f.ShardDir())) {
    MergeReport r = MergeShards(db, FindShards(f.ShardDir()));
    static std::set<std::string> shown;  // `status --wait` merges again and again: say each once
    for (const auto& e : r.errors)
      if (shown.insert(e).second) std::cerr << "qmoe: error: " << e << "\n";
  }
  SweepView v;
  const auto latest = LatestSubmission(f);
  SqlStmt error(db.handle(), "SELECT error FROM runs WHERE key = ?1", db.path());
  for (const auto& p : f.points) {
    PointView pv;
    auto it = latest.find(p.index);
    if (it != latest.end()) pv.task = TaskId(it->second->job, p.index);
    const auto status = db.RunStatus(p.key);
    auto q = pv.task.empty() ? queued.end() : queued.find(pv.task);
    if (status == std::optional<std::string>("done")) {
      pv.state = "done";
    } else if (q != queued.end()) {
      pv.state = q->second == "PENDING" || q->second == "REQUEUED" || q->second == "CONFIGURING" ? "pending" : "running";
    } else if (status == std::optional<std::string>("failed")) {
      pv.state = "failed";
      error.Reset();
      error.Bind(1, p.key);
      if (error.Step("sweep status")) pv.error = error.Text(0);
      error.Reset();
    } else if (!pv.task.empty()) {
      pv.state = "unknown";  // ended, but its shard is not visible (yet) or the queue is unknown
    }
    ++v.counts[pv.state];
    v.points.push_back(pv);
  }
  return v;
}

void PrintView(const SweepFolder& f, const SweepView& v, std::ostream& out) {
  out << "sweep " << f.id << " (" << f.dir << ") -> " << f.db << "\n";
  out << "  point  state          task          key           overrides\n";
  for (const auto& p : f.points) {
    const PointView& pv = v.points[p.index];
    char line[96];
    std::snprintf(line, sizeof line, "  %5d  %-13s  %-12s  %-12s  ", p.index, pv.state.c_str(),
                  pv.task.empty() ? "-" : pv.task.c_str(), p.key.substr(0, 12).c_str());
    out << line << Join(p.overrides, " ") << "\n";
  }
  for (const auto& p : f.points)
    if (!v.points[p.index].error.empty()) out << "  point " << p.index << " failed: " << v.points[p.index].error << "\n";
  out << v.ProgressLine(f.id) << "\n";
}

volatile sig_atomic_t g_signal = 0;
volatile pid_t g_child = 0;
void OnTerminate(int sig) {
  g_signal = sig;
  if (g_child > 0) kill(g_child, sig);
}

// Slurm writes why it ends a task into the task's output ("*** JOB 11 ON node CANCELLED AT ...
// DUE TO TIME LIMIT ***") around the time it sends SIGTERM; give it a moment to appear.
std::string SchedulerNote(const std::string& log) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::ifstream in(log);
    std::string note;
    for (std::string line; std::getline(in, line);) {
      auto a = line.find("*** "), b = line.rfind(" ***");
      if (a != std::string::npos && b != std::string::npos && b > a + 4) note = line.substr(a + 4, b - a - 4);
    }
    if (!note.empty()) return note;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "";
}

bool JobHasGpu() {
  for (const char* var : {"CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"}) {
    const char* v = std::getenv(var);
    if (v && *v && std::string(v) != "NoDevFiles") return true;
  }
  return false;
}

}  // namespace

void SubmitSlurmSweep(const std::vector<const PointPlan*>& todo, const LauncherParams& launcher,
                      const SweepOptions& opt) {
  QMOE_ASSERT(!todo.empty());
  slurm::RunProgram({"sbatch", "--version"});  // a missing sbatch is one Error, before anything is written
  if (!launcher.partition.empty()) {
    const auto parts = slurm::Partitions();
    bool known = false;
    for (const auto& p : parts) known |= p == launcher.partition;
    QMOE_CHECK(known, "launcher.partition '", launcher.partition, "' is not a partition of this Slurm cluster",
               DidYouMean(launcher.partition, parts), "; partitions: ", parts.empty() ? "(none)" : Join(parts, ", "));
  }
  const PointPlan& first = *todo.front();
  SweepFolder f;
  f.id = NewSweepId();
  f.dir = Abs(StrCat(std::get<std::string>(first.typed.at("results").at("sweeps")), "/", f.id));
  f.cwd = fs::current_path().string();
  f.config_dir = Abs(opt.config_dir);
  f.db = Abs(first.db_path);
  f.qmoe = fs::read_symlink("/proc/self/exe").string();
  f.gpu = launcher.WantsGpu();
  f.array_parallelism = launcher.array_parallelism;
  f.finish_job = launcher.finish_job;
  for (const std::string* path : {&f.dir, &f.cwd})
    QMOE_CHECK(path->find_first_of(" \t\n'\"") == std::string::npos, "launcher=slurm: the path '", *path,
               "' contains a space or quote, which sbatch's #SBATCH lines cannot carry; use another folder");
  for (const PointPlan* p : todo) {
    SweepPoint sp;
    sp.index = static_cast<int>(f.points.size());
    sp.key = p->key;
    sp.overrides = p->cfg.overrides;
    sp.experiment = p->experiment;
    sp.method = p->method;
    sp.model = p->model;
    sp.seed = p->seed;
    f.points.push_back(std::move(sp));
  }
  std::vector<int> indices;
  for (const auto& p : f.points) indices.push_back(p.index);
  try {
    fs::create_directories(f.dir + "/logs");
    fs::create_directories(f.ShardDir());
    f.Save();
    WriteFileAtomically(f.dir + "/job.sh", JobScript(f, launcher, ArraySpec(indices, launcher.array_parallelism)));
    WriteFileAtomically(f.dir + "/finish.sh", FinishScript(f, launcher));
    WriteFileAtomically(f.dir + "/launcher.yaml", StrCat("# the launcher section this sweep was submitted with\n",
                                                         CanonicalYaml(first.cfg.root["launcher"]), "\n"));
    SubmitArray(f, indices, std::cout);
  } catch (...) {
    // Nothing was queued: leave no half-made sweep behind (the main database was not touched).
    if (f.submissions.empty()) fs::remove_all(f.dir);
    throw;
  }
}

std::vector<std::string> KeysInFlight(const std::string& sweeps_root, const std::string& db_path) {
  std::vector<std::string> keys;
  for (const auto& dir : AllSweepDirs(sweeps_root)) {
    SweepFolder f = SweepFolder::Load(dir);
    if (f.db != Abs(db_path) || f.submissions.empty()) continue;
    const auto queued = slurm::QueuedTasks(f.JobName());
    if (queued.empty()) continue;
    for (const auto& [i, s] : LatestSubmission(f))
      if (queued.count(TaskId(s->job, i))) keys.push_back(f.Point(i).key);
  }
  return keys;
}

int MergeSweepShards(const std::string& sweeps_root, const std::string& db_path) {
  std::vector<std::string> shards;
  for (const auto& dir : AllSweepDirs(sweeps_root)) {
    SweepFolder f = SweepFolder::Load(dir);
    if (f.db != Abs(db_path) || !fs::exists(f.ShardDir())) continue;
    for (auto& s : FindShards(f.ShardDir())) shards.push_back(std::move(s));
  }
  if (shards.empty()) return 0;
  ResultsDb db(db_path);
  MergeReport r = MergeShards(db, shards);
  if (r.counts.added + r.counts.replaced > 0) std::cerr << r.Summary(db_path) << "\n";
  for (const auto& e : r.errors) std::cerr << "qmoe: error: " << e << "\n";
  return static_cast<int>(r.errors.size());
}

int SweepStatus(const std::string& dir, bool wait, double poll_seconds, std::ostream& out) {
  std::string last;
  for (;;) {
    const SweepFolder f = SweepFolder::Load(dir);  // again each time: a resume may have added jobs
    const SweepView v = Refresh(f, wait);
    // "unknown" (ended, but no shard could be merged: e.g. a corrupt one) does not keep --wait going.
    const bool active = v.Count("running") + v.Count("pending") > 0;
    if (!wait || !active) {
      PrintView(f, v, out);
      return wait && v.Count("failed") + v.Count("not submitted") + v.Count("unknown") > 0 ? 1 : 0;
    }
    const std::string line = v.ProgressLine(f.id);
    if (line != last) out << line << std::endl;
    last = line;
    std::this_thread::sleep_for(std::chrono::duration<double>(poll_seconds));
  }
}

int SweepResume(const std::string& dir, std::ostream& out) {
  SweepFolder f = SweepFolder::Load(dir);
  const SweepView v = Refresh(f, true);
  std::vector<int> todo;
  for (const auto& p : f.points) {
    const std::string& s = v.points[p.index].state;
    if (s == "failed" || s == "not submitted" || s == "unknown") todo.push_back(p.index);
  }
  if (todo.empty()) {
    out << "nothing to resume: " << v.ProgressLine(f.id) << "\n";
    return 0;
  }
  // A changed code version or config gives other run keys: resubmitting would record other runs.
  for (int i : todo) {
    const SweepPoint& p = f.Point(i);
    const std::string key = PlanPoint(f.config_dir, p.overrides, f.db).key;
    QMOE_CHECK(key == p.key, "cannot resume sweep ", f.id, ": point ", i, " (", Join(p.overrides, " "),
               ") now has run key ", key.substr(0, 12), ", not ", p.key.substr(0, 12),
               " as submitted (the code or configs changed); run the sweep again to submit a new one");
  }
  SubmitArray(f, todo, out);
  return 0;
}

int SweepCancel(const std::string& dir, std::ostream& out) {
  const SweepFolder f = SweepFolder::Load(dir);
  const auto queued = slurm::QueuedTasks(f.JobName());
  std::set<std::string> jobs;
  for (const auto& [task, state] : queued) jobs.insert(task.substr(0, task.find('_')));
  if (jobs.empty()) {
    out << "nothing to cancel: sweep " << f.id << " has no queued or running tasks\n";
    return 0;
  }
  slurm::Cancel({jobs.begin(), jobs.end()});
  out << "cancelled array job" << (jobs.size() == 1 ? " " : "s ") << Join({jobs.begin(), jobs.end()}, ", ") << " ("
      << queued.size() << " queued or running task" << (queued.size() == 1 ? "" : "s") << ") of sweep " << f.id
      << "; they are recorded as failed (see `qmoe sweep status " << f.id << "`), and `qmoe sweep resume " << f.id
      << "` resubmits them\n";
  return 0;
}

int RunSweepTask(const std::string& dir, int index) {
  // First of all: from here on a SIGTERM from Slurm (scancel, time limit) is recorded, not fatal.
  struct sigaction sa {};
  sa.sa_handler = OnTerminate;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  const SweepFolder f = SweepFolder::Load(dir);
  const SweepPoint& p = f.Point(index);
  const char* env_job = std::getenv("SLURM_ARRAY_JOB_ID");
  const std::string job = env_job && *env_job ? env_job : "manual";
  const std::string task = TaskId(job, index), log = TaskLog(f, task);
  const std::string work = StrCat(LocalTmpDir(), "/qmoe-", f.id, "-", task, ".db");
  RemoveDbFiles(work);
  std::cerr << "qmoe task " << task << ": point " << index << " of sweep " << f.id << ": " << Join(p.overrides, " ")
            << "\n";

  std::string reason;  // why the point failed without recording it itself
  PointPlan plan = PlanPoint(f.config_dir, p.overrides, work);
  if (plan.key != p.key) {
    reason = StrCat("the run key changed since submission (now ", plan.key.substr(0, 12), "): the code or configs ",
                    "differ from what the sweep was submitted with; run the sweep again");
  } else {
    if (f.gpu) {
      // The override hook for GPU jobs: launcher.gpu_overrides were added to the point at submission;
      // QMOE_DEVICE tells the point's process which device the job was given.
      if (JobHasGpu()) setenv("QMOE_DEVICE", "cuda", 1);
      std::cerr << "qmoe task " << task << ": launcher.gres asks for a GPU; "
                << (JobHasGpu() ? "the job has one (QMOE_DEVICE=cuda)" : "the job sees none, the point runs on the CPU")
                << "\n";
    }
    std::vector<std::string> argv = {"qmoe", "_point", "--configs", f.config_dir, "--db", work, "--sweep-id", f.id, "--"};
    argv.insert(argv.end(), p.overrides.begin(), p.overrides.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    int status = 0;
    if (!g_signal) {
      pid_t pid = 0;
      int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, cargv.data(), environ);
      QMOE_CHECK(rc == 0, "cannot start the point's process: ", std::strerror(rc));
      g_child = pid;
      if (g_signal) kill(pid, g_signal);  // arrived between the check and g_child
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      g_child = 0;
    }
    if (g_signal) {
      std::string why = SchedulerNote(log);
      if (why.empty()) why = slurm::EndState(task);
      reason = StrCat("killed by the scheduler (", strsignal(g_signal), why.empty() ? "" : "; Slurm: " + why,
                      ") in task ", task, "; log: ", log);
    } else if (WIFSIGNALED(status)) {
      reason = StrCat("the point's process was killed by signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)),
                      ") in task ", task, "; log: ", log);
    } else if (WEXITSTATUS(status) > 1) {
      reason = StrCat("the point's process exited with status ", WEXITSTATUS(status), " before recording its end in task ",
                      task, "; log: ", log);
    }
  }
  bool done = false;
  {
    ResultsDb db(work);
    if (db.RunStatus(p.key) != std::optional<std::string>("done"))
      RecordFailed(db, f, p, reason.empty() ? StrCat("the point failed without a message; log: ", log) : reason);
    done = db.RunStatus(p.key) == std::optional<std::string>("done");
  }
  PublishShard(work, f.ShardPath(index, job));
  RemoveDbFiles(work);
  std::cerr << "qmoe task " << task << ": " << (done ? "done" : "failed") << "; shard " << f.ShardPath(index, job)
            << "\n";
  return done ? 0 : 1;
}

int FinishSweepJob(const std::string& dir, const std::string& job) {
  const SweepFolder f = SweepFolder::Load(dir);
  bool known = false;
  for (const auto& s : f.submissions) known |= s.job == job;
  QMOE_CHECK(known, "sweep '", dir, "' has no array job ", job, " in jobs.txt");
  // afterany: every task of the array has ended, so none is queued any more.
  const int n = RecordLostTasks(f, {}, job);
  std::cerr << "qmoe sweep " << f.id << ": array job " << job << " ended; " << n << " task" << (n == 1 ? "" : "s")
            << " without a result recorded as failed\n";
  return 0;
}

}  // namespace qmoe
