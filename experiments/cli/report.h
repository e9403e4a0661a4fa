// `qmoe report table1..table7 [--where key=value ...]`: the paper's tables, rendered in the paper's
// shape from the finished compress runs in the results database, with the paper's cells beside
// ours. A table never pools runs that differ in any resolved-config key but its own axes and the
// seed: each such group prints as its own table, headed by the keys that differ (report_runs.h).
// A cell averages its distinct seeds and shows ±std (n=K) only when there are several; a cell
// whose calibration request was capped carries "*" and a footnote with the samples used.
// Table 1 times the first sparse encoder block (encoder.block.1 on every Switch model), chosen by
// block number. Table 6 needs runs at real shapes and says so until there are some.
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace qmoe {

int RunReportCommand(const std::vector<std::string>& args, const std::string& db_path, std::ostream& out);

}  // namespace qmoe
