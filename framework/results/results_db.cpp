#include "framework/results/results_db.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <thread>

#include <unistd.h>

#include "framework/core/error.h"
#include "framework/results/schema.h"
#include "framework/results/sqlite_util.h"

namespace qmoe {

namespace {

constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%SZ','now')";

// A write transaction unless the caller already opened one with Begin(): then writes join it.
class WriteTxn {
 public:
  WriteTxn(sqlite3* db, const std::string& path) : db_(db), path_(path), own_(sqlite3_get_autocommit(db) != 0) {
    if (own_) ExecSql(db_, "BEGIN IMMEDIATE", path_);
  }
  ~WriteTxn() {
    if (own_ && !committed_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void Commit() {
    if (own_) ExecSql(db_, "COMMIT", path_);
    committed_ = true;
  }

 private:
  sqlite3* db_;
  const std::string& path_;
  bool own_;
  bool committed_ = false;
};

// Switching a fresh file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at once
// there instead of calling the busy handler, so several processes creating one database race.
// Retry with short sleeps up to the busy timeout; a database already in WAL needs no switch.
void SetWalMode(sqlite3* db, const std::string& path, int busy_timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  std::minstd_rand jitter(static_cast<unsigned>(getpid()) * 2654435761u + 1);  // differs across forked workers
  for (;;) {
    int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return;
    int ext = sqlite3_extended_errcode(db);
    if ((ext & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline)
      ThrowSqlite(db, ext, path, "PRAGMA journal_mode=WAL");
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + jitter() % 20));
  }
}

}  // namespace

namespace {
// $QMOE_DB_BUSY_TIMEOUT_MS shortens or lengthens the wait for a locked database (tests use it).
int BusyTimeoutFromEnv() {
  const char* env = std::getenv("QMOE_DB_BUSY_TIMEOUT_MS");
  if (!env || !*env) return ResultsDb::kDefaultBusyTimeoutMs;
  char* end = nullptr;
  long v = std::strtol(env, &end, 10);
  QMOE_CHECK(*end == '\0' && v >= 0 && v <= 3600000, "QMOE_DB_BUSY_TIMEOUT_MS must be milliseconds in [0, 3600000], got '", env, "'");
  return static_cast<int>(v);
}
}  // namespace

ResultsDb::ResultsDb(const std::string& path) : ResultsDb(path, BusyTimeoutFromEnv()) {}

ResultsDb::ResultsDb(const std::string& path, int busy_timeout_ms) : path_(path) {
  QMOE_CHECK(!path.empty(), "results database path is empty (set results.db or pass --db PATH)");
  int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  try {
    if (rc != SQLITE_OK) ThrowSqlite(db_, rc, path_, "open");
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    // journal_mode reads the file header first, so a non-SQLite file fails here ("not a database").
    SetWalMode(db_, path_, busy_timeout_ms);
    ExecSql(db_, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL", path_);  // NORMAL is safe in WAL
    MigrateSchema(db_, path_, SchemaVersion(), SchemaMigrations());
  } catch (...) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

ResultsDb::~ResultsDb() {
  stmts_.clear();
  sqlite3_close_v2(db_);  // an open Begin() without Commit() is rolled back by SQLite
}

int ResultsDb::SchemaVersion() { return kSchemaSqlVersion; }

SqlStmt& ResultsDb::Cached(const char* sql) {
  auto& st = stmts_[sql];
  if (!st) st = std::make_unique<SqlStmt>(db_, sql, path_);
  st->Reset();
  return *st;
}

std::optional<std::string> ResultsDb::RunStatus(const std::string& key) {
  SqlStmt& st = Cached("SELECT status FROM runs WHERE key = ?1");
  st.Bind(1, key);
  std::optional<std::string> status;
  if (st.Step("RunStatus")) status = st.Text(0);
  st.Reset();
  return status;
}

std::map<std::string, double> ResultsDb::RunLevelMetrics(const std::string& key) {
  SqlStmt& st = Cached(
      "SELECT m.name, m.value FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.key = ?1 AND m.layer = '' "
      "AND m.expert = -1 AND m.matrix = '' AND m.domain = '' AND m.value IS NOT NULL");
  st.Bind(1, key);
  std::map<std::string, double> out;
  while (st.Step("RunLevelMetrics")) out[st.Text(0)] = st.Double(1);
  st.Reset();
  return out;
}

int64_t ResultsDb::BeginRun(const RunRecord& r) {
  QMOE_CHECK(!r.key.empty(), "BeginRun: the run key is empty (results database '", path_, "')");
  QMOE_CHECK(!r.experiment.empty(), "BeginRun: run ", r.key.substr(0, 16), " has no experiment (results database '",
             path_, "')");
  WriteTxn txn(db_, path_);
  SqlStmt& find = Cached("SELECT id, status FROM runs WHERE key = ?1");
  find.Bind(1, r.key);
  if (find.Step("BeginRun")) {
    int64_t old_id = find.Int(0);
    std::string old_status = find.Text(1);
    find.Reset();
    QMOE_CHECK(old_status != "done", "results database '", path_, "': run ", r.key.substr(0, 16), " (id ", old_id,
               ") is already done; finished runs are never overwritten (check RunStatus first)");
    // Replace the failed or interrupted attempt. Children go explicitly (not only by cascade).
    for (const char* sql : {"DELETE FROM run_params WHERE run_id = ?1", "DELETE FROM metrics WHERE run_id = ?1",
                            "DELETE FROM kernel_timings WHERE run_id = ?1", "DELETE FROM runs WHERE id = ?1"}) {
      Cached(sql).Bind(1, old_id).Step("BeginRun: replacing the earlier attempt");
    }
  }
  find.Reset();

  static const std::string insert_sql = StrCat(
      "INSERT INTO runs(key, sweep_id, experiment, method, model, config_yaml, overrides, git_commit, "
      "code_version, seed, host, started_at, status) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,",
      kNow, ",'running')");
  SqlStmt& ins = Cached(insert_sql.c_str());
  ins.Bind(1, r.key).Bind(2, r.sweep_id).Bind(3, r.experiment).Bind(4, r.method).Bind(5, r.model);
  ins.Bind(6, r.config_yaml).Bind(7, r.overrides).Bind(8, r.git_commit).Bind(9, r.code_version);
  ins.Bind(10, r.seed).Bind(11, r.host);
  ins.Step(StrCat("BeginRun(", r.key.substr(0, 16), ")"));
  int64_t id = sqlite3_last_insert_rowid(db_);

  SqlStmt& param = Cached("INSERT INTO run_params(run_id, key, value) VALUES (?1, ?2, ?3)");
  for (const auto& [k, v] : r.params) {
    param.Reset();
    param.Bind(1, id).Bind(2, k).Bind(3, v).Step("BeginRun: run_params");
  }
  txn.Commit();
  return id;
}

void ResultsDb::FinishRun(int64_t run_id, const std::string& status, const std::string& error) {
  QMOE_CHECK(status == "done" || status == "failed", "FinishRun(run ", run_id, "): status must be 'done' or 'failed', got '",
             status, "'");
  static const std::string sql =
      StrCat("UPDATE runs SET status = ?1, error = ?2, ended_at = ", kNow, " WHERE id = ?3 AND status = 'running'");
  SqlStmt& st = Cached(sql.c_str());
  st.Bind(1, status).Bind(2, error).Bind(3, run_id).Step(StrCat("FinishRun(run ", run_id, ")"));
  if (sqlite3_changes(db_) == 1) return;
  SqlStmt& find = Cached("SELECT status FROM runs WHERE id = ?1");
  find.Bind(1, run_id);
  bool exists = find.Step("FinishRun");
  std::string current = exists ? find.Text(0) : "";
  find.Reset();  // never leave a read statement open: it would pin a WAL snapshot
  QMOE_CHECK(exists, "FinishRun: run id ", run_id, " does not exist in results database '", path_, "'");
  throw Error(StrCat("FinishRun: run id ", run_id, " in results database '", path_, "' is already '", current,
                     "', not running"));
}

bool ResultsDb::MarkRunFailed(const std::string& key, const std::string& error) {
  static const std::string sql =
      StrCat("UPDATE runs SET status = 'failed', error = ?1, ended_at = ", kNow, " WHERE key = ?2 AND status = 'running'");
  SqlStmt& st = Cached(sql.c_str());
  st.Bind(1, error).Bind(2, key).Step(StrCat("MarkRunFailed(", key.substr(0, 16), ")"));
  return sqlite3_changes(db_) == 1;
}

void ResultsDb::AddMetric(int64_t run_id, const std::string& name, double value, const std::string& unit,
                          const MetricLabels& labels) {
  QMOE_CHECK(!name.empty(), "AddMetric(run ", run_id, "): the metric name is empty");
  SqlStmt& st = Cached(
      "INSERT INTO metrics(run_id, name, value, unit, layer, expert, matrix, domain) VALUES (?1,?2,?3,?4,?5,?6,?7,?8) "
      "ON CONFLICT(run_id, name, layer, expert, matrix, domain) DO UPDATE SET value = excluded.value, "
      "unit = excluded.unit");
  st.Bind(1, run_id).Bind(2, name).Bind(3, value).Bind(4, unit).Bind(5, labels.layer).Bind(6, labels.expert);
  st.Bind(7, labels.matrix).Bind(8, labels.domain);
  st.Step(StrCat("AddMetric(run ", run_id, ", '", name, "')"));
}

void ResultsDb::AddKernelTiming(int64_t run_id, const KernelTiming& t) {
  QMOE_CHECK(!t.kernel.empty(), "AddKernelTiming(run ", run_id, "): the kernel name is empty");
  SqlStmt& st = Cached(
      "INSERT INTO kernel_timings(run_id, kernel, device, rows, cols, batch, seconds, gbytes_per_s, weights_per_s, "
      "baseline, ratio, threads) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
  st.Bind(1, run_id).Bind(2, t.kernel).Bind(3, t.device).Bind(4, t.rows).Bind(5, t.cols).Bind(6, t.batch);
  st.Bind(7, t.seconds).Bind(8, t.gbytes_per_s).Bind(9, t.weights_per_s).Bind(10, t.baseline).Bind(11, t.ratio);
  st.Bind(12, t.threads);
  st.Step(StrCat("AddKernelTiming(run ", run_id, ", '", t.kernel, "')"));
}

void ResultsDb::AddReferenceResult(const ReferenceResult& r) {
  QMOE_CHECK(!r.source.empty() && !r.metric.empty(), "AddReferenceResult: source and metric must be set (got '",
             r.source, "', '", r.metric, "')");
  SqlStmt& st = Cached(
      "INSERT INTO reference_results(source, table_name, model, method, bits, setting, metric, value, note) "
      "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT(source, table_name, model, method, bits, setting, metric) "
      "DO UPDATE SET value = excluded.value, note = excluded.note");
  st.Bind(1, r.source).Bind(2, r.table_name).Bind(3, r.model).Bind(4, r.method).Bind(5, r.bits);
  st.Bind(6, r.setting).Bind(7, r.metric).Bind(8, r.value).Bind(9, r.note);
  st.Step(StrCat("AddReferenceResult('", r.table_name, "', '", r.metric, "')"));
}

void ResultsDb::Begin() {
  QMOE_CHECK(sqlite3_get_autocommit(db_) != 0, "ResultsDb::Begin: a transaction is already open on '", path_, "'");
  ExecSql(db_, "BEGIN IMMEDIATE", path_);
}

void ResultsDb::Commit() {
  QMOE_CHECK(sqlite3_get_autocommit(db_) == 0, "ResultsDb::Commit: no transaction is open on '", path_, "'");
  ExecSql(db_, "COMMIT", path_);
}

void ResultsDb::Rollback() {
  QMOE_CHECK(sqlite3_get_autocommit(db_) == 0, "ResultsDb::Rollback: no transaction is open on '", path_, "'");
  ExecSql(db_, "ROLLBACK", path_);
}

// --- Annotating runs ---

void ResultsDb::SetRunParam(int64_t run_id, const std::string& key, const std::string& value) {
  QMOE_CHECK(!key.empty(), "SetRunParam(run ", run_id, "): the key is empty (results database '", path_, "')");
  SqlStmt& st = Cached("INSERT OR REPLACE INTO run_params(run_id, key, value) VALUES (?1, ?2, ?3)");
  st.Bind(1, run_id).Bind(2, key).Bind(3, value).Step(StrCat("SetRunParam(run ", run_id, ", '", key, "')"));
  st.Reset();
}

}  // namespace qmoe
