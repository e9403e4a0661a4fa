// Slurm's client commands (sbatch, squeue, scontrol, scancel, sinfo), run as programs from PATH.
// qmoe never schedules: Slurm does. A missing command is one Error naming it; a command that
// fails is one Error that shows Slurm's own message.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace qmoe::slurm {

struct ProgramResult {
  int status = 0;  // exit status (128 + signal when killed)
  std::string out, err;
};
// Runs argv[0] (searched on PATH) with the other arguments, waits, and returns its output.
ProgramResult RunProgram(const std::vector<std::string>& argv);

// `sbatch --parsable ARGS...`: the job id. A rejected submission is an Error quoting sbatch.
std::string Submit(const std::vector<std::string>& args);

// Tasks that Slurm still knows as queued or running, for jobs named `job_name`:
// "<array job id>_<index>" (or "<job id>") -> state (PENDING, RUNNING, COMPLETING, ...).
std::map<std::string, std::string> QueuedTasks(const std::string& job_name);

// How a job or array task ended, from `scontrol show job` ("JobState=TIMEOUT Reason=..."), or ""
// once the controller has forgotten it (after MinJobAge) or when Slurm cannot be asked.
std::string EndState(const std::string& job_id);

// The partitions of the cluster (`sinfo`).
std::vector<std::string> Partitions();

// `scancel IDS...`; an Error quoting scancel when it fails.
void Cancel(const std::vector<std::string>& job_ids);

}  // namespace qmoe::slurm
