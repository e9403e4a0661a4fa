#include "framework/results/shard.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <variant>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/results/schema.h"
#include "framework/results/sqlite_util.h"

namespace fs = std::filesystem;

namespace qmoe {

MergeCounts& MergeCounts::operator+=(const MergeCounts& o) {
  added += o.added;
  replaced += o.replaced;
  unchanged += o.unchanged;
  running += o.running;
  return *this;
}

namespace {

void FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  QMOE_CHECK(fd >= 0, "cannot open '", path, "' to flush it to disk: ", std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  QMOE_CHECK(rc == 0, "cannot flush '", path, "' to disk: ", std::strerror(err));
}

// A read-only connection to a shard, checked to be a qmoe database of a schema this build reads.
class ShardConn {
 public:
  explicit ShardConn(const std::string& path) : path_(path) {
    std::error_code ec;
    QMOE_CHECK(fs::is_regular_file(path, ec), "shard '", path, "' does not exist or is not a file");
    // SQLite sizes its checks by the page count of the file's header (a terabyte file that claims
    // 2^31 pages costs 256 MiB for quick_check's page map alone): refuse before opening.
    const auto bytes = fs::file_size(path, ec);
    QMOE_CHECK(!ec && bytes <= kMaxShardBytes, "shard '", path, "' is ", ec ? std::string("unreadable") : StrCat(bytes, " bytes"),
               ", more than a shard may be (", kMaxShardBytes >> 20, " MiB: one run's database); not merged");
    int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      throw Error(StrCat("cannot open shard '", path, "': ", msg));
    }
    sqlite3_extended_result_codes(db_, 1);
    try {
      const int version = ReadSchemaVersion(db_, path);
      QMOE_CHECK(version >= 1, "shard '", path, "' is an empty database, not a qmoe results shard");
      QMOE_CHECK(version <= ResultsDb::SchemaVersion(), "shard '", path, "' was written with results schema version ",
                 version, ", newer than this build of qmoe knows (version ", ResultsDb::SchemaVersion(),
                 "); merge it with a newer qmoe build (the shard is left in place)");
      SqlStmt check(db_, "PRAGMA quick_check", path);
      std::vector<std::string> problems;
      while (check.Step("checking the shard")) problems.push_back(check.Text(0));
      QMOE_CHECK(problems == std::vector<std::string>{"ok"}, "shard '", path, "' is corrupt (SQLite quick_check: ",
                 Join(problems, "; ").substr(0, 300), ")");
      // A view or a missing table would run someone else's query (a recursive view never ends)
      // or read nothing; every table the merge reads must be a plain table.
      SqlStmt kind(db_, "SELECT type FROM sqlite_master WHERE name = ?1", path);
      for (const char* t : {"runs", "run_params", "metrics", "kernel_timings"}) {
        kind.Reset();
        kind.Bind(1, std::string(t));
        const std::string type = kind.Step("reading the shard's schema") ? kind.Text(0) : "";
        kind.Reset();
        QMOE_CHECK(type == "table", "shard '", path, "' is not a qmoe results shard: ",
                   type.empty() ? StrCat("it has no table '", t, "'") : StrCat("'", t, "' is a ", type, ", not a table"));
      }
    } catch (const Error& e) {
      sqlite3_close_v2(db_);
      // SQLite's messages (sqlite_util.cpp) say "results database 'PATH'"; this file is a shard.
      std::string what = e.what();
      const std::string db_words = StrCat("results database '", path, "'");
      if (auto at = what.find(db_words); at != std::string::npos) what.replace(at, db_words.size(), StrCat("shard '", path, "'"));
      if (what.find(path) == std::string::npos) what = StrCat("shard '", path, "': ", what);
      throw Error(what);
    }
  }
  ~ShardConn() { sqlite3_close_v2(db_); }
  sqlite3* handle() { return db_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

using Value = std::variant<std::monostate, int64_t, double, std::string>;
struct Row {
  std::vector<Value> values;
};
struct Table {
  std::vector<std::string> columns;  // copied columns, in order
  std::vector<Row> rows;
};

// "name" quoted as a SQL identifier: column names come from the shard file, so they are data.
std::string Quoted(const std::string& name) {
  std::string q = "\"";
  for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::vector<std::string> ColumnsOf(sqlite3* db, const std::string& table, const std::string& path) {
  SqlStmt st(db, StrCat("PRAGMA table_info(", Quoted(table), ")"), path);
  std::vector<std::string> cols;
  while (st.Step("reading columns")) cols.push_back(st.Text(1));
  return cols;
}

Value Read(const SqlStmt& st, int c) {
  switch (st.Type(c)) {
    case SQLITE_NULL: return std::monostate{};
    case SQLITE_INTEGER: return st.Int(c);
    case SQLITE_FLOAT: return st.Double(c);
    default: return st.Text(c);
  }
}

void BindValue(SqlStmt& st, int i, const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) st.BindNull(i);
  else if (auto* x = std::get_if<int64_t>(&v)) st.Bind(i, *x);
  else if (auto* d = std::get_if<double>(&v)) st.Bind(i, *d);
  else st.Bind(i, std::get<std::string>(v));
}

const char* TypeName(int type) {
  switch (type) {
    case SQLITE_NULL: return "null";
    case SQLITE_INTEGER: return "integer";
    case SQLITE_FLOAT: return "real";
    case SQLITE_TEXT: return "text";
    default: return "blob";
  }
}

// Every row of `table` in the shard, `skip` columns left out. Each column must exist in the main
// database (`main_cols`; checked before any row is read), the columns the merge keys on must be
// there (`required`) with the types it compares (`types`: column -> allowed SQLite types).
Table ReadTable(ShardConn& shard, const std::string& table, const std::set<std::string>& skip,
                const std::set<std::string>& main_cols, const std::string& main_path,
                const std::map<std::string, std::set<int>>& types) {
  Table t;
  const std::vector<std::string> cols = ColumnsOf(shard.handle(), table, shard.path());
  for (const auto& c : cols) {
    QMOE_CHECK(main_cols.count(c), "shard '", shard.path(), "': table ", table, " has column '", c,
               "' that results database '", main_path, "' lacks; merge it with a newer qmoe build");
    if (!skip.count(c)) t.columns.push_back(c);
  }
  std::vector<std::string> quoted;
  for (const auto& c : t.columns) quoted.push_back(Quoted(c));
  std::vector<std::pair<int, const std::set<int>*>> typed;  // column index -> allowed types
  for (const auto& [c, allowed] : types) {
    auto at = std::find(t.columns.begin(), t.columns.end(), c);
    QMOE_CHECK(at != t.columns.end(), "shard '", shard.path(), "' is not a qmoe results shard: table ", table,
               " has no column '", c, "'");
    typed.emplace_back(static_cast<int>(at - t.columns.begin()), &allowed);
  }
  SqlStmt st(shard.handle(), StrCat("SELECT ", Join(quoted, ", "), " FROM ", Quoted(table)), shard.path());
  while (st.Step(StrCat("reading ", table))) {
    for (const auto& [c, allowed] : typed)
      QMOE_CHECK(allowed->count(st.Type(c)), "shard '", shard.path(), "': table ", table, ", row ", t.rows.size() + 1,
                 ": column '", t.columns[c], "' holds a value of type ", TypeName(st.Type(c)), " where the results ",
                 "schema has ", allowed->count(SQLITE_INTEGER) ? "an integer" : "text");
    Row r;
    for (int c = 0; c < static_cast<int>(t.columns.size()); ++c) r.values.push_back(Read(st, c));
    t.rows.push_back(std::move(r));
  }
  return t;
}

std::string Text(const Table& t, const Row& r, const std::string& column) {
  for (size_t c = 0; c < t.columns.size(); ++c)
    if (t.columns[c] == column) {
      if (auto* s = std::get_if<std::string>(&r.values[c])) return *s;
      if (auto* i = std::get_if<int64_t>(&r.values[c])) return std::to_string(*i);
      return "";
    }
  return "";
}

int64_t IntOf(const Table& t, const Row& r, const std::string& column) {
  for (size_t c = 0; c < t.columns.size(); ++c)
    if (t.columns[c] == column)
      if (auto* i = std::get_if<int64_t>(&r.values[c])) return *i;
  throw Error(StrCat("shard table has no integer column '", column, "'"));
}

// Everything of one shard, read before the main database's write lock is taken.
struct ShardContents {
  Table runs;                           // with the shard's run id first ("id")
  std::map<std::string, Table> children;  // table -> rows (run_id is the shard's run id)
};

const char* const kChildTables[] = {"run_params", "metrics", "kernel_timings"};

// `main_cols`: table -> the columns of the main database at `main_path`.
ShardContents ReadShard(const std::string& path, std::map<std::string, std::set<std::string>>& main_cols,
                        const std::string& main_path) {
  ShardConn shard(path);
  ShardContents s;
  // The merge keys on these: a run's id, key, status and end, and each child's run id.
  const std::set<int> integer{SQLITE_INTEGER}, text{SQLITE_TEXT}, text_or_null{SQLITE_TEXT, SQLITE_NULL};
  s.runs = ReadTable(shard, "runs", {}, main_cols["runs"], main_path,
                     {{"id", integer}, {"key", text}, {"status", text}, {"ended_at", text_or_null}});
  for (const char* t : kChildTables)
    s.children[t] = ReadTable(shard, t, {"id"}, main_cols[t], main_path, {{"run_id", integer}});
  return s;
}

std::vector<std::string> Placeholders(size_t n) {
  std::vector<std::string> q;
  for (size_t i = 1; i <= n; ++i) q.push_back(StrCat("?", i));
  return q;
}

}  // namespace

void PublishShard(const std::string& work_db, const std::string& shard_path) {
  const fs::path final_path(shard_path);
  if (!final_path.parent_path().empty()) fs::create_directories(final_path.parent_path());
  const std::string tmp = (final_path.parent_path() / ("." + final_path.filename().string() + ".partial")).string();
  fs::remove(tmp);
  try {
    {
      ResultsDb db(work_db);
      SqlStmt vacuum(db.handle(), "VACUUM INTO ?1", db.path());
      vacuum.Bind(1, tmp).Step(StrCat("publishing the shard '", shard_path, "'"));
    }
    // A shard is read by other hosts: a plain rollback-journal file, no WAL or shared memory.
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(tmp.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
    try {
      if (rc != SQLITE_OK) ThrowSqlite(db, rc, tmp, "open");
      ExecSql(db, "PRAGMA journal_mode=DELETE", tmp);
    } catch (...) {
      sqlite3_close_v2(db);
      throw;
    }
    sqlite3_close_v2(db);
    FsyncPath(tmp, O_RDONLY);
    std::error_code ec;
    fs::rename(tmp, final_path, ec);
    QMOE_CHECK(!ec, "cannot publish shard '", shard_path, "' (rename from '", tmp, "'): ", ec.message());
  } catch (const Error& e) {
    // A full disk (or any other failure) leaves the previous shard, if any, and no partial file.
    std::error_code ec;
    fs::remove(tmp, ec);
    fs::remove(tmp + "-journal", ec);
    const std::string what = e.what();
    if (what.find(shard_path) != std::string::npos) throw;
    throw Error(StrCat("cannot publish shard '", shard_path, "': ", what));
  }
  FsyncPath(final_path.parent_path().empty() ? "." : final_path.parent_path().string(), O_RDONLY | O_DIRECTORY);
}

std::vector<std::string> FindShards(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  QMOE_CHECK(fs::exists(path, ec), "'", path, "' does not exist (expected a shard file or a folder of sweeps)");
  if (!fs::is_directory(path, ec)) return {path};
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    // The name first: a task may rename its hidden partial file away meanwhile, and a stat of it
    // (filesystems without d_type) must not throw.
    std::error_code type_ec;
    if (p.extension() == ".db" && name[0] != '.' && p.parent_path().filename() == "shards" &&
        it->is_regular_file(type_ec))
      out.push_back(p.string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string MergeReport::Summary(const std::string& db_path) const {
  return StrCat("merged ", shards, " shard", shards == 1 ? "" : "s", " into ", db_path, ": ", counts.added, " added, ",
                counts.replaced, " replaced, ", counts.unchanged, " already there, ", counts.running, " still running",
                errors.empty() ? "" : StrCat("; ", errors.size(), " shard(s) not merged"));
}

MergeReport MergeShards(ResultsDb& main, const std::vector<std::string>& shards) {
  MergeReport r;
  for (const auto& s : shards) {
    try {
      r.counts += MergeShard(main, s);
      ++r.shards;
    } catch (const Error& e) {
      r.errors.push_back(e.what());
    }
  }
  return r;
}

std::vector<ShardRun> ReadShardRuns(const std::string& shard_path) {
  ShardConn shard(shard_path);
  SqlStmt st(shard.handle(), "SELECT key, status, error, coalesce(ended_at, '') FROM runs ORDER BY id", shard_path);
  std::vector<ShardRun> out;
  while (st.Step("reading runs")) out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Text(3)});
  return out;
}

MergeCounts MergeShard(ResultsDb& main, const std::string& shard_path) {
  sqlite3* db = main.handle();
  const std::string& path = main.path();
  // The shard's schema is not newer than ours and the schema only ever adds columns, so every
  // shard column exists here; ReadShard checks anyway, so a hand-made file cannot half-merge.
  std::map<std::string, std::set<std::string>> main_cols;
  for (const char* t : {"runs", "run_params", "metrics", "kernel_timings"}) {
    for (const auto& c : ColumnsOf(db, t, path)) main_cols[t].insert(c);
  }
  const ShardContents s = ReadShard(shard_path, main_cols, path);

  std::vector<std::string> run_cols;  // all but the id, which is local to each file
  for (const auto& c : s.runs.columns)
    if (c != "id") run_cols.push_back(c);

  MergeCounts n;
  main.Begin();
  try {
    SqlStmt find(db, "SELECT id, status, coalesce(ended_at, '') FROM runs WHERE key = ?1", path);
    std::vector<std::string> quoted_run_cols;
    for (const auto& c : run_cols) quoted_run_cols.push_back(Quoted(c));
    SqlStmt insert_run(db, StrCat("INSERT INTO runs(", Join(quoted_run_cols, ", "), ") VALUES (",
                                  Join(Placeholders(run_cols.size()), ", "), ")"), path);
    for (const Row& run : s.runs.rows) {
      const std::string key = Text(s.runs, run, "key"), status = Text(s.runs, run, "status");
      if (status == "running") {
        ++n.running;
        continue;
      }
      find.Reset();
      find.Bind(1, key);
      bool exists = find.Step("merge: looking up the run key");
      int64_t old_id = exists ? find.Int(0) : 0;
      std::string old_status = exists ? find.Text(1) : "", old_end = exists ? find.Text(2) : "";
      find.Reset();
      if (exists) {
        bool newer = status == "done" || old_status == "running" || Text(s.runs, run, "ended_at") > old_end;
        if (old_status == "done" || !newer) {
          ++n.unchanged;
          continue;
        }
        for (const char* sql : {"DELETE FROM run_params WHERE run_id = ?1", "DELETE FROM metrics WHERE run_id = ?1",
                                "DELETE FROM kernel_timings WHERE run_id = ?1", "DELETE FROM runs WHERE id = ?1"}) {
          SqlStmt del(db, sql, path);
          del.Bind(1, old_id).Step("merge: replacing an earlier attempt");
        }
      }
      insert_run.Reset();
      int i = 1;
      for (size_t c = 0; c < s.runs.columns.size(); ++c)
        if (s.runs.columns[c] != "id") BindValue(insert_run, i++, run.values[c]);
      insert_run.Step(StrCat("merge: run ", key.substr(0, 16)));
      const int64_t new_id = sqlite3_last_insert_rowid(db);
      const int64_t shard_id = IntOf(s.runs, run, "id");
      for (const auto& [t, table] : s.children) {
        std::vector<std::string> quoted;
        for (const auto& c : table.columns) quoted.push_back(Quoted(c));
        SqlStmt ins(db, StrCat("INSERT INTO ", t, "(", Join(quoted, ", "), ") VALUES (",
                               Join(Placeholders(table.columns.size()), ", "), ")"), path);
        for (const Row& r : table.rows) {
          if (IntOf(table, r, "run_id") != shard_id) continue;
          ins.Reset();
          for (size_t c = 0; c < table.columns.size(); ++c) {
            if (table.columns[c] == "run_id") ins.Bind(static_cast<int>(c + 1), new_id);
            else BindValue(ins, static_cast<int>(c + 1), r.values[c]);
          }
          ins.Step(StrCat("merge: ", t, " of run ", key.substr(0, 16)));
        }
      }
      ++(exists ? n.replaced : n.added);
    }
    main.Commit();
  } catch (...) {
    if (sqlite3_get_autocommit(db) == 0) main.Rollback();
    throw;
  }
  return n;
}

}  // namespace qmoe
