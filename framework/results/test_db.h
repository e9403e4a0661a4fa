// Test helpers for results_test: fresh database paths and hand-filled runs.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "framework/results/results_db.h"

namespace qmoe::testing_results {

// A path under the gtest temp dir, unique to this process and `name`; any old file is removed.
std::string FreshDbPath(const std::string& name);

// Inserts a run with these params and run-level metrics, finished with `status`; returns its id.
int64_t AddRun(ResultsDb& db, const std::string& key, const std::string& method,
               const std::map<std::string, std::string>& params, const std::map<std::string, double>& metrics,
               const std::string& status = "done", int64_t seed = 0);

// One SQL scalar as text ("" for NULL), for assertions on raw tables.
std::string Scalar(ResultsDb& db, const std::string& sql);

std::string ReadFile(const std::string& path);

}  // namespace qmoe::testing_results
