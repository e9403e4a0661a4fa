#include "framework/results/test_db.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/results/sqlite_util.h"

namespace qmoe::testing_results {

std::string FreshDbPath(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(::testing::TempDir()) / ("qmoe_results_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  fs::path p = dir / (name + ".db");
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(p.string() + suffix);
  return p.string();
}

int64_t AddRun(ResultsDb& db, const std::string& key, const std::string& method,
               const std::map<std::string, std::string>& params, const std::map<std::string, double>& metrics,
               const std::string& status, int64_t seed) {
  RunRecord r;
  r.key = key;
  r.experiment = "compress";
  r.method = method;
  r.model = "tiny";
  r.seed = seed;
  r.overrides = "method=" + method + "\nseed=" + std::to_string(seed);
  r.params = params;
  int64_t id = db.BeginRun(r);
  for (const auto& [name, v] : metrics) db.AddMetric(id, name, v, "nats");
  if (status != "running") db.FinishRun(id, status, status == "failed" ? "boom" : "");
  return id;
}

std::string Scalar(ResultsDb& db, const std::string& sql) {
  SqlStmt st(db.handle(), sql, db.path());
  if (!st.Step()) return "";
  return st.IsNull(0) ? "" : st.Text(0);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace qmoe::testing_results
