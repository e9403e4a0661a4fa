// Test helpers for results_test: fresh database paths and hand-filled runs.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "framework/core/error.h"

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

// Expects `fn` to throw qmoe::Error whose message contains every one of `parts`.
template <class F>
void ExpectErrorWith(F&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected qmoe::Error containing '" << parts.front() << "'";
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

}  // namespace qmoe::testing_results
