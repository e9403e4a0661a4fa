// Sweeps on a Slurm cluster: qmoe submits, tracks, resumes, cancels and collects; Slurm schedules.
//
// A sweep with launcher=slurm becomes one job array (task index = point index) over the points not
// yet done, plus a finish job that starts when the array ends (--dependency=afterany). Each task runs
// its point against a database on the node's local disk and publishes it as a shard in the sweep's
// folder (see sweep_folder.h); the main database is written only by `qmoe sweep status|resume`,
// `qmoe results merge` and the next `qmoe sweep`, on the machine they are started on.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "experiments/launcher/launcher_config.h"
#include "experiments/runner.h"

namespace qmoe {

struct SweepOptions;

// Submits `todo` (points of the sweep that are not done) as one job array and its finish job,
// after checking that sbatch exists and launcher.partition is a partition. Prints the sweep id.
void SubmitSlurmSweep(const std::vector<const PointPlan*>& todo, const LauncherParams& launcher,
                      const SweepOptions& opt);

// Points of earlier cluster sweeps (same database) that are still queued or running: run keys.
std::vector<std::string> KeysInFlight(const std::string& sweeps_root, const std::string& db_path);

// Merges every shard of every sweep folder under `sweeps_root` that belongs to `db_path`.
// Shards that cannot be merged are reported on stderr; returns how many.
int MergeSweepShards(const std::string& sweeps_root, const std::string& db_path);

// `qmoe sweep status`: records tasks that ended without a result, merges, prints per-point states
// and a progress line; with `wait`, repeats every `poll_seconds` until nothing is queued.
// Returns 0, or 1 when `wait` ends with points that are not done.
int SweepStatus(const std::string& dir, bool wait, double poll_seconds, std::ostream& out);
// `qmoe sweep resume`: resubmits the points that are neither done nor queued.
int SweepResume(const std::string& dir, std::ostream& out);
// `qmoe sweep cancel`: scancel the sweep's array jobs; the finish job then records the tasks.
int SweepCancel(const std::string& dir, std::ostream& out);

// `qmoe _task`: one array task (runs on a compute node). Returns 0 when the point is done.
int RunSweepTask(const std::string& dir, int index);
// `qmoe _sweep-finish`: records every task of array job `job` that ended without a result.
int FinishSweepJob(const std::string& dir, const std::string& job);

}  // namespace qmoe
