#include "framework/results/results_cli.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iostream>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/results/result_set.h"
#include "framework/results/results_commands.h"
#include "framework/results/shard.h"
#include "framework/results/sqlite_util.h"

namespace qmoe {

namespace {

struct Subcommand {
  std::vector<FlagSpec> flags;
  size_t positional;  // exact number of positional arguments
  std::string positional_name;
  std::function<int(ResultsDb&, const CliArgs&, std::ostream&)> run;
};

const std::map<std::string, Subcommand>& Subcommands() {
  using K = FlagSpec::Kind;
  static const std::map<std::string, Subcommand> table = {
      {"list", {{{"status", K::kValue}, {"experiment", K::kValue}, {"sweep", K::kValue}, {"limit", K::kValue}},
                0, "", ResultsList}},
      {"show", {{{"config", K::kSwitch}}, 1, "RUN (id or key prefix)", ResultsShow}},
      {"query", {{{"csv", K::kSwitch}, {"json", K::kSwitch}}, 1, "\"SQL\"", ResultsQuery}},
      {"table", {{{"rows", K::kValue}, {"cols", K::kValue}, {"value", K::kValue}, {"agg", K::kValue},
                  {"where", K::kList}, {"format", K::kValue}, {"digits", K::kValue}},
                 0, "", ResultsTable}},
      {"export", {{{"csv", K::kValue}, {"json", K::kValue}, {"table", K::kValue}}, 0, "", ResultsExport}},
  };
  return table;
}

std::string FormatDuration(int64_t s) {
  if (s < 60) return StrCat(s, "s");
  char buf[32];
  if (s < 3600) std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  else std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
  return buf;
}

constexpr const char* kDurationSql =
    "CAST(ROUND((julianday(ended_at) - julianday(started_at)) * 86400) AS INTEGER)";

}  // namespace

std::string ResultsUsage() {
  return "qmoe results <subcommand>:\n"
         "  list   [--status running|done|failed] [--experiment E] [--sweep ID] [--limit N]\n"
         "  show   RUN [--config]                       RUN = run id or key prefix\n"
         "  query  \"SQL\" [--csv | --json]               read-only, one statement\n"
         "  table  --rows A [--cols B] --value M [--agg mean|min|max|count] [--where k=v ...]\n"
         "         [--format text|csv|markdown] [--digits N]   (done runs, run-level metrics)\n"
         "  export (--csv FILE | --json FILE) [--table run_metrics|runs|run_params|metrics|\n"
         "         kernel_timings|reference_results]    FILE '-' = stdout\n"
         "  merge  [SHARD|DIR ...]                       fold cluster shards into the database (default: every\n"
         "         sweep folder); idempotent, one transaction per shard, safe while tasks run\n";
}

std::string CliArgs::Get(const std::string& f, const std::string& fallback) const {
  auto it = flags.find(f);
  return (it == flags.end() || it->second.empty()) ? fallback : it->second.back();
}

CliArgs ParseCliArgs(const std::vector<std::string>& args, const std::string& command,
                     const std::vector<FlagSpec>& specs) {
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back("--" + s.name);
  CliArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      out.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), inline_value;
    bool has_inline = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    auto spec = std::find_if(specs.begin(), specs.end(), [&](const FlagSpec& s) { return s.name == name; });
    QMOE_CHECK(spec != specs.end(), "qmoe results ", command, ": unknown flag '--", name, "'",
               DidYouMean("--" + name, names), "; valid flags: ", names.empty() ? "(none)" : Join(names, ", "));
    auto& values = out.flags[name];
    if (spec->kind == FlagSpec::kSwitch) {
      QMOE_CHECK(!has_inline, "qmoe results ", command, ": --", name, " takes no value, got '", inline_value, "'");
      continue;
    }
    if (has_inline) {
      values.push_back(inline_value);
    } else {
      QMOE_CHECK(i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0, "qmoe results ", command, ": --", name,
                 " needs a value");
      values.push_back(args[++i]);
    }
    if (spec->kind == FlagSpec::kList)
      while (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) values.push_back(args[++i]);
  }
  return out;
}

void CheckChoice(const std::string& flag, const std::string& value, const std::vector<std::string>& choices) {
  QMOE_CHECK(std::find(choices.begin(), choices.end(), value) != choices.end(), "--", flag, " must be one of ",
             Join(choices, ", "), ", got '", value, "'", DidYouMean(value, choices));
}

int RunResultsCommand(const std::vector<std::string>& args, const std::string& db_path, std::ostream& out) {
  std::vector<std::string> names;
  for (const auto& [n, _] : Subcommands()) names.push_back(n);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    out << ResultsUsage();
    return args.empty() ? 1 : 0;
  }
  if (args[0] == "merge") return ResultsMerge(db_path, {args.begin() + 1, args.end()}, out);
  auto it = Subcommands().find(args[0]);
  names.push_back("merge");
  QMOE_CHECK(it != Subcommands().end(), "qmoe results: unknown subcommand '", args[0], "'", DidYouMean(args[0], names),
             "; valid: ", Join(names, ", "), ", help");
  const Subcommand& sub = it->second;
  CliArgs a = ParseCliArgs({args.begin() + 1, args.end()}, args[0], sub.flags);
  QMOE_CHECK(a.positional.size() == sub.positional, "qmoe results ", args[0], ": expected ",
             sub.positional ? StrCat(sub.positional, " argument ", sub.positional_name) : std::string("no arguments"),
             ", got ", a.positional.size(), a.positional.empty() ? "" : StrCat(" ('", Join(a.positional, "' '"), "')"));
  // Never create a database by looking at it: a mistyped --db path must fail.
  QMOE_CHECK(std::filesystem::exists(db_path), "results database '", db_path,
             "' does not exist (run an experiment first, or pass --db PATH)");
  ResultsDb db(db_path);
  return sub.run(db, a, out);
}

int ResultsMerge(const std::string& db_path, const std::vector<std::string>& paths, std::ostream& out) {
  QMOE_CHECK(!paths.empty(), "qmoe results merge: give shard files or folders to merge");
  std::vector<std::string> shards;
  for (const auto& p : paths) {
    QMOE_CHECK(p.rfind("--", 0) != 0, "qmoe results merge: unknown flag '", p, "'; it takes shard files or folders");
    for (auto& s : FindShards(p)) shards.push_back(std::move(s));
  }
  if (auto parent = std::filesystem::path(db_path).parent_path(); !parent.empty())
    std::filesystem::create_directories(parent);
  ResultsDb db(db_path);
  MergeReport r = MergeShards(db, shards);
  out << r.Summary(db_path) << "\n";
  for (const auto& e : r.errors) std::cerr << "qmoe: error: " << e << "\n";
  return r.errors.empty() ? 0 : 2;
}

int ResultsList(ResultsDb& db, const CliArgs& a, std::ostream& out) {
  std::string where = "1=1";
  std::vector<std::string> binds;
  if (a.Has("status")) {
    CheckChoice("status", a.Get("status"), {"running", "done", "failed"});
    where += StrCat(" AND status = ?", binds.size() + 1);
    binds.push_back(a.Get("status"));
  }
  if (a.Has("experiment")) {
    where += StrCat(" AND experiment = ?", binds.size() + 1);
    binds.push_back(a.Get("experiment"));
  }
  if (a.Has("sweep")) {  // a prefix is enough, as for run keys
    where += StrCat(" AND substr(sweep_id, 1, length(?", binds.size() + 1, ")) = ?", binds.size() + 1);
    binds.push_back(a.Get("sweep"));
  }
  int64_t limit = -1;
  if (a.Has("limit")) {
    const std::string v = a.Get("limit");
    QMOE_CHECK(!v.empty() && std::all_of(v.begin(), v.end(), ::isdigit) && v.size() < 10 && std::stoll(v) > 0,
               "--limit must be a positive integer, got '", v, "'");
    limit = std::stoll(v);
  }
  // --limit keeps the newest N runs, still printed oldest first.
  SqlStmt st(db.handle(),
             StrCat("SELECT * FROM (SELECT id, substr(key, 1, 12), experiment, method, status, started_at, ",
                    kDurationSql, ", overrides FROM runs WHERE ", where, " ORDER BY id DESC LIMIT ", limit,
                    ") ORDER BY id"),
             db.path());
  for (size_t i = 0; i < binds.size(); ++i) st.Bind(static_cast<int>(i + 1), binds[i]);
  ResultSet rs;
  rs.columns = {"id", "key", "experiment", "method", "status", "started", "duration", "overrides"};
  while (st.Step("list")) {
    rs.rows.push_back({Cell::Int(st.Int(0)), Cell::Text(st.Text(1)), Cell::Text(st.Text(2)), Cell::Text(st.Text(3)),
                       Cell::Text(st.Text(4)), Cell::Text(st.Text(5)),
                       Cell::Text(st.IsNull(6) ? "-" : FormatDuration(st.Int(6))), Cell::Text(st.Text(7))});
  }
  WriteText(rs, out);
  return 0;
}

namespace {

// A run id (all digits) or a unique key prefix -> run id.
int64_t ResolveRun(ResultsDb& db, const std::string& ref) {
  if (!ref.empty() && std::all_of(ref.begin(), ref.end(), ::isdigit) && ref.size() < 18) {
    SqlStmt st(db.handle(), "SELECT id FROM runs WHERE id = ?1", db.path());
    st.Bind(1, static_cast<int64_t>(std::stoll(ref)));
    if (st.Step("show")) return st.Int(0);
  }
  SqlStmt st(db.handle(), "SELECT id FROM runs WHERE substr(key, 1, length(?1)) = ?1 ORDER BY id", db.path());
  st.Bind(1, ref);
  std::vector<std::string> ids;
  while (st.Step("show")) ids.push_back(std::to_string(st.Int(0)));
  QMOE_CHECK(!ref.empty() && !ids.empty(), "no run with id or key prefix '", ref, "' in results database '", db.path(),
             "' (see `qmoe results list`)");
  QMOE_CHECK(ids.size() == 1, "key prefix '", ref, "' matches ", ids.size(), " runs (ids ", Join(ids, ", "),
             "); give more characters or the run id");
  return std::stoll(ids[0]);
}

}  // namespace

int ResultsShow(ResultsDb& db, const CliArgs& a, std::ostream& out) {
  const int64_t id = ResolveRun(db, a.positional[0]);
  SqlStmt run(db.handle(),
              StrCat("SELECT key, sweep_id, experiment, method, model, status, started_at, ended_at, ", kDurationSql,
                     ", seed, host, git_commit, code_version, error, overrides, config_yaml FROM runs WHERE id = ?1"),
              db.path());
  run.Bind(1, id);
  QMOE_ASSERT(run.Step("show"));
  ResultSet rec;
  rec.columns = {"run", std::to_string(id)};
  auto field = [&](const std::string& name, const std::string& value) {
    rec.rows.push_back({Cell::Text(name), Cell::Text(value)});
  };
  field("key", run.Text(0));
  field("sweep_id", run.Text(1));
  field("experiment", run.Text(2));
  field("method", run.Text(3));
  field("model", run.Text(4));
  field("status", run.Text(5));
  field("started_at", run.Text(6));
  field("ended_at", run.IsNull(7) ? "-" : run.Text(7));
  field("duration", run.IsNull(8) ? "-" : FormatDuration(run.Int(8)));
  field("seed", std::to_string(run.Int(9)));
  field("host", run.Text(10));
  field("git_commit", run.Text(11));
  field("code_version", run.Text(12));
  if (!run.Text(13).empty()) field("error", run.Text(13));
  field("overrides", run.Text(14));
  const std::string config = run.Text(15);
  WriteText(rec, out);

  SqlStmt params(db.handle(), "SELECT key, value FROM run_params WHERE run_id = ?1 ORDER BY key", db.path());
  params.Bind(1, id);
  out << "\nparams:\n";
  WriteText(CollectRows(params, "show params"), out);

  SqlStmt metrics(db.handle(),
                  "SELECT name, value, unit FROM metrics WHERE run_id = ?1 AND layer = '' AND expert = -1 AND "
                  "matrix = '' AND domain = '' ORDER BY name",
                  db.path());
  metrics.Bind(1, id);
  out << "\nrun-level metrics:\n";
  WriteText(CollectRows(metrics, "show metrics"), out, "nan");

  SqlStmt labelled(db.handle(),
                   "SELECT name, count(*) AS rows, count(DISTINCT nullif(layer, '')) AS layers, "
                   "count(DISTINCT nullif(expert, -1)) AS experts, count(DISTINCT nullif(matrix, '')) AS matrices, "
                   "count(DISTINCT nullif(domain, '')) AS domains FROM metrics WHERE run_id = ?1 AND NOT (layer = '' "
                   "AND expert = -1 AND matrix = '' AND domain = '') GROUP BY name ORDER BY name",
                   db.path());
  labelled.Bind(1, id);
  out << "\nper-label metric rows:\n";
  WriteText(CollectRows(labelled, "show labelled metrics"), out);

  SqlStmt timings(db.handle(), "SELECT count(*) FROM kernel_timings WHERE run_id = ?1", db.path());
  timings.Bind(1, id);
  timings.Step("show timings");
  out << "\nkernel_timings rows: " << timings.Int(0) << "\n";
  if (a.Has("config")) out << "\nconfig:\n" << config << "\n";
  return 0;
}

}  // namespace qmoe
