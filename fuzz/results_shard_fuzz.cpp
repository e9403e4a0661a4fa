// libFuzzer target: results-shard databases (framework/results/shard: MergeShard, ReadShardRuns),
// the files cluster tasks publish and `qmoe results merge` folds into the main database.
//
// The first input byte picks the mode:
//   even: raw — the rest is the bytes of a shard file (seeds: small valid shards, page size 512,
//         so a mutation hits a header, a b-tree page or a record rather than free space);
//   odd:  structured — the rest drives the real writer path (ResultsDb BeginRun / AddMetric /
//         AddKernelTiming / FinishRun, then PublishShard, as a cluster task does), optionally
//         followed by one hostile edit of the published file (an unknown column, a newer schema,
//         a dropped table, a table swapped for a view, schema version 2^32 + 1).
// Invariants (a violation traps, so the fuzzer keeps the input):
//   - only qmoe::Error escapes, and a rejected shard leaves the main database exactly as it was;
//   - an accepted shard merged a second time changes nothing (added + replaced == 0, same rows);
//   - an accepted merge re-serialises to the same meaning: the main database published as a shard
//     and merged into a second database holding the starting rows gives the same rows (ids aside);
//   - a run the shard reports done is done in the main database;
//   - structured mode: a hostile edit is always rejected, and without one the main database equals
//     the merge rules applied key by key to the starting rows and the rows the writer wrote (shard.h:
//     done is never overwritten, running runs wait, a failed run yields to a done run or a later
//     failure).
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "framework/results/results_db.h"
#include "framework/results/schema.h"
#include "framework/results/shard.h"
#include "framework/results/sqlite_util.h"
#include "fuzz/fuzz_files.h"
#include "fuzz/fuzz_input.h"

using namespace qmoe;
namespace fs = std::filesystem;

namespace {

const fs::path& Dir() { return fuzz::ScratchDir(); }
std::string P(const char* name) { return (Dir() / name).string(); }

void RemoveDb(const std::string& path) {
  std::error_code ec;
  for (const char* s : {"", "-wal", "-shm", "-journal"}) fs::remove(path + s, ec);
}

// Statements the harness runs on the databases it keeps open, prepared once per connection and
// SQL text (compiling them again for every input was a large part of the time per input). Each is reset
// after use, so none holds a read transaction while the code under test runs. The cache is made
// after the first connection, so at exit it is destroyed, finalizing them, before they close.
struct StmtCache {
  std::map<std::pair<sqlite3*, std::string>, sqlite3_stmt*> stmts;
  ~StmtCache() {
    for (auto& [key, st] : stmts) sqlite3_finalize(st);
  }
};

sqlite3_stmt* Prepared(sqlite3* db, const std::string& sql) {
  static StmtCache cache;
  sqlite3_stmt*& st = cache.stmts[{db, sql}];
  if (!st) FUZZ_INVARIANT(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  return st;
}

void RunPrepared(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = Prepared(db, sql);
  FUZZ_INVARIANT(sqlite3_step(st) == SQLITE_DONE);
  FUZZ_INVARIANT(sqlite3_reset(st) == SQLITE_OK);
}

const char* const kTables[] = {"runs", "run_params", "metrics", "kernel_timings"};  // parents first

// Empties the four tables of a harness database in one transaction (children first).
void EmptyTables(sqlite3* db) {
  RunPrepared(db, "BEGIN IMMEDIATE");
  for (int t = 3; t >= 0; --t) RunPrepared(db, StrCat("DELETE FROM ", kTables[t]));
  RunPrepared(db, "COMMIT");
}

// A copy of every row of the four tables (ids included), to write back.
struct Snapshot {
  struct Cell {
    int type;
    int64_t i;
    double d;
    std::string text;
  };
  std::vector<std::vector<std::vector<Cell>>> rows;  // table -> row -> column
};

Snapshot TakeSnapshot(sqlite3* db) {
  Snapshot snap;
  for (const char* t : kTables) {
    sqlite3_stmt* st = Prepared(db, StrCat("SELECT * FROM ", t));
    auto& rows = snap.rows.emplace_back();
    while (sqlite3_step(st) == SQLITE_ROW) {
      auto& row = rows.emplace_back();
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        Snapshot::Cell cell{sqlite3_column_type(st, c), sqlite3_column_int64(st, c), sqlite3_column_double(st, c), ""};
        if (cell.type == SQLITE_TEXT || cell.type == SQLITE_BLOB) {
          const char* p = reinterpret_cast<const char*>(sqlite3_column_blob(st, c));
          cell.text.assign(p ? p : "", sqlite3_column_bytes(st, c));
        }
        row.push_back(std::move(cell));
      }
    }
    FUZZ_INVARIANT(sqlite3_reset(st) == SQLITE_OK);
  }
  return snap;
}

// Empties a database and writes the runs every input's main database starts from: a done and a
// failed run (keys a shard may reuse), both ended early so that a later failed attempt replaces
// the failed one. The first reset of each database writes them through ResultsDb; later resets
// write back a snapshot of that result in one transaction (the same rows and ids; the dump
// comparison against `start` checks it).
void ResetToStart(ResultsDb& db) {
  static std::map<sqlite3*, Snapshot> snapshots;
  sqlite3* h = db.handle();
  auto it = snapshots.find(h);
  if (it == snapshots.end()) {
    EmptyTables(h);
    for (const char* key : {"main-done", "main-failed"}) {
      RunRecord r;
      r.key = key;
      r.experiment = "matrix";
      r.method = "rtn";
      r.params = {{"method.bits", "2"}};
      const int64_t id = db.BeginRun(r);
      db.AddMetric(id, "loss", 1.25, "nats");
      db.FinishRun(id, key == std::string("main-done") ? "done" : "failed", "boom");
    }
    // Fixed times, so that every reset gives the same rows.
    ExecSql(h, "UPDATE runs SET started_at = '2000-01-01T00:00:00Z', ended_at = '2000-01-01T00:00:00Z'", db.path());
    snapshots.emplace(h, TakeSnapshot(h));
    return;
  }
  RunPrepared(h, "BEGIN IMMEDIATE");
  for (int t = 3; t >= 0; --t) RunPrepared(h, StrCat("DELETE FROM ", kTables[t]));
  for (size_t t = 0; t < it->second.rows.size(); ++t) {
    for (const auto& row : it->second.rows[t]) {
      std::string marks;
      for (size_t c = 0; c < row.size(); ++c) marks += c ? ",?" : "?";
      sqlite3_stmt* st = Prepared(h, StrCat("INSERT INTO ", kTables[t], " VALUES (", marks, ")"));
      for (size_t c = 0; c < row.size(); ++c) {
        const auto& cell = row[c];
        const int i = static_cast<int>(c + 1);
        switch (cell.type) {
          case SQLITE_INTEGER: sqlite3_bind_int64(st, i, cell.i); break;
          case SQLITE_FLOAT: sqlite3_bind_double(st, i, cell.d); break;
          case SQLITE_TEXT:
            sqlite3_bind_text(st, i, cell.text.data(), static_cast<int>(cell.text.size()), SQLITE_TRANSIENT);
            break;
          case SQLITE_BLOB:
            sqlite3_bind_blob(st, i, cell.text.data(), static_cast<int>(cell.text.size()), SQLITE_TRANSIENT);
            break;
          default: sqlite3_bind_null(st, i);
        }
      }
      FUZZ_INVARIANT(sqlite3_step(st) == SQLITE_DONE);
      FUZZ_INVARIANT(sqlite3_reset(st) == SQLITE_OK);
      sqlite3_clear_bindings(st);
    }
  }
  RunPrepared(h, "COMMIT");
}

// Databases kept open across inputs (opening one parses the whole schema, which would dominate
// the time per input): the main database, the re-serialisation's main database, the shard writer's.
ResultsDb& Persistent(const char* name) {
  static std::map<std::string, std::unique_ptr<ResultsDb>> open;
  auto& db = open[name];
  if (!db) {
    RemoveDb(P(name));
    db = std::make_unique<ResultsDb>(P(name));
  }
  return *db;
}

// A text value in a dump: escaped, so that a value cannot fake the "name=value;" structure of a row.
std::string TextValue(const std::string& text) {
  std::string out = "t";
  for (char ch : text) out += ch == '\\' ? "\\\\" : ch == ';' ? "\\s" : ch == '=' ? "\\e" : std::string(1, ch);
  return out;
}

std::string Render(sqlite3_stmt* st, int c) {
  switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL: return "n";
    case SQLITE_INTEGER: return "i" + std::to_string(sqlite3_column_int64(st, c));
    case SQLITE_FLOAT: return "r" + FormatDouble(sqlite3_column_double(st, c));
    default: {
      const char* p = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
      return TextValue(std::string(p ? p : "", sqlite3_column_bytes(st, c)));
    }
  }
}

// key -> the run's columns (its id aside) and its child rows (ids aside), sorted: what a merge
// must carry over. `db` is a connection the harness keeps open (its statements are prepared once).
using Dump = std::map<std::string, std::vector<std::string>>;
Dump DumpDb(sqlite3* db) {
  Dump out;
  auto each = [&](const std::string& sql, const std::string& label) {
    sqlite3_stmt* st = Prepared(db, sql);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      std::string key = Render(st, 0), row = label + ":";
      for (int c = 1; c < sqlite3_column_count(st); ++c) {
        const std::string name = sqlite3_column_name(st, c);
        if (name != "id" && name != "run_id") row += name + "=" + Render(st, c) + ";";
      }
      out[key].push_back(row);
    }
    FUZZ_INVARIANT(rc == SQLITE_DONE);
    FUZZ_INVARIANT(sqlite3_reset(st) == SQLITE_OK);
  };
  each("SELECT key, * FROM runs", "run");
  for (const char* t : {"run_params", "metrics", "kernel_timings"})
    each(StrCat("SELECT r.key, c.* FROM ", t, " c JOIN runs r ON r.id = c.run_id"), t);
  for (auto& [k, rows] : out) std::sort(rows.begin(), rows.end());
  return out;
}

// The status and end of each run of a dump ("" when absent).
std::string Field(const Dump& d, const std::string& key, const std::string& name) {
  auto it = d.find(key);
  if (it == d.end()) return "";
  for (const auto& row : it->second) {
    if (row.rfind("run:", 0) != 0) continue;
    const std::string tag = ";" + name + "=";
    auto at = (";" + row.substr(4)).find(tag);
    if (at == std::string::npos) return "";
    const std::string rest = row.substr(4 + at + tag.size() - 1);
    return rest.substr(0, rest.find(';'));
  }
  return "";
}

// The merge rules of shard.h, applied to dumps: what `main` must hold after merging `shard`.
Dump ExpectedMerge(const Dump& main, const Dump& shard) {
  Dump out = main;
  for (const auto& [key, rows] : shard) {
    const std::string status = Field(shard, key, "status");
    if (status == "trunning") continue;
    if (!main.count(key)) {
      out[key] = rows;
      continue;
    }
    const std::string old = Field(main, key, "status");
    auto end = [](const Dump& d, const std::string& k) {
      const std::string e = Field(d, k, "ended_at");
      return e == "n" ? std::string() : e.substr(1);
    };
    const bool newer = status == "tdone" || old == "trunning" || end(shard, key) > end(main, key);
    if (old != "tdone" && newer) out[key] = rows;
  }
  return out;
}

// Builds a shard from the fuzz input through the writer API; returns the hostile edit applied
// (0 = none).
int BuildShard(fuzz::Input& in, const std::string& shard) {
  static const char* const kKeys[] = {"k0", "k1", "k2", "main-done", "main-failed"};
  static const char* const kStatus[] = {"running", "done", "failed"};
  static const char* const kNames[] = {"loss", "zero_fraction", "bytes"};
  auto text = [&](size_t max) {
    std::string s;
    for (size_t n = in.U8() % (max + 1); n > 0; --n) s.push_back(static_cast<char>(in.U8()));
    return s;
  };
  ResultsDb& db = Persistent("work.db");
  EmptyTables(db.handle());
  {
    std::set<std::string> used;
    for (int n = in.U8() % 5; n > 0; --n) {
      RunRecord r;
      r.key = kKeys[in.U8() % 5];
      if (!used.insert(r.key).second) continue;
      r.experiment = "matrix";
      r.method = text(4);
      r.config_yaml = text(8);
      r.seed = static_cast<int32_t>(in.U32());
      for (int p = in.U8() % 3; p > 0; --p) r.params[text(3)] = text(3);
      const int64_t id = db.BeginRun(r);
      for (int m = in.U8() % 4; m > 0; --m) {
        MetricLabels l;
        l.expert = static_cast<int8_t>(in.U8()) % 4;
        l.layer = text(2);
        const uint32_t bits = in.U32();
        double v;
        if (bits % 7 == 0) v = std::nan("");
        else v = static_cast<int32_t>(bits) / 1024.0;
        db.AddMetric(id, kNames[in.U8() % 3], v, text(2), l);
      }
      if (in.U8() & 1) {
        KernelTiming t;
        t.kernel = "k" + text(3);
        t.device = "cpu";
        t.rows = in.U16();
        t.seconds = in.U16() / 256.0;
        db.AddKernelTiming(id, t);
      }
      const std::string status = kStatus[in.U8() % 3];
      if (status != "running") db.FinishRun(id, status, text(6));
      // A later or earlier end than the main database's failed run.
      if (status == "failed" && (in.U8() & 1)) {
        sqlite3_stmt* st = Prepared(db.handle(), "UPDATE runs SET ended_at = '1999-12-31T00:00:00Z' WHERE id = ?1");
        sqlite3_bind_int64(st, 1, id);
        FUZZ_INVARIANT(sqlite3_step(st) == SQLITE_DONE);
        FUZZ_INVARIANT(sqlite3_reset(st) == SQLITE_OK);
      }
    }
  }
  RemoveDb(shard);
  PublishShard(db.path(), shard);
  // ResultsDb's statements keep their last bound values until their next use (which clears them):
  // clear them now, so that an input allocates no more than it frees. Otherwise libFuzzer suspects
  // a leak and runs the input a second time.
  for (sqlite3_stmt* st = sqlite3_next_stmt(db.handle(), nullptr); st; st = sqlite3_next_stmt(db.handle(), st))
    sqlite3_clear_bindings(st);
  const int edit = in.U8() % 10;
  static const char* const kEdits[] = {
      "ALTER TABLE runs ADD COLUMN extra TEXT",
      nullptr,  // a schema newer than this qmoe knows: written below from kSchemaSqlVersion
      "DROP TABLE kernel_timings",
      "ALTER TABLE metrics RENAME TO m2; CREATE VIEW metrics AS SELECT * FROM m2",
      "UPDATE schema_version SET version = 4294967297",
  };
  if (edit >= 1 && edit <= 5) {
    sqlite3* db = nullptr;
    FUZZ_INVARIANT(sqlite3_open(shard.c_str(), &db) == SQLITE_OK);
    const std::string sql = kEdits[edit - 1] ? std::string(kEdits[edit - 1])
                                             : StrCat("UPDATE schema_version SET version = ", kSchemaSqlVersion + 1);
    FUZZ_INVARIANT(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    return edit;
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // SQLite, process-wide, before its first use. None of it changes what the code under test does or
  // sees: no memory statistics (a global mutex and a size query per allocation), no mutexes (this
  // process uses SQLite from one thread only), and page-cache memory from one block. Debian's
  // SQLite is built without lookaside, so every allocation it makes goes through ASan's allocator,
  // and those allocations are about half the time per input. What SQLite hands back to the code under
  // test (statements, column text and blobs) is still allocated one by one, under ASan.
  FUZZ_INVARIANT(sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK);
  FUZZ_INVARIANT(sqlite3_config(SQLITE_CONFIG_SINGLETHREAD) == SQLITE_OK);
  int header = 0;
  FUZZ_INVARIANT(sqlite3_config(SQLITE_CONFIG_PCACHE_HDRSZ, &header) == SQLITE_OK);
  const int slot = 4096 + header, slots = 4096;  // pages up to 4 KiB (larger ones are malloc'd)
  static char* const block = new char[static_cast<size_t>(slot) * slots];
  FUZZ_INVARIANT(sqlite3_config(SQLITE_CONFIG_PAGECACHE, block, slot, slots) == SQLITE_OK);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool structured = data[0] & 1;
  const std::string shard = P("shard.db");
  ResultsDb& main = Persistent("main.db");
  static const Dump start = [&] {
    ResetToStart(main);
    return DumpDb(main.handle());
  }();
  int edit = 0;
  if (structured) {
    fuzz::Input in(data + 1, size - 1);
    edit = BuildShard(in, shard);
  } else {
    RemoveDb(shard);
    fuzz::WriteBytes(shard, std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  }

  MergeCounts first;
  try {
    first = MergeShard(main, shard);
  } catch (const Error&) {
    FUZZ_INVARIANT(sqlite3_get_autocommit(main.handle()));
    FUZZ_INVARIANT(DumpDb(main.handle()) == start);  // all of the shard or nothing
    return 0;
  }
  FUZZ_INVARIANT(edit == 0);  // every hostile edit must be rejected
  const Dump merged = DumpDb(main.handle());

  // What the shard reports done is done in the main database (ReadShardRuns may still refuse a
  // hand-made shard that lacks one of its columns, with an Error).
  try {
    for (const ShardRun& r : ReadShardRuns(shard))
      if (r.status == "done") FUZZ_INVARIANT(Field(merged, TextValue(r.key), "status") == "tdone");
  } catch (const Error&) {
  }
  // The rules applied to what the writer wrote (the work database the shard was published from: a
  // row that publishing lost or changed shows here too).
  if (structured) FUZZ_INVARIANT(merged == ExpectedMerge(start, DumpDb(Persistent("work.db").handle())));

  // Merging again changes nothing.
  const MergeCounts again = MergeShard(main, shard);
  FUZZ_INVARIANT(again.added + again.replaced == 0);
  FUZZ_INVARIANT(again.unchanged + again.running == first.added + first.replaced + first.unchanged + first.running);
  FUZZ_INVARIANT(DumpDb(main.handle()) == merged);
  if (first.added + first.replaced == 0) {
    FUZZ_INVARIANT(merged == start);
    return 0;  // nothing new to re-serialise
  }

  // Re-serialise: the merged database, published as a shard, merged into the starting database.
  const std::string shard2 = P("shard2.db");
  RemoveDb(shard2);
  PublishShard(main.path(), shard2);
  ResultsDb& main2 = Persistent("main2.db");
  ResetToStart(main2);
  MergeShard(main2, shard2);
  FUZZ_INVARIANT(DumpDb(main2.handle()) == merged);
  ResetToStart(main);
  return 0;
}
