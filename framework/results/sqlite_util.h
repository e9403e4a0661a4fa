// Thin RAII helpers over the SQLite C API, shared by ResultsDb and the `qmoe results` commands.
// Every failure becomes one qmoe::Error that names the database path; "database is locked" and
// "file is not a database" get messages of their own because users hit them most.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace qmoe {

// Throws the Error for SQLite result code `rc` (extended codes allowed) on database `path`;
// `what` says which operation failed, e.g. "BeginRun(key 1a2b...)".
[[noreturn]] void ThrowSqlite(sqlite3* db, int rc, const std::string& path, std::string_view what);

// Runs one or more statements without results (DDL, BEGIN/COMMIT, pragmas).
void ExecSql(sqlite3* db, const std::string& sql, const std::string& path);

// A prepared statement. Bind indices start at 1, column indices at 0.
class SqlStmt {
 public:
  SqlStmt(sqlite3* db, std::string_view sql, const std::string& path);
  ~SqlStmt();
  SqlStmt(const SqlStmt&) = delete;
  SqlStmt& operator=(const SqlStmt&) = delete;

  SqlStmt& Bind(int i, int64_t v);
  SqlStmt& Bind(int i, double v);  // NaN binds NULL (SQLite has no NaN)
  SqlStmt& Bind(int i, const std::string& v);
  SqlStmt& Bind(int i, const char* v) { return Bind(i, std::string(v)); }
  SqlStmt& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  SqlStmt& BindNull(int i);

  // true: a row is ready; false: done. `what` names the operation in error messages.
  bool Step(std::string_view what = "");
  void Reset();  // reset and clear bindings, for reuse

  int Columns() const;
  std::string Name(int col) const;
  int Type(int col) const;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL
  bool IsNull(int col) const;
  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;
  bool ReadOnly() const;  // the statement does not write (sqlite3_stmt_readonly)
  bool HasTail() const { return has_tail_; }  // more SQL followed the first statement

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  std::string path_;
  bool has_tail_ = false;
};

// Shortest text that reads back as the same double ("0.1", "2", "1e-07"); "nan"/"inf" as such.
std::string FormatDouble(double v);

}  // namespace qmoe
