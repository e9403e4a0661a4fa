// `qmoe report table1|table2|table3|table4`: the paper's tables, rendered in the paper's shape from
// the runs in the results database (qmoe sweep experiment=tableN fills them).
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace qmoe {

int RunReportCommand(const std::vector<std::string>& args, const std::string& db_path, std::ostream& out);

}  // namespace qmoe
