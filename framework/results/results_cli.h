// `qmoe results ...`: read-only views of the results database, and `merge`, which folds shard
// databases in. Output goes to `out`; bad input (unknown subcommand or flag, unknown run, metric or key) is one qmoe::Error naming the nearest
// valid choice. Returns the process exit code (0 on success).
//
//   list   [--status S] [--experiment E] [--sweep ID] [--limit N]
//   show   RUN [--config]                        RUN = id or key prefix
//   query  "SQL" [--csv | --json]                read-only, one statement
//   table  --rows A [--cols B] --value M [--agg mean|min|max|count] [--where k=v ...]
//          [--format text|csv|markdown] [--digits N]
//   export (--csv FILE | --json FILE) [--table run_metrics|runs|run_params|metrics|kernel_timings|
//          reference_results]                      FILE "-" writes to `out`
//   merge  SHARD|DIR ...                          fold cluster shards (framework/results/shard.h) in
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace qmoe {

int RunResultsCommand(const std::vector<std::string>& args, const std::string& db_path, std::ostream& out);

// The usage text above, for `qmoe results help`.
std::string ResultsUsage();

}  // namespace qmoe
