// ResultsDb: schema creation, migrations, run lifecycle, concurrency and the errors users hit.
#include "framework/results/results_db.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <random>

#include "framework/core/error.h"
#include "framework/results/schema.h"
#include "framework/results/sqlite_util.h"
#include "framework/results/test_db.h"

namespace qmoe {
namespace {

using testing_results::AddRun;
using testing_results::ExpectErrorWith;
using testing_results::FreshDbPath;
using testing_results::ReadFile;
using testing_results::Scalar;

TEST(ResultsSchema, EmbeddedTextIsResultsSchemaSql) {
  // The library must carry the checked-in file verbatim (single source of the schema).
  std::string file = ReadFile(std::string(QMOE_SOURCE_DIR) + "/results/schema.sql");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(std::string(kSchemaSql), file);
  EXPECT_EQ(ResultsDb::SchemaVersion(), kSchemaSqlVersion);
  EXPECT_EQ(ResultsDb::SchemaVersion(), 2);
}

TEST(ResultsSchema, EveryOlderVersionHasAMigrationStep) {
  for (int v = 1; v < ResultsDb::SchemaVersion(); ++v) {
    bool found = false;
    for (const auto& s : SchemaMigrations()) found |= (s.from_version == v);
    EXPECT_TRUE(found) << "no migration step from version " << v;
  }
}

TEST(ResultsDb, CreatesTablesVersionAndPragmas) {
  ResultsDb db(FreshDbPath("create"));
  for (const char* t : {"schema_version", "runs", "run_params", "metrics", "kernel_timings", "reference_results"})
    EXPECT_EQ(Scalar(db, std::string("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='") + t + "'"), "1")
        << t;
  EXPECT_EQ(Scalar(db, "SELECT version FROM schema_version"), std::to_string(kSchemaSqlVersion));
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM schema_version"), "1");
  EXPECT_EQ(Scalar(db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(Scalar(db, "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(Scalar(db, "PRAGMA busy_timeout"), std::to_string(ResultsDb::kDefaultBusyTimeoutMs));
  // Permanent column names (a rename breaks notebooks): spot-check the ones the CLI relies on.
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM pragma_table_info('metrics') WHERE name IN "
                       "('run_id','name','value','unit','layer','expert','matrix','domain')"),
            "8");
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM pragma_table_info('reference_results') WHERE name IN "
                       "('source','table_name','model','method','bits','setting','metric','value','note')"),
            "9");
}

TEST(ResultsDb, ReopenKeepsDataAndVersion) {
  const std::string path = FreshDbPath("reopen");
  {
    ResultsDb db(path);
    AddRun(db, "k1", "rtn", {{"method.bits", "2"}}, {{"loss", 1.5}});
  }
  ResultsDb db(path);
  EXPECT_EQ(Scalar(db, "SELECT version FROM schema_version"), std::to_string(kSchemaSqlVersion));
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM schema_version"), "1");
  EXPECT_EQ(db.RunStatus("k1"), std::optional<std::string>("done"));
  EXPECT_EQ(Scalar(db, "SELECT value FROM metrics WHERE name='loss'"), "1.5");
}

TEST(ResultsDb, MigrationStepsRunInOrderThenNewerVersionIsRefused) {
  const std::string path = FreshDbPath("migrate");
  { ResultsDb db(path); AddRun(db, "k1", "rtn", {}, {{"loss", 2.0}}); }
  // Two fake steps V -> V+1 -> V+2 past this build's version V, listed out of order: the table
  // drives the order, not the list.
  const int v = kSchemaSqlVersion;
  std::vector<SchemaMigration> steps = {
      {v + 1, "add runs.tag2", "ALTER TABLE runs ADD COLUMN tag2 TEXT NOT NULL DEFAULT 'b'"},
      {v, "add runs.tag1", "ALTER TABLE runs ADD COLUMN tag1 TEXT NOT NULL DEFAULT 'a'"},
  };
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  MigrateSchema(raw, path, v + 2, steps);
  EXPECT_EQ(ReadSchemaVersion(raw, path), v + 2);
  {
    SqlStmt st(raw, "SELECT tag1 || tag2 FROM runs WHERE key = 'k1'", path);
    ASSERT_TRUE(st.Step());
    EXPECT_EQ(st.Text(0), "ab");  // the old row survived both steps
  }
  // A missing step is an Error naming both versions.
  ExpectErrorWith([&] { MigrateSchema(raw, path, v + 4, steps); },
                  {path, "version " + std::to_string(v + 2), "version " + std::to_string(v + 3)});
  EXPECT_EQ(ReadSchemaVersion(raw, path), v + 2);  // the failed migration rolled back
  sqlite3_close(raw);

  ExpectErrorWith([&] { ResultsDb db(path); },
                  {path, "schema version " + std::to_string(v + 2), "version " + std::to_string(v)});
}

// A version-1 database (before kernel_timings.threads) keeps its rows and ends up with the same
// kernel_timings columns as a fresh one.
TEST(ResultsDb, Version1GainsKernelTimingsThreads) {
  const std::string fresh = FreshDbPath("v2_fresh"), old = FreshDbPath("v1_old");
  std::string fresh_cols;
  {
    ResultsDb db(fresh);
    fresh_cols = Scalar(db, "SELECT group_concat(name || ':' || type || ':' || \"notnull\" || ':' || "
                            "ifnull(dflt_value, ''), ',') FROM pragma_table_info('kernel_timings')");
  }
  {
    ResultsDb db(old);
    const int64_t id = AddRun(db, "k1", "kernels", {}, {});
    KernelTiming t;
    t.kernel = "sub1_matvec_avx2", t.rows = 2, t.cols = 3, t.seconds = 1;
    db.AddKernelTiming(id, t);
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(old.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "ALTER TABLE kernel_timings DROP COLUMN threads; UPDATE schema_version SET version = 1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_EQ(ReadSchemaVersion(raw, old), 1);
  sqlite3_close(raw);
  ResultsDb db(old);
  EXPECT_EQ(Scalar(db, "SELECT version FROM schema_version"), std::to_string(kSchemaSqlVersion));
  EXPECT_EQ(Scalar(db, "SELECT kernel || ':' || threads FROM kernel_timings"), "sub1_matvec_avx2:1");
  EXPECT_EQ(Scalar(db, "SELECT group_concat(name || ':' || type || ':' || \"notnull\" || ':' || "
                       "ifnull(dflt_value, ''), ',') FROM pragma_table_info('kernel_timings')"),
            fresh_cols);
}

TEST(ResultsDb, BeginFinishAndStatus) {
  ResultsDb db(FreshDbPath("lifecycle"));
  EXPECT_EQ(db.RunStatus("k"), std::nullopt);
  RunRecord r;
  r.key = "k";
  r.experiment = "compress";
  r.params = {{"method.bits", "2"}, {"method.name", "gptq"}};
  int64_t id = db.BeginRun(r);
  EXPECT_EQ(db.RunStatus("k"), std::optional<std::string>("running"));
  EXPECT_EQ(Scalar(db, "SELECT ended_at IS NULL FROM runs"), "1");
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM run_params WHERE run_id = " + std::to_string(id)), "2");
  db.AddMetric(id, "loss", 1.25, "nats");
  db.AddMetric(id, "loss", 1.5, "nats");  // same labels: replaces
  db.AddMetric(id, "zeros", 0.5, "", {"encoder.block.1", 3, "wi", ""});
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM metrics"), "2");
  EXPECT_EQ(Scalar(db, "SELECT value FROM metrics WHERE name='loss' AND expert=-1 AND layer=''"), "1.5");
  db.FinishRun(id, "done");
  EXPECT_EQ(db.RunStatus("k"), std::optional<std::string>("done"));
  // ISO-8601 UTC, e.g. 2024-05-01T12:00:00Z
  EXPECT_EQ(Scalar(db, "SELECT ended_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T*Z' FROM runs"), "1");

  ExpectErrorWith([&] { db.BeginRun(r); }, {"already done", db.path()});
  ExpectErrorWith([&] { db.FinishRun(id, "failed"); }, {"already 'done'"});
  ExpectErrorWith([&] { db.FinishRun(id + 7, "done"); }, {"does not exist"});
  ExpectErrorWith([&] { db.FinishRun(id, "ok"); }, {"'done' or 'failed'", "'ok'"});
  ExpectErrorWith([&] { db.AddMetric(id + 7, "loss", 1.0); }, {db.path(), "FOREIGN KEY"});
}

TEST(ResultsDb, BeginRunReplacesFailedRunAndItsRows) {
  ResultsDb db(FreshDbPath("replace"));
  int64_t old_id = AddRun(db, "k", "gptq", {{"method.bits", "2"}}, {{"loss", 9.0}}, "failed");
  db.AddKernelTiming(old_id, {"matvec", "cpu", 4, 8, 1, 1e-3, 1.0, 2.0, "dense", 1.5});
  int64_t other = AddRun(db, "other", "rtn", {{"method.bits", "2"}}, {{"loss", 3.0}});
  EXPECT_EQ(db.RunStatus("k"), std::optional<std::string>("failed"));
  EXPECT_EQ(Scalar(db, "SELECT error FROM runs WHERE key='k'"), "boom");

  RunRecord r;
  r.key = "k";
  r.experiment = "compress";
  r.params = {{"method.bits", "3"}};
  int64_t new_id = db.BeginRun(r);
  EXPECT_NE(new_id, old_id);
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM runs WHERE key='k'"), "1");
  EXPECT_EQ(db.RunStatus("k"), std::optional<std::string>("running"));
  for (const char* t : {"run_params", "metrics", "kernel_timings"})
    EXPECT_EQ(Scalar(db, std::string("SELECT count(*) FROM ") + t + " WHERE run_id = " + std::to_string(old_id)), "0")
        << t;
  EXPECT_EQ(Scalar(db, "SELECT value FROM run_params WHERE run_id = " + std::to_string(new_id)), "3");
  // The other run is untouched.
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM metrics WHERE run_id = " + std::to_string(other)), "1");

  // An interrupted ("running") attempt is replaced the same way.
  int64_t third = db.BeginRun(r);
  EXPECT_NE(third, new_id);
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM runs"), "2");
}

TEST(ResultsDb, BatchedWritesAndRollback) {
  ResultsDb db(FreshDbPath("batch"));
  int64_t id = AddRun(db, "k", "gptq", {}, {}, "running");
  db.Begin();
  for (int e = 0; e < 300; ++e) db.AddMetric(id, "zeros", e * 0.25, "", {"encoder.block.1", e, "wi", ""});
  db.Commit();
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM metrics"), "300");
  EXPECT_EQ(Scalar(db, "SELECT sum(value) FROM metrics"), "11212.5");  // 0.25 * (0 + ... + 299)
  db.Begin();
  db.AddMetric(id, "extra", 1.0);
  ExpectErrorWith([&] { db.Begin(); }, {"already open"});
  db.Rollback();
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM metrics WHERE name='extra'"), "0");
  ExpectErrorWith([&] { db.Commit(); }, {"no transaction"});
  // NaN is stored as NULL, not lost.
  db.AddMetric(id, "nan_metric", std::nan(""));
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM metrics WHERE name='nan_metric' AND value IS NULL"), "1");
}

TEST(ResultsDb, ReferenceResultsUpsert) {
  ResultsDb db(FreshDbPath("reference"));
  ReferenceResult r{"QMoE MLSys 2024", "Table 4", "switch-c-2048", "qmoe-1x", 1.5, "", "c4_val_loss", 1.77, "x"};
  db.AddReferenceResult(r);
  r.value = 1.78;
  db.AddReferenceResult(r);
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM reference_results"), "1");
  EXPECT_EQ(Scalar(db, "SELECT value FROM reference_results"), "1.78");
}

// 4 processes write runs and 200 autocommit metrics each into one fresh file (they also race on
// creating the schema). Every row must arrive: WAL + busy_timeout + IMMEDIATE transactions.
TEST(ResultsDb, ConcurrentWritersLoseNothing) {
  const std::string path = FreshDbPath("concurrent");
  constexpr int kProcs = 4, kRunsPerProc = 4, kMetricsPerRun = 50;  // 200 metrics per process
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        ResultsDb db(path);
        for (int r = 0; r < kRunsPerProc; ++r) {
          RunRecord rec;
          rec.key = "p" + std::to_string(p) + "r" + std::to_string(r);
          rec.experiment = "concurrency";
          rec.params = {{"proc", std::to_string(p)}, {"run", std::to_string(r)}};
          int64_t id = db.BeginRun(rec);
          for (int m = 0; m < kMetricsPerRun; ++m) db.AddMetric(id, "m" + std::to_string(m), p * 1000 + m);
          db.AddKernelTiming(id, {"k", "cpu", 1, 1, 1, 1.0, 1.0, 1.0, "", 1.0});
          db.FinishRun(id, "done");
        }
      } catch (const std::exception& e) {
        std::cerr << "writer " << p << ": " << e.what() << "\n";
        rc = 1;
      }
      _exit(rc);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a writer failed (see stderr)";
  }
  ResultsDb db(path);
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM schema_version"), "1");
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM runs WHERE status='done'"), std::to_string(kProcs * kRunsPerProc));
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM metrics"), std::to_string(kProcs * kRunsPerProc * kMetricsPerRun));
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM kernel_timings"), std::to_string(kProcs * kRunsPerProc));
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM run_params"), std::to_string(kProcs * kRunsPerProc * 2));
  // Each process's metrics landed on its own runs: value = proc * 1000 + m.
  for (int p = 0; p < kProcs; ++p)
    EXPECT_EQ(Scalar(db, "SELECT count(*) FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.key GLOB 'p" +
                             std::to_string(p) + "r*' AND CAST(m.value AS INTEGER) / 1000 = " + std::to_string(p)),
              std::to_string(kRunsPerProc * kMetricsPerRun));
}

TEST(ResultsDb, CorruptFileIsOneErrorNamingThePath) {
  const std::string path = FreshDbPath("corrupt");
  {
    std::mt19937 rng(1234);
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 8192; ++i) f.put(static_cast<char>(rng() & 0xff));
  }
  ExpectErrorWith([&] { ResultsDb db(path); }, {path, "file is not a database"});
}

TEST(ResultsDb, ForeignSqliteFileIsRefused) {
  const std::string path = FreshDbPath("foreign");
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE songs(title TEXT)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  ExpectErrorWith([&] { ResultsDb db(path); }, {path, "not a qmoe results database", "songs"});
}

TEST(ResultsDb, MissingDirectoryIsAnError) {
  const std::string path = FreshDbPath("x") + ".d/no/such/dir/results.db";
  ExpectErrorWith([&] { ResultsDb db(path); }, {path, "cannot open"});
}

TEST(ResultsDb, LockedBeyondTimeoutNamesThePath) {
  const std::string path = FreshDbPath("locked");
  ResultsDb writer(path);
  int64_t id = AddRun(writer, "k", "rtn", {}, {}, "running");
  writer.Begin();  // holds the write lock
  writer.AddMetric(id, "a", 1.0);
  ResultsDb blocked(path, /*busy_timeout_ms=*/100);  // opening only reads: WAL readers never block
  EXPECT_EQ(blocked.RunStatus("k"), std::optional<std::string>("running"));
  ExpectErrorWith([&] { blocked.AddMetric(id, "b", 2.0); }, {path, "is locked"});
  writer.Commit();
  blocked.AddMetric(id, "b", 2.0);  // the lock is gone: the same write now succeeds
  EXPECT_EQ(Scalar(blocked, "SELECT count(*) FROM metrics"), "2");
}

TEST(ResultsDb, SetRunParamAddsOrReplacesAndChecksTheRun) {
  ResultsDb db(FreshDbPath("set_run_param"));
  const int64_t id = AddRun(db, "k", "bf16", {{"method.name", "bf16"}}, {});
  db.SetRunParam(id, "eval.dtype", "bf16");
  db.SetRunParam(id, "eval.dtype", "float32");  // replaces
  EXPECT_EQ(Scalar(db, "SELECT value FROM run_params WHERE key = 'eval.dtype'"), "float32");
  EXPECT_EQ(Scalar(db, "SELECT count(*) FROM run_params WHERE run_id = " + std::to_string(id)), "2");
  ExpectErrorWith([&] { db.SetRunParam(id + 7, "eval.dtype", "x"); }, {db.path(), "FOREIGN KEY", "eval.dtype"});
  ExpectErrorWith([&] { db.SetRunParam(id, "", "x"); }, {"key is empty"});
}

}  // namespace
}  // namespace qmoe
