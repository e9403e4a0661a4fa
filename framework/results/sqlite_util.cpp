#include "framework/results/sqlite_util.h"

#include <sqlite3.h>

#include <charconv>
#include <cmath>

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe {

void ThrowSqlite(sqlite3* db, int rc, const std::string& path, std::string_view what) {
  std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string op = what.empty() ? "" : StrCat(" (", what, ")");
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw Error(StrCat("results database '", path, "' is locked", op,
                         ": another connection held its write lock longer than the busy timeout; "
                         "is a long transaction open in another process? (SQLite: ", msg, ")"));
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      throw Error(StrCat("results database '", path, "': file is not a database or is corrupt", op,
                         " (SQLite: ", msg, ")"));
    case SQLITE_CANTOPEN:
      throw Error(StrCat("cannot open results database '", path, "'", op,
                         ": does its directory exist and is it writable? (SQLite: ", msg, ")"));
    default:
      throw Error(StrCat("results database '", path, "'", op, ": ", msg));
  }
}

void ExecSql(sqlite3* db, const std::string& sql, const std::string& path) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (err) sqlite3_free(err);
  if (rc != SQLITE_OK) ThrowSqlite(db, sqlite3_extended_errcode(db), path, Trim(sql).substr(0, 60));
}

SqlStmt::SqlStmt(sqlite3* db, std::string_view sql, const std::string& path) : db_(db), path_(path) {
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &st_, &tail);
  if (rc != SQLITE_OK) ThrowSqlite(db, sqlite3_extended_errcode(db), path, StrCat("preparing: ", sql.substr(0, 200)));
  QMOE_CHECK(st_ != nullptr, "results database '", path, "': no SQL statement in '", sql, "'");
  has_tail_ = tail && !Trim(std::string_view(tail, sql.data() + sql.size() - tail)).empty();
}

SqlStmt::~SqlStmt() { sqlite3_finalize(st_); }

SqlStmt& SqlStmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}
SqlStmt& SqlStmt::Bind(int i, double v) {
  if (std::isnan(v)) sqlite3_bind_null(st_, i);
  else sqlite3_bind_double(st_, i, v);
  return *this;
}
SqlStmt& SqlStmt::Bind(int i, const std::string& v) {
  sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

SqlStmt& SqlStmt::BindNull(int i) {
  sqlite3_bind_null(st_, i);
  return *this;
}

bool SqlStmt::Step(std::string_view what) {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  int ext = sqlite3_extended_errcode(db_);
  sqlite3_reset(st_);  // leave the statement reusable after a failure (e.g. locked)
  ThrowSqlite(db_, ext, path_, what.empty() ? std::string_view(sqlite3_sql(st_)).substr(0, 60) : what);
}

void SqlStmt::Reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

int SqlStmt::Columns() const { return sqlite3_column_count(st_); }
std::string SqlStmt::Name(int col) const { return sqlite3_column_name(st_, col); }
int SqlStmt::Type(int col) const { return sqlite3_column_type(st_, col); }
bool SqlStmt::IsNull(int col) const { return Type(col) == SQLITE_NULL; }
int64_t SqlStmt::Int(int col) const { return sqlite3_column_int64(st_, col); }
double SqlStmt::Double(int col) const {
  return IsNull(col) ? std::nan("") : sqlite3_column_double(st_, col);
}
std::string SqlStmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(st_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(st_, col)) : std::string();
}
bool SqlStmt::ReadOnly() const { return sqlite3_stmt_readonly(st_) != 0; }

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace qmoe
