#include "framework/results/schema.h"

#include <sqlite3.h>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/results/sqlite_util.h"

namespace qmoe {

const std::vector<SchemaMigration>& SchemaMigrations() {
  // Append steps here, never edit a released one: {1, "add x", "ALTER TABLE ..."}.
  static const std::vector<SchemaMigration> steps = {
      {1, "add kernel_timings.threads",
       "ALTER TABLE kernel_timings ADD COLUMN threads INTEGER NOT NULL DEFAULT 1"},
  };
  return steps;
}

int ReadSchemaVersion(sqlite3* db, const std::string& path) {
  SqlStmt tables(db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name", path);
  std::vector<std::string> names;
  while (tables.Step("reading the schema")) names.push_back(tables.Text(0));
  if (names.empty()) return 0;
  bool has_version = false;
  for (const auto& n : names) has_version |= (n == "schema_version");
  QMOE_CHECK(has_version, "results database '", path,
             "' is a SQLite file but not a qmoe results database (no schema_version table; tables: ",
             Join(names, ", "), ")");
  SqlStmt v(db, "SELECT version FROM schema_version", path);
  std::vector<int64_t> versions;
  while (v.Step("reading schema_version")) versions.push_back(v.Int(0));
  QMOE_CHECK(versions.size() == 1, "results database '", path, "': schema_version must hold one row, found ",
             versions.size());
  // Checked before the narrowing: 2^32 + 1 must not read as version 1.
  QMOE_CHECK(versions[0] >= 0 && versions[0] <= 1000000, "results database '", path, "': schema_version holds ",
             versions[0], ", not a schema version (0 to 1000000)");
  return static_cast<int>(versions[0]);
}

namespace {

void CheckNotNewer(int found, int target, const std::string& path) {
  QMOE_CHECK(found <= target, "results database '", path, "' has schema version ", found,
             ", newer than this build of qmoe knows (version ", target,
             "); use a newer qmoe build or another database file");
}

}  // namespace

void MigrateSchema(sqlite3* db, const std::string& path, int target_version,
                   const std::vector<SchemaMigration>& steps) {
  int found = ReadSchemaVersion(db, path);  // cheap check without the write lock
  CheckNotNewer(found, target_version, path);
  if (found == target_version) return;

  ExecSql(db, "BEGIN IMMEDIATE", path);
  try {
    int v = ReadSchemaVersion(db, path);  // another process may have migrated meanwhile
    if (v == 0) {
      ExecSql(db, kSchemaSql, path);
      v = ReadSchemaVersion(db, path);
    }
    CheckNotNewer(v, target_version, path);
    while (v < target_version) {
      const SchemaMigration* step = nullptr;
      for (const auto& s : steps)
        if (s.from_version == v) step = &s;
      QMOE_CHECK(step, "results database '", path, "' has schema version ", v,
                 " and this build has no migration step from it to version ", v + 1);
      ExecSql(db, step->sql, path);
      ++v;
      SqlStmt up(db, "UPDATE schema_version SET version = ?1", path);
      up.Bind(1, static_cast<int64_t>(v)).Step("migrating");
    }
    ExecSql(db, "COMMIT", path);
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace qmoe
