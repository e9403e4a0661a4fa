// The results schema: results/schema.sql embedded at build time, and the table of migration steps
// that bring an older database to the current version. ResultsDb calls MigrateSchema on open.
#pragma once
#include <string>
#include <vector>

struct sqlite3;

namespace qmoe {

extern const char kSchemaSql[];     // the text of results/schema.sql (generated schema_sql.cpp)
extern const int kSchemaSqlVersion; // the version that results/schema.sql creates

// One step from `from_version` to from_version + 1. `sql` must leave the database exactly as
// results/schema.sql of version from_version + 1 would create it (tests compare the two).
struct SchemaMigration {
  int from_version;
  std::string what;  // one line for logs, e.g. "add metrics.step"
  std::string sql;
};

// The migration steps of this build, oldest first.
const std::vector<SchemaMigration>& SchemaMigrations();

// The schema version stored in the database; 0 for a fresh file without tables. A SQLite file
// with tables but no schema_version is an Error ("not a qmoe results database").
int ReadSchemaVersion(sqlite3* db, const std::string& path);

// Brings the database to `target_version`: a fresh file gets kSchemaSql, an older one runs
// `steps` N -> N+1 in order. Runs in one IMMEDIATE transaction and re-reads the version inside it,
// so concurrent openers migrate once. A newer database than target_version is an Error naming
// the path and both versions.
void MigrateSchema(sqlite3* db, const std::string& path, int target_version,
                   const std::vector<SchemaMigration>& steps);

}  // namespace qmoe
