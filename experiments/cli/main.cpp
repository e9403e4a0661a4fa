// qmoe: the command-line entry point. Each command parses its own arguments; bad input prints one
// error and exits with status 2, a failed run exits with status 1.
#include <iostream>
#include <string>
#include <vector>

#include "experiments/cli/commands.h"
#include "framework/core/error.h"
#include "framework/core/openblas_core.h"
#include "framework/core/strings.h"

namespace {

const char* kUsage = R"(qmoe — sub-1-bit compression of Mixture-of-Experts models (QMoE)

usage: qmoe <command> [options] [overrides]

commands:
  run [overrides]              run one point with the composed config (default: configs/config.yaml)
  sweep [overrides] [-j N]     run the grid of comma lists / range() values; resumes, skips done points
        [--dry-run]            launcher=slurm submits the points as a Slurm job array (docs/cluster.md)
  sweep status [SWEEP]         a cluster sweep's points (pending/running/done/failed); merges finished
        [--wait]               ones; --wait: until nothing is queued
  sweep resume SWEEP           resubmit a cluster sweep's points that are not done
  sweep cancel SWEEP           cancel a cluster sweep's array jobs
  config show [overrides]      print the resolved config
  methods                      list registered methods and their parameters
  experiments                  list experiment types and their parameters
  results <sub> [...]          list | show RUN | query "SQL" | table --rows A --cols B --value M | export
                               | merge [SHARD|DIR...] (fold cluster sweep shards into the database)
  report cost [--gpu NAME ...]  projected time, peak RAM and disk to compress every configs/model entry
                               (after qmoe run experiment=cost; docs/cost-model.md)
  report tableN [--where k=v]  the paper's tables 1-7 from the database (after qmoe sweep experiment=tableN),
                               one table per group of runs that differ only in the table's axes and seed
  codec <sub> [...]            dictionary --dump FILE | rate --rows R --cols C [--streams S]
  eval [overrides]             span-corruption loss and perplexity per domain (= run experiment=eval),
                               e.g. qmoe eval model=switch-tiny-32, or model.path=DIR of a compressed model
  train --recipe FILE          train a Switch model on the CPU (configs/train/*.yaml) [--resume]
  synth model=NAME out=DIR     write a SYNTHETIC checkpoint with a configs/model entry's true shapes
        [layers=N experts=E seed=S shard_mb=M]   (for measuring rate, memory and speed at real scale)
  forward --model DIR          logits of given encoder/decoder ids: --input FILE(.json|.safetensors)
                               --output FILE.safetensors [--dtype float32|bfloat16]

options for run/sweep/config:
  --configs DIR                config directory (default: $QMOE_CONFIG_DIR, ./configs, or the source tree's)
  --db PATH                    results database (default: results.db from the config)

overrides (Hydra syntax):  key=value  group=option  +new.key=value  ++key=value  ~key
  e.g.  qmoe sweep experiment=matrix method=rtn method.bits=2,3,4 seed=0,1 -j 2
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string cmd = args[0];
  // Commands that compute: make sure OpenBLAS runs the kernels this CPU supports (see
  // framework/core/openblas_core.h); the others start faster without a possible re-exec.
  if (cmd == "run" || cmd == "sweep" || cmd == "eval" || cmd == "train" || cmd == "forward" || cmd == "synth" || cmd == "_point")
    qmoe::MaybeReexecForOpenBlas(argv);
  args.erase(args.begin());
  for (const std::string& a : args)
    if (a == "-h" || a == "--help") {  // `qmoe <command> --help`: the same overview
      std::cout << kUsage;
      return 0;
    }
  try {
    const auto& commands = qmoe::Commands();
    auto it = commands.find(cmd);
    if (it == commands.end()) {
      std::vector<std::string> names;
      for (const auto& [n, f] : commands)
        if (n[0] != '_') names.push_back(n);
      throw qmoe::Error(qmoe::StrCat("unknown command '", cmd, "'", qmoe::DidYouMean(cmd, names),
                                     "; commands: ", qmoe::Join(names, ", "), " (qmoe --help)"));
    }
    return it->second(args);
  } catch (const qmoe::Error& e) {
    std::cerr << "qmoe: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "qmoe: internal error: " << e.what() << "\n";
    return 3;
  }
}
