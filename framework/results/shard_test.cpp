// Shards: publishing a task's database and merging it into the main one (idempotent, atomic per
// shard, done runs never overwritten), and the errors for corrupt, foreign and newer shards.
#include "framework/results/shard.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "framework/core/error.h"
#include "framework/results/sqlite_util.h"
#include "framework/results/test_db.h"

namespace qmoe {
namespace {

namespace fs = std::filesystem;
using testing_results::AddRun;
using testing_results::ExpectErrorWith;
using testing_results::FreshDbPath;
using testing_results::Scalar;

// A published shard holding one run of `key` with `status` and a metric `loss` = `value`.
std::string MakeShard(const std::string& name, const std::string& key, const std::string& status, double value) {
  const std::string work = FreshDbPath(name + "-work");
  {
    ResultsDb db(work);
    int64_t id = AddRun(db, key, "rtn", {{"method.bits", "2"}}, {{"loss", value}}, status);
    MetricLabels per_expert;
    per_expert.layer = "encoder.block.1";
    per_expert.expert = 3;
    db.AddMetric(id, "zero_fraction", 0.25, "", per_expert);
    KernelTiming t;
    t.kernel = "k";
    t.device = "cpu";
    t.seconds = 1;
    db.AddKernelTiming(id, t);
  }
  const std::string shard = fs::path(FreshDbPath(name)).replace_extension("").string() + "-shards/shards/0.1.db";
  fs::remove_all(fs::path(shard).parent_path());
  PublishShard(work, shard);
  return shard;
}

std::string Count(ResultsDb& db, const std::string& table) { return Scalar(db, "SELECT count(*) FROM " + table); }

TEST(Shard, PublishedShardIsOneSelfContainedFile) {
  const std::string shard = MakeShard("publish", "k1", "done", 1.5);
  EXPECT_TRUE(fs::exists(shard));
  EXPECT_FALSE(fs::exists(shard + "-wal"));
  for (const auto& e : fs::directory_iterator(fs::path(shard).parent_path()))
    EXPECT_EQ(e.path().filename().string()[0] != '.', true) << "left a partial file: " << e.path();
  auto runs = ReadShardRuns(shard);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].key, "k1");
  EXPECT_EQ(runs[0].status, "done");
  EXPECT_EQ(FindShards(fs::path(shard).parent_path().parent_path().string()), std::vector<std::string>{shard});
}

TEST(Shard, MergeCopiesEverythingAndIsIdempotent) {
  const std::string shard = MakeShard("idem", "k1", "done", 1.5);
  ResultsDb main(FreshDbPath("idem-main"));
  AddRun(main, "k0", "bf16", {}, {{"loss", 9}}, "done");  // an unrelated run stays as it is
  MergeCounts first = MergeShard(main, shard);
  EXPECT_EQ(first.added, 1);
  EXPECT_EQ(Scalar(main, "SELECT value FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.key = 'k1' AND name = 'loss'"),
            "1.5");
  EXPECT_EQ(Scalar(main, "SELECT expert FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.key = 'k1' AND "
                         "name = 'zero_fraction'"),
            "3");
  EXPECT_EQ(Scalar(main, "SELECT value FROM run_params p JOIN runs r ON r.id = p.run_id WHERE r.key = 'k1'"), "2");
  EXPECT_EQ(Count(main, "kernel_timings"), "1");
  const std::string ids = Scalar(main, "SELECT group_concat(id) FROM runs");
  MergeCounts second = MergeShard(main, shard);
  EXPECT_EQ(second.added + second.replaced, 0);
  EXPECT_EQ(second.unchanged, 1);
  EXPECT_EQ(Scalar(main, "SELECT group_concat(id) FROM runs"), ids);
  EXPECT_EQ(Count(main, "runs"), "2");
  EXPECT_EQ(Count(main, "metrics"), "3");
}

TEST(Shard, DoneWinsAndALaterFailureReplacesAnEarlierOne) {
  ResultsDb main(FreshDbPath("rules-main"));
  AddRun(main, "kd", "rtn", {}, {{"loss", 1}}, "done");
  // An older done run: the shard's failed attempt ended later, and still must not replace it.
  ExecSql(main.handle(), "UPDATE runs SET ended_at = '2000-01-01T00:00:00Z' WHERE key = 'kd'", main.path());
  EXPECT_EQ(MergeShard(main, MakeShard("rules-a", "kd", "failed", 7)).unchanged, 1);  // done is never overwritten
  EXPECT_EQ(Scalar(main, "SELECT status FROM runs WHERE key = 'kd'"), "done");

  AddRun(main, "kf", "rtn", {}, {{"loss", 1}}, "failed");
  ExecSql(main.handle(), "UPDATE runs SET ended_at = '2000-01-01T00:00:00Z' WHERE key = 'kf'", main.path());
  EXPECT_EQ(MergeShard(main, MakeShard("rules-b", "kf", "failed", 2)).replaced, 1);  // a later attempt
  EXPECT_EQ(MergeShard(main, MakeShard("rules-c", "kf", "done", 3.5)).replaced, 1);    // then done
  EXPECT_EQ(Scalar(main, "SELECT status FROM runs WHERE key = 'kf'"), "done");
  EXPECT_EQ(Scalar(main, "SELECT value FROM metrics m JOIN runs r ON r.id = m.run_id WHERE key = 'kf' AND name = 'loss'"),
            "3.5");
  EXPECT_EQ(Scalar(main, "SELECT count(*) FROM runs WHERE key = 'kf'"), "1");

  EXPECT_EQ(MergeShard(main, MakeShard("rules-d", "kr", "running", 0)).running, 1);  // not merged while running
  EXPECT_EQ(Scalar(main, "SELECT count(*) FROM runs WHERE key = 'kr'"), "0");
}

TEST(Shard, MergeIsAtomicPerShard) {
  const std::string shard = MakeShard("atomic", "k1", "done", 1.5);
  ResultsDb main(FreshDbPath("atomic-main"));
  // The run row goes in first; then a metric insert fails: nothing of the shard may remain.
  ExecSql(main.handle(),
          "CREATE TRIGGER boom BEFORE INSERT ON metrics WHEN NEW.name = 'zero_fraction' "
          "BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
          main.path());
  ExpectErrorWith([&] { MergeShard(main, shard); }, {"injected failure"});
  EXPECT_EQ(Count(main, "runs"), "0");
  EXPECT_EQ(Count(main, "metrics"), "0");
  ExecSql(main.handle(), "DROP TRIGGER boom", main.path());
  EXPECT_EQ(MergeShard(main, shard).added, 1);
}

TEST(Shard, BadShardsAreOneErrorEachAndLoseNothing) {
  const std::string dir = fs::path(FreshDbPath("bad")).replace_extension("").string() + "-shards/shards";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string good = MakeShard("bad-good", "k1", "done", 1.5);
  fs::copy_file(good, dir + "/0.1.db");

  const std::string corrupt = dir + "/1.1.db";
  {
    std::mt19937 rng(7);
    std::ofstream f(corrupt, std::ios::binary);
    for (int i = 0; i < 8192; ++i) f.put(static_cast<char>(rng() & 0xff));
  }
  const std::string newer = dir + "/2.1.db";
  fs::copy_file(MakeShard("bad-newer", "k2", "done", 2), newer);
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(newer.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  const std::string foreign = dir + "/3.1.db";
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(foreign.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE songs(title TEXT)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }

  ResultsDb main(FreshDbPath("bad-main"));
  AddRun(main, "k0", "bf16", {}, {{"loss", 9}}, "done");
  ExpectErrorWith([&] { MergeShard(main, corrupt); }, {corrupt, "not a database"});
  ExpectErrorWith([&] { MergeShard(main, newer); }, {newer, "version 99", "newer"});
  ExpectErrorWith([&] { MergeShard(main, foreign); }, {foreign, "not a qmoe results database"});
  ExpectErrorWith([&] { MergeShard(main, dir + "/9.1.db"); }, {dir + "/9.1.db", "does not exist"});

  MergeReport r = MergeShards(main, FindShards(fs::path(dir).parent_path().string()));
  EXPECT_EQ(r.shards, 1);
  EXPECT_EQ(r.counts.added, 1);
  ASSERT_EQ(r.errors.size(), 3u);  // one message per bad shard, each naming it
  EXPECT_NE(r.errors[0].find(corrupt), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[1].find(newer), std::string::npos) << r.errors[1];
  EXPECT_NE(r.errors[2].find(foreign), std::string::npos) << r.errors[2];
  EXPECT_EQ(Count(main, "runs"), "2");
  for (const auto& f : {corrupt, newer, foreign}) EXPECT_TRUE(fs::exists(f)) << "a bad shard must stay in place";
}

TEST(ResultsDb, MarkRunFailedOnlyTouchesRunningRuns) {
  ResultsDb db(FreshDbPath("mark-failed"));
  AddRun(db, "running", "rtn", {}, {}, "running");
  AddRun(db, "done", "rtn", {}, {}, "done");
  EXPECT_TRUE(db.MarkRunFailed("running", "worker killed by signal 9"));
  EXPECT_EQ(Scalar(db, "SELECT status || ': ' || error FROM runs WHERE key = 'running'"),
            "failed: worker killed by signal 9");
  EXPECT_NE(Scalar(db, "SELECT ended_at FROM runs WHERE key = 'running'"), "");
  EXPECT_FALSE(db.MarkRunFailed("running", "again"));
  EXPECT_FALSE(db.MarkRunFailed("done", "no"));
  EXPECT_FALSE(db.MarkRunFailed("absent", "no"));
  EXPECT_EQ(Scalar(db, "SELECT status FROM runs WHERE key = 'done'"), "done");
}

}  // namespace
}  // namespace qmoe
