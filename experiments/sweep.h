// Sweeps: expand override lists into a grid of points and run them, resuming where a previous
// invocation stopped. A point's key is a hash of its resolved config plus the code version, so a
// finished point is never run twice and an interrupted one is re-run.
#pragma once
#include <string>
#include <vector>

namespace qmoe {

// Expands `key=a,b,c` and `key=range(start,stop[,step])` (stop exclusive, as in Hydra) into the
// cartesian product, in argument order (the last argument varies fastest). Other arguments pass
// through unchanged. Quoted values and [lists] / {maps} are not split.
std::vector<std::vector<std::string>> ExpandSweep(const std::vector<std::string>& args);

// The points of a sweep: ExpandSweep(args), or, when the composed config declares
// `sweep.grids`, the union of each grid's expansion appended to `args`.
std::vector<std::vector<std::string>> SweepPoints(const std::vector<std::string>& args, const std::string& config_dir);

struct SweepOptions {
  int jobs = 1;              // points run at once; >1 runs each point in a worker process
  bool dry_run = false;      // print the points and their status, run nothing
  std::string config_dir;
  std::string db_override;   // --db PATH ("" = from config)
};

// A new sweep id: the UTC time and the process id, e.g. "20240501-120000-4242" (sorts by time).
std::string NewSweepId();

// Runs every point (launcher=local) or submits the points not done as a Slurm job array
// (launcher=slurm, see experiments/launcher/slurm_sweep.h); returns the number of failed points. A failing point is recorded as failed
// and the sweep goes on.
int RunSweep(const std::vector<std::string>& args, const SweepOptions& opt);

}  // namespace qmoe
