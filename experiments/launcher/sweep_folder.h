// The folder of one cluster sweep, results/sweeps/<sweep id>/:
//   sweep.json    what the tasks need: the points (index, run key, overrides), config dir, database, binary
//   points.txt    the same point list for people: "<index> <key prefix> <overrides>"
//   job.sh        the sbatch array script (task index = point index); `sbatch --array=0,3 job.sh` resubmits
//   finish.sh     the dependent job that records how every task of a submission ended
//   jobs.txt      one line per submission: array job id, finish job id, time, point indices
//   shards/       <index>.<array job id>.db: one shard database per task attempt, and
//                 <index>.<array job id>.lost.db for an attempt that died without recording its end
//   logs/         Slurm's output of each task and finish job
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qmoe {

struct SweepPoint {
  int index = 0;
  std::string key;                     // run key at submission
  std::vector<std::string> overrides;  // as the task runs them
  std::string experiment, method, model;
  int64_t seed = 0;
};

struct Submission {
  std::string job;         // array job id
  std::string finish_job;  // "" when none was submitted
  int64_t time = 0;        // unix seconds
  std::vector<int> indices;
};

struct SweepFolder {
  std::string dir;         // absolute
  std::string id;          // the sweep id (the folder's name)
  std::string cwd;         // where the sweep was submitted; tasks run there
  std::string config_dir;  // absolute
  std::string db;          // the main results database, absolute
  std::string qmoe;        // the binary tasks run, absolute
  bool gpu = false;        // launcher.gres asks for a GPU
  int64_t array_parallelism = 0;  // launcher.array_parallelism, for resubmissions
  bool finish_job = true;         // launcher.finish_job
  std::vector<SweepPoint> points;
  std::vector<Submission> submissions;  // from jobs.txt, oldest first

  std::string JobName() const { return "qmoe-" + id; }
  std::string ShardDir() const { return dir + "/shards"; }
  std::string ShardPath(int index, const std::string& job) const;      // written by the task
  std::string LostShardPath(int index, const std::string& job) const;  // by whoever finds it lost
  const SweepPoint& Point(int index) const;  // Error naming the folder when out of range

  static SweepFolder Load(const std::string& dir);  // Error naming the file when missing or malformed
  void Save() const;                                // sweep.json + points.txt, each written atomically
  void AppendSubmission(const Submission& s);       // one line of jobs.txt (and to `submissions`)
};

// Writes `text` to `path` through a temporary file and a rename.
void WriteFileAtomically(const std::string& path, const std::string& text);

// A sweep folder under `root`: `ref` is a path to one, a sweep id, or a unique prefix of one;
// "" is the newest sweep. An Error lists what exists when nothing or several match.
std::string FindSweepDir(const std::string& root, const std::string& ref);
// Every sweep folder under `root` (folders with a sweep.json), oldest first.
std::vector<std::string> AllSweepDirs(const std::string& root);

}  // namespace qmoe
