// The table of qmoe commands: name -> handler(args) -> exit status.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace qmoe {

using Command = std::function<int(const std::vector<std::string>&)>;
const std::map<std::string, Command>& Commands();

// Options shared by run/sweep/config; everything else is an override.
struct CommonOptions {
  std::string config_dir;
  std::string db;
  int jobs = 1;
  bool dry_run = false;
  std::string sweep_id;
  std::vector<std::string> overrides;
};
// `allowed` lists the flags the command accepts (e.g. {"--configs", "--db", "-j"}).
CommonOptions ParseCommon(const std::vector<std::string>& args, const std::vector<std::string>& allowed,
                          const std::string& command);

}  // namespace qmoe
