// Internal to qmoe_results: flag parsing and the `qmoe results` subcommands, one function each.
#pragma once
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "framework/results/results_db.h"

namespace qmoe {

struct FlagSpec {
  std::string name;  // without "--"
  enum Kind { kSwitch, kValue, kList } kind = kValue;  // kList takes values up to the next --flag
};

struct CliArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> flags;  // a switch maps to {}

  bool Has(const std::string& f) const { return flags.count(f) > 0; }
  std::string Get(const std::string& f, const std::string& fallback = "") const;
};

// Parses "--name value", "--name=value" and switches; an unknown flag is an Error naming the
// nearest valid flag and listing all of `specs`.
CliArgs ParseCliArgs(const std::vector<std::string>& args, const std::string& command,
                     const std::vector<FlagSpec>& specs);

// Checks a flag value against its allowed set ("--agg must be one of mean, min, ...").
void CheckChoice(const std::string& flag, const std::string& value, const std::vector<std::string>& choices);

// `merge PATH...`: every shard of the paths into the database at db_path (created if missing); bad
// shards are one error line each on stderr (exit 2) and the others still merge.
int ResultsMerge(const std::string& db_path, const std::vector<std::string>& paths, std::ostream& out);
int ResultsList(ResultsDb& db, const CliArgs& a, std::ostream& out);
int ResultsShow(ResultsDb& db, const CliArgs& a, std::ostream& out);
int ResultsQuery(ResultsDb& db, const CliArgs& a, std::ostream& out);
int ResultsTable(ResultsDb& db, const CliArgs& a, std::ostream& out);
int ResultsExport(ResultsDb& db, const CliArgs& a, std::ostream& out);

}  // namespace qmoe
