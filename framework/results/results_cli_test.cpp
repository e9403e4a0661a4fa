// `qmoe results` subcommands on a hand-filled database; outputs are compared as exact text.
#include "framework/results/results_cli.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/results/test_db.h"

namespace qmoe {
namespace {

using testing_results::AddRun;
using testing_results::FreshDbPath;
using testing_results::ReadFile;

// loss by (method.name, method.bits), done runs only:
//   gptq 2   : seeds 0,1,2 -> 1, 2, 3  => mean 2, sample std 1
//   gptq 1.5 : 2.5;   rtn 2 : 4;   rtn 16 : 1.25;   rtn 1.5 : failed (excluded);   gptq 16 : none
// plus a per-layer "loss" row (value 50) that must never enter run-level views.
class ResultsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = FreshDbPath(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ResultsDb db(path_);
    auto p = [](const std::string& m, const std::string& bits, int seed) {
      return std::map<std::string, std::string>{{"method.name", m}, {"method.bits", bits}, {"seed", std::to_string(seed)}};
    };
    int64_t g2s0 = AddRun(db, "g2s0", "gptq", p("gptq", "2", 0), {{"loss", 1.0}}, "done", 0);
    AddRun(db, "g2s1", "gptq", p("gptq", "2", 1), {{"loss", 2.0}}, "done", 1);
    AddRun(db, "g2s2", "gptq", p("gptq", "2", 2), {{"loss", 3.0}}, "done", 2);
    AddRun(db, "g15", "gptq", p("gptq", "1.5", 0), {{"loss", 2.5}});
    AddRun(db, "r2", "rtn", p("rtn", "2", 0), {{"loss", 4.0}});
    AddRun(db, "r16", "rtn", p("rtn", "16", 0), {{"loss", 1.25}});
    AddRun(db, "r15f", "rtn", p("rtn", "1.5", 0), {{"loss", 100.0}}, "failed");
    db.AddMetric(g2s0, "loss", 50.0, "nats", {"encoder.block.1", -1, "", ""});
  }

  std::string Run(const std::vector<std::string>& args) {
    std::ostringstream out;
    EXPECT_EQ(RunResultsCommand(args, path_, out), 0);
    return out.str();
  }

  // Expects an Error containing every part.
  void ExpectError(const std::vector<std::string>& args, const std::vector<std::string>& parts) {
    std::ostringstream out;
    try {
      RunResultsCommand(args, path_, out);
      ADD_FAILURE() << "expected an Error for: " << Join(args, " ");
    } catch (const Error& e) {
      for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }

  std::string path_;
};

std::string Sp(size_t n) { return std::string(n, ' '); }
std::string Dash(size_t n) { return std::string(n, '-'); }

TEST_F(ResultsCliTest, TablePivotText) {
  // Column widths: 25 ("method.name \ method.bits"), 3, 11 ("2 ± 1 (n=3)" in code points), 4.
  const std::string expected =
      "method.name \\ method.bits  1.5  2" + Sp(10) + "  16\n" +
      Dash(25) + "  " + Dash(3) + "  " + Dash(11) + "  " + Dash(4) + "\n" +
      "gptq" + Sp(21) + "  2.5  2 ± 1 (n=3)  -\n" +
      "rtn" + Sp(22) + "  -    4" + Sp(10) + "  1.25\n";
  EXPECT_EQ(Run({"table", "--rows", "method.name", "--cols", "method.bits", "--value", "loss"}), expected);
}

TEST_F(ResultsCliTest, TablePivotCsvMarkdownAndAggregates) {
  const std::vector<std::string> base = {"table", "--rows", "method.name", "--cols", "method.bits", "--value", "loss"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return Run(a);
  };
  EXPECT_EQ(with({"--format", "csv"}),
            "method.name \\ method.bits,1.5,2,16\n"
            "gptq,2.5,2 ± 1 (n=3),\n"
            "rtn,,4,1.25\n");
  EXPECT_EQ(with({"--format=markdown"}),
            "| method.name \\ method.bits | 1.5 | 2 | 16 |\n"
            "|---|---|---|---|\n"
            "| gptq | 2.5 | 2 ± 1 (n=3) | - |\n"
            "| rtn | - | 4 | 1.25 |\n");
  EXPECT_EQ(with({"--agg", "count", "--format", "csv"}), "method.name \\ method.bits,1.5,2,16\ngptq,1,3,\nrtn,,1,1\n");
  EXPECT_EQ(with({"--agg", "max", "--format", "csv"}), "method.name \\ method.bits,1.5,2,16\ngptq,2.5,3,\nrtn,,4,1.25\n");
  EXPECT_EQ(with({"--agg", "min", "--format", "csv", "--where", "method.name=gptq"}),
            "method.name \\ method.bits,1.5,2\ngptq,2.5,1\n");
  // A run column as rows, no --cols, two --where conditions after one flag.
  EXPECT_EQ(Run({"table", "--rows", "method", "--value", "loss", "--format", "csv", "--where", "method.bits=2", "model=tiny"}),
            "method,loss\ngptq,2 ± 1 (n=3)\nrtn,4\n");
}

TEST_F(ResultsCliTest, TableErrorsNameTheNearestChoice) {
  ExpectError({"table", "--rows", "method.name", "--cols", "method.bits", "--value", "los"},
              {"no run-level metric 'los'", "did you mean 'loss'"});
  ExpectError({"table", "--rows", "method.nme", "--value", "loss"}, {"method.nme", "did you mean 'method.name'"});
  ExpectError({"table", "--rows", "method", "--value", "loss", "--agg", "median"}, {"--agg must be one of", "median"});
  ExpectError({"table", "--rows", "method", "--value", "loss", "--where", "method.bits"}, {"KEY=VALUE"});
}

TEST_F(ResultsCliTest, QueryTextCsvJsonAndReadOnly) {
  const std::string sql = "SELECT key, status FROM runs WHERE key GLOB 'g2*' ORDER BY id";
  EXPECT_EQ(Run({"query", sql}), "key   status\n----  ------\ng2s0  done\ng2s1  done\ng2s2  done\n");
  EXPECT_EQ(Run({"query", sql, "--csv"}), "key,status\ng2s0,done\ng2s1,done\ng2s2,done\n");
  auto j = nlohmann::json::parse(
      Run({"query", "SELECT r.key, m.value, m.layer FROM metrics m JOIN runs r ON r.id = m.run_id "
                    "WHERE m.layer != '' OR r.key = 'r16' ORDER BY m.value", "--json"}));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["key"], "r16");
  EXPECT_EQ(j[0]["value"].get<double>(), 1.25);  // numbers stay numbers
  EXPECT_EQ(j[1]["layer"], "encoder.block.1");
  EXPECT_EQ(Run({"query", "SELECT NULL AS x, 0.5 AS y"}), "x     y\n----  ---\nNULL  0.5\n");

  ExpectError({"query", "DELETE FROM runs"}, {"read-only"});
  ExpectError({"query", "SELECT 1; DELETE FROM runs"}, {"one SQL statement"});
  ExpectError({"query", "SELECT nope FROM runs"}, {path_, "no such column"});
  EXPECT_EQ(Run({"query", "SELECT count(*) AS n FROM runs", "--csv"}), "n\n7\n");  // nothing was deleted
}

TEST_F(ResultsCliTest, ExportJoinedCsvAndRawJson) {
  const std::string csv = FreshDbPath("export") + ".csv";
  EXPECT_EQ(Run({"export", "--csv", csv}), "wrote 7 rows (run_metrics) to " + csv + "\n");
  std::vector<std::string> lines = Split(ReadFile(csv), '\n');
  ASSERT_EQ(lines.size(), 9u);  // header + 7 run-level metrics (failed run included, per-layer row not) + ""
  EXPECT_EQ(lines[0],
            "run_id,key,sweep_id,experiment,method,model,status,seed,started_at,ended_at,metric,value,unit,"
            "param.method.bits,param.method.name,param.seed");
  std::vector<std::string> r16;
  for (const auto& l : lines)
    if (l.rfind("6,r16,", 0) == 0) r16 = Split(l, ',');
  ASSERT_EQ(r16.size(), 16u);
  EXPECT_EQ(r16[6], "done");
  EXPECT_EQ(r16[10], "loss");
  EXPECT_EQ(r16[11], "1.25");
  EXPECT_EQ(r16[12], "nats");
  EXPECT_EQ(r16[13], "16");
  EXPECT_EQ(r16[14], "rtn");
  EXPECT_EQ(r16[15], "0");

  const std::string json = FreshDbPath("export") + ".json";
  Run({"export", "--json", json, "--table", "metrics"});
  auto j = nlohmann::json::parse(ReadFile(json));
  ASSERT_EQ(j.size(), 8u);  // every metrics row, per-layer included
  EXPECT_EQ(j[7]["layer"], "encoder.block.1");
  EXPECT_EQ(j[7]["value"].get<double>(), 50.0);

  auto joined = nlohmann::json::parse(Run({"export", "--json", "-"}));
  ASSERT_EQ(joined.size(), 7u);
  EXPECT_EQ(joined[0]["key"], "g2s0");
  EXPECT_EQ(joined[0]["param.method.name"], "gptq");

  ExpectError({"export", "--csv", csv, "--table", "metric"}, {"--table", "did you mean 'metrics'"});
  ExpectError({"export", "--table", "runs"}, {"exactly one of --csv FILE or --json FILE"});
}

TEST_F(ResultsCliTest, ListAndShow) {
  std::vector<std::string> failed = Split(Run({"list", "--status", "failed"}), '\n');
  ASSERT_EQ(failed.size(), 4u);  // header, dashes, one run, ""
  EXPECT_NE(failed[2].find("r15f"), std::string::npos);
  EXPECT_NE(failed[2].find("method=rtn seed=0"), std::string::npos);  // overrides on one line
  std::vector<std::string> last2 = Split(Run({"list", "--limit", "2"}), '\n');
  ASSERT_EQ(last2.size(), 5u);
  EXPECT_EQ(last2[2].substr(0, 3), "6  ");
  EXPECT_EQ(last2[3].substr(0, 3), "7  ");
  EXPECT_EQ(Split(Run({"list", "--experiment", "compress"}), '\n').size(), 10u);
  EXPECT_EQ(Split(Run({"list", "--experiment", "nope"}), '\n').size(), 3u);

  const std::string show = Run({"show", "r16"});
  EXPECT_NE(show.find("run           6\n"), std::string::npos) << show;  // "run" padded to "code_version"
  EXPECT_NE(show.find("method.bits  16\n"), std::string::npos) << show;
  EXPECT_NE(show.find("loss  1.25   nats\n"), std::string::npos) << show;
  EXPECT_EQ(Run({"show", "6"}), show);
  const std::string labelled = Run({"show", "1"});
  EXPECT_NE(labelled.find("loss  1     1       0        0         0\n"), std::string::npos) << labelled;
  ExpectError({"show", "g2"}, {"matches 3 runs", "1, 2, 3"});
  ExpectError({"show", "zzz"}, {"no run with id or key prefix 'zzz'", path_});
}

TEST_F(ResultsCliTest, UnknownSubcommandFlagAndMissingDb) {
  ExpectError({"lsit"}, {"unknown subcommand 'lsit'", "did you mean 'list'", "export, list, query, show, table"});
  ExpectError({"list", "--stauts", "done"}, {"unknown flag '--stauts'", "did you mean '--status'", "--limit"});
  ExpectError({"list", "--status", "dnoe"}, {"must be one of", "did you mean 'done'"});
  ExpectError({"list", "--limit", "0"}, {"--limit must be a positive integer"});
  ExpectError({"show"}, {"expected 1 argument"});
  std::ostringstream out;
  const std::string missing = path_ + ".missing";
  try {
    RunResultsCommand({"list"}, missing, out);
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing + "' does not exist"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qmoe
