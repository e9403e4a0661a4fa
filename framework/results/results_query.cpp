// `qmoe results query` (read-only SQL) and `qmoe results export` (CSV/JSON files).
#include <sqlite3.h>

#include <fstream>
#include <set>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/io/atomic_file.h"
#include "framework/results/result_set.h"
#include "framework/results/results_commands.h"
#include "framework/results/sqlite_util.h"

namespace qmoe {

namespace {

// A second connection opened read-only, so no statement typed by a user can change the file.
class ReadOnlyConnection {
 public:
  explicit ReadOnlyConnection(const std::string& path) : path_(path) {
    int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_close_v2(db_);
      ThrowSqlite(nullptr, rc, path, "opening read-only");
    }
    sqlite3_busy_timeout(db_, ResultsDb::kDefaultBusyTimeoutMs);
  }
  ~ReadOnlyConnection() { sqlite3_close_v2(db_); }
  sqlite3* get() { return db_; }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

// Run-level metrics joined with their run and its params: one row per (run, metric), params as
// columns "param.<key>" (prefixed so that a config key never collides with a run column).
ResultSet RunMetricsTable(ResultsDb& db) {
  SqlStmt keys(db.handle(), "SELECT DISTINCT key FROM run_params ORDER BY key", db.path());
  std::vector<std::string> param_keys;
  while (keys.Step("export")) param_keys.push_back(keys.Text(0));

  SqlStmt st(db.handle(),
             "SELECT r.id AS run_id, r.key, r.sweep_id, r.experiment, r.method, r.model, r.status, r.seed, "
             "r.started_at, r.ended_at, m.name AS metric, m.value, m.unit FROM metrics m JOIN runs r ON r.id = m.run_id "
             "WHERE m.layer = '' AND m.expert = -1 AND m.matrix = '' AND m.domain = '' ORDER BY r.id, m.name",
             db.path());
  ResultSet rs = CollectRows(st, "export");
  const size_t fixed = rs.columns.size();
  for (const auto& k : param_keys) rs.columns.push_back("param." + k);

  SqlStmt params(db.handle(), "SELECT key, value FROM run_params WHERE run_id = ?1", db.path());
  std::map<int64_t, std::vector<Cell>> by_run;
  for (auto& row : rs.rows) {
    const int64_t run_id = row[0].i;
    auto [it, fresh] = by_run.try_emplace(run_id, param_keys.size());
    if (fresh) {
      params.Reset();
      params.Bind(1, run_id);
      while (params.Step("export params")) {
        size_t col = std::lower_bound(param_keys.begin(), param_keys.end(), params.Text(0)) - param_keys.begin();
        it->second[col] = Cell::Text(params.Text(1));
      }
    }
    row.resize(fixed);
    row.insert(row.end(), it->second.begin(), it->second.end());
  }
  return rs;
}

}  // namespace

int ResultsQuery(ResultsDb& db, const CliArgs& a, std::ostream& out) {
  QMOE_CHECK(!(a.Has("csv") && a.Has("json")), "qmoe results query: give --csv or --json, not both");
  ReadOnlyConnection ro(db.path());
  const std::string& sql = a.positional[0];
  SqlStmt st(ro.get(), sql, db.path());
  QMOE_CHECK(!st.HasTail(), "qmoe results query: give one SQL statement, got more after the first in '", sql, "'");
  QMOE_CHECK(st.ReadOnly(), "qmoe results query is read-only: '", sql,
             "' would write (use the sqlite3 shell to edit a results database)");
  ResultSet rs = CollectRows(st, "query");
  if (a.Has("csv")) WriteCsv(rs, out);
  else if (a.Has("json")) WriteJson(rs, out);
  else WriteText(rs, out);
  return 0;
}

int ResultsExport(ResultsDb& db, const CliArgs& a, std::ostream& out) {
  QMOE_CHECK(a.Has("csv") != a.Has("json"), "qmoe results export: give exactly one of --csv FILE or --json FILE");
  const std::string table = a.Get("table", "run_metrics");
  CheckChoice("table", table,
              {"run_metrics", "runs", "run_params", "metrics", "kernel_timings", "reference_results"});
  ResultSet rs;
  if (table == "run_metrics") {
    rs = RunMetricsTable(db);
  } else {
    SqlStmt st(db.handle(), StrCat("SELECT * FROM ", table, " ORDER BY rowid"), db.path());  // name checked above
    rs = CollectRows(st, "export");
  }
  const std::string file = a.Has("csv") ? a.Get("csv") : a.Get("json");
  auto write = [&](std::ostream& os) { a.Has("csv") ? WriteCsv(rs, os) : WriteJson(rs, os); };
  if (file == "-") {
    write(out);
    return 0;
  }
  std::ostringstream text;
  write(text);
  try {
    WriteFileAtomically(file, text.str());  // a crash or full disk never leaves a torn export
  } catch (const Error& e) {
    throw Error(StrCat("qmoe results export: ", e.what()));
  }
  out << "wrote " << rs.rows.size() << " rows (" << table << ") to " << file << "\n";
  return 0;
}

}  // namespace qmoe
