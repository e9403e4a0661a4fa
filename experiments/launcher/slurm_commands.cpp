#include "experiments/launcher/slurm_commands.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/strings.h"

extern char** environ;

namespace qmoe::slurm {
namespace {

std::string Slurp(int fd) {
  std::string s;
  lseek(fd, 0, SEEK_SET);
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

int TempFile() {
  char name[] = "/tmp/qmoe-slurm-XXXXXX";
  int fd = mkstemp(name);
  QMOE_CHECK(fd >= 0, "cannot create a temporary file in /tmp: ", std::strerror(errno));
  unlink(name);
  return fd;
}

std::string Quoted(const std::string& s) { return StrCat("'", Trim(s), "'"); }

}  // namespace

ProgramResult RunProgram(const std::vector<std::string>& argv) {
  QMOE_ASSERT(!argv.empty());
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& s : args) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  int out = TempFile(), err = TempFile();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0].c_str(), &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    close(out);
    close(err);
    QMOE_CHECK(rc != ENOENT, "'", argv[0], "' was not found on PATH: launcher=slurm needs Slurm's client commands ",
               "(sbatch, squeue, scontrol, scancel, sinfo) on this machine; install them (Debian: slurm-client) ",
               "or use launcher=local");
    throw Error(StrCat("cannot start '", argv[0], "': ", std::strerror(rc)));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ProgramResult r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(out);
  r.err = Slurp(err);
  close(out);
  close(err);
  return r;
}

std::string Submit(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProgramResult r = RunProgram(argv);
  QMOE_CHECK(r.status == 0, "Slurm rejected the submission (sbatch exited with status ", r.status, "): ",
             Trim(r.err + r.out).empty() ? std::string("no message") : Quoted(r.err + r.out));
  std::string id = Trim(r.out);
  if (auto semi = id.find(';'); semi != std::string::npos) id = id.substr(0, semi);  // "123;cluster"
  QMOE_CHECK(!id.empty() && id.find_first_not_of("0123456789") == std::string::npos,
             "sbatch accepted the submission but printed no job id: ", Quoted(r.out + r.err));
  return id;
}

std::map<std::string, std::string> QueuedTasks(const std::string& job_name) {
  ProgramResult r = RunProgram({"squeue", "--noheader", "--array", "--name=" + job_name, "--format=%i|%T"});
  QMOE_CHECK(r.status == 0, "cannot ask Slurm for the queue (squeue exited with status ", r.status,
             "): ", Quoted(r.err + r.out), "; is slurmctld running?");
  std::map<std::string, std::string> tasks;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    auto bar = line.find('|');
    if (bar == std::string::npos) continue;
    tasks[Trim(line.substr(0, bar))] = Trim(line.substr(bar + 1));
  }
  return tasks;
}

std::string EndState(const std::string& job_id) {
  ProgramResult r;
  try {
    r = RunProgram({"scontrol", "--oneliner", "show", "job", job_id});
  } catch (const Error&) {
    return "";
  }
  if (r.status != 0) return "";
  // With an array job id, scontrol prints every task; keep the line of this one.
  std::string line;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) {
    if (line.empty()) line = l;
    auto us = job_id.find('_');
    if (us != std::string::npos && l.find("ArrayJobId=" + job_id.substr(0, us) + " ") != std::string::npos &&
        l.find("ArrayTaskId=" + job_id.substr(us + 1) + " ") != std::string::npos)
      line = l;
  }
  std::string out;
  for (const char* field : {"JobState=", "Reason=", "ExitCode="}) {
    auto at = line.find(StrCat(" ", field));
    if (at == std::string::npos) continue;
    auto end = line.find(' ', at + 1);
    out += (out.empty() ? "" : " ") + line.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
  }
  return out;
}

std::vector<std::string> Partitions() {
  ProgramResult r = RunProgram({"sinfo", "--noheader", "--format=%R"});
  QMOE_CHECK(r.status == 0, "cannot ask Slurm for its partitions (sinfo exited with status ", r.status, "): ",
             Quoted(r.err + r.out), "; is slurmctld running?");
  std::vector<std::string> names;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);)
    if (!Trim(l).empty()) names.push_back(Trim(l));
  return names;
}

void Cancel(const std::vector<std::string>& job_ids) {
  if (job_ids.empty()) return;
  std::vector<std::string> argv = {"scancel"};
  argv.insert(argv.end(), job_ids.begin(), job_ids.end());
  ProgramResult r = RunProgram(argv);
  QMOE_CHECK(r.status == 0, "scancel ", Join(job_ids, " "), " failed (status ", r.status, "): ", Quoted(r.err + r.out));
}

}  // namespace qmoe::slurm
