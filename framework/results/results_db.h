// The results database (SQLite, WAL mode, busy timeout). Schema: results/schema.sql.
// One ResultsDb per process/thread; parallel worker processes each open their own.
// Column and metric names reach disk: add, never rename.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace qmoe {

struct RunRecord {
  std::string key;          // sha256(canonical resolved config + code version)
  std::string sweep_id;     // groups the points of one `qmoe sweep` invocation ("" for single runs)
  std::string experiment;   // experiment.type
  std::string method;       // method.name ("" if none)
  std::string model;        // model.name ("" if none)
  std::string config_yaml;  // resolved config
  std::string overrides;    // the overrides of this point, one per line
  std::string git_commit;
  std::string code_version;
  int64_t seed = 0;
  std::string host;
  std::map<std::string, std::string> params;  // flattened resolved config: "method.bits" -> "2"
};

// Labels that place a metric below the run: a layer, an expert, a matrix, a data domain.
struct MetricLabels {
  std::string layer;   // e.g. "encoder.block.1"
  int64_t expert = -1; // -1 = not per expert
  std::string matrix;  // e.g. "wi", or a matrix index/name in the matrix experiment
  std::string domain;  // e.g. "sotu"
};

struct KernelTiming {
  std::string kernel;   // e.g. "sub1_matvec_avx512"
  std::string device;   // e.g. "cpu:Xeon ..." or "cuda:H100"
  int64_t rows = 0, cols = 0, batch = 1;
  double seconds = 0;   // median time per call
  double gbytes_per_s = 0;
  double weights_per_s = 0;
  std::string baseline; // kernel it is compared with in the same run
  double ratio = 0;     // baseline time / this time
  int64_t threads = 1;  // CPU threads of the call (seconds are wall clock when > 1)
};

// A published number (paper table cell), kept beside our runs; see reference_results in schema.sql.
struct ReferenceResult {
  std::string source;      // e.g. "QMoE MLSys 2024"
  std::string table_name;  // e.g. "Table 4"
  std::string model;       // e.g. "switch-base-128"
  std::string method;      // e.g. "rtn", "qmoe-1x"
  double bits = 16;        // 16 = bf16, 2, 1.5 = ternary
  std::string setting;     // anything else selecting the cell ("" if none)
  std::string metric;      // e.g. "c4_val_loss"
  double value = 0;
  std::string note;        // e.g. "not reproduced here"
};

class SqlStmt;

class ResultsDb {
 public:
  // Opens (creating and migrating as needed) the database at `path`. Errors name the path:
  // a locked database, a corrupt file, or a newer schema version than this build knows.
  explicit ResultsDb(const std::string& path);
  // Same, with the time a write waits for another writer's lock before the "locked" Error.
  ResultsDb(const std::string& path, int busy_timeout_ms);
  static constexpr int kDefaultBusyTimeoutMs = 30000;
  ~ResultsDb();
  ResultsDb(const ResultsDb&) = delete;
  ResultsDb& operator=(const ResultsDb&) = delete;

  const std::string& path() const { return path_; }
  static int SchemaVersion();  // the version this build writes

  // Status of a run with this key: "done", "failed", "running", or nullopt when absent.
  std::optional<std::string> RunStatus(const std::string& key);
  // The run-level metrics (no layer/expert/matrix/domain label) of the run with `key`; empty when
  // there is no such run. NULL values are left out.
  std::map<std::string, double> RunLevelMetrics(const std::string& key);
  // Inserts a run in status "running" (replacing an earlier failed or interrupted run with the
  // same key, and deleting its params, metrics and timings) and returns its id. A key that is
  // already done is an Error: callers check RunStatus first.
  int64_t BeginRun(const RunRecord& r);
  // status: "done" or "failed"; error is the message for failed runs.
  void FinishRun(int64_t run_id, const std::string& status, const std::string& error = "");
  // Marks the run with this key failed with `error` if it is still "running" (its process died
  // before FinishRun). Returns false when no running run has this key.
  bool MarkRunFailed(const std::string& key, const std::string& error);

  // Writing the same (run, name, labels) again replaces the value. NaN is stored as NULL.
  void AddMetric(int64_t run_id, const std::string& name, double value, const std::string& unit = "",
                 const MetricLabels& labels = {});
  void AddKernelTiming(int64_t run_id, const KernelTiming& t);
  // Inserts or replaces the row with the same (source, table, model, method, bits, setting, metric).
  void AddReferenceResult(const ReferenceResult& r);

  // Batch several writes in one transaction (much faster for per-expert stats). Begin takes the
  // write lock at once (BEGIN IMMEDIATE); writes outside Begin/Commit are each their own transaction.
  void Begin();
  void Commit();
  void Rollback();

  sqlite3* handle() { return db_; }

  // --- Annotating runs (experiments, report) ---
  // Sets or replaces one run_params entry of an existing run: a setting the experiment learns while
  // it runs (e.g. the evaluation protocol id). Errors name the database, run and key.
  void SetRunParam(int64_t run_id, const std::string& key, const std::string& value);

 private:
  SqlStmt& Cached(const char* sql);  // prepared once per connection, reset before reuse

  std::string path_;
  sqlite3* db_ = nullptr;
  std::map<std::string, std::unique_ptr<SqlStmt>> stmts_;
};

}  // namespace qmoe
