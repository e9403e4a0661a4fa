// Shards: publishing a task's database and merging it into the main one (idempotent, atomic per
// shard, done runs never overwritten), and the errors for corrupt, foreign and newer shards.
#include "framework/results/shard.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
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

// A shard is a file someone else made: its column names, object types and value types are data.
// Each of these was merged (or mis-merged) before the shard reader checked them.
TEST(Shard, HandMadeShardsAreRefusedWithAnErrorNamingThem) {
  auto edited = [](const std::string& name, const char* sql) {
    const std::string shard = MakeShard(name, "k1", "done", 1.5);
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open(shard.c_str(), &raw), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(raw, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
    sqlite3_close(raw);
    return shard;
  };
  ResultsDb main(FreshDbPath("handmade-main"));
  AddRun(main, "k0", "bf16", {}, {{"loss", 9}}, "done");
  // A column name is an identifier, never SQL that the merge runs (a recursive query would hang it).
  const std::string expr = edited("handmade-expr", "ALTER TABLE runs ADD COLUMN \"nosuchfn()\" TEXT");
  ExpectErrorWith([&] { MergeShard(main, expr); }, {expr, "has column 'nosuchfn()'"});
  // A view runs the shard author's query: only plain tables are read.
  const std::string view =
      edited("handmade-view", "ALTER TABLE metrics RENAME TO m2; CREATE VIEW metrics AS SELECT * FROM m2");
  ExpectErrorWith([&] { MergeShard(main, view); }, {view, "'metrics' is a view, not a table"});
  const std::string missing = edited("handmade-missing", "DROP TABLE kernel_timings");
  ExpectErrorWith([&] { MergeShard(main, missing); }, {missing, "no table 'kernel_timings'"});
  // 2^32 + 1 once read as version 1.
  const std::string wrapped = edited("handmade-version", "UPDATE schema_version SET version = 4294967297");
  ExpectErrorWith([&] { MergeShard(main, wrapped); }, {wrapped, "4294967297", "not a schema version"});
  // A real key merged once, and then a second merge failed on the UNIQUE key: types are checked.
  // (A hand-made runs table without the TEXT affinity keeps 1.5 a real.)
  const std::string real_key = edited("handmade-real-key",
                                      "ALTER TABLE runs RENAME TO r0; CREATE TABLE runs(id INTEGER PRIMARY KEY, key, "
                                      "experiment, started_at, ended_at, status); INSERT INTO runs SELECT id, 1.5, "
                                      "experiment, started_at, ended_at, status FROM r0");
  ExpectErrorWith([&] { MergeShard(main, real_key); }, {real_key, "column 'key' holds a value of type real"});
  // A terabyte shard whose header claims every page: refused by its size, before SQLite sizes its
  // page map by the claim (256 MiB for 2^31 pages).
  const std::string huge = MakeShard("handmade-huge", "k1", "done", 1.5);
  {
    const uint64_t page_size = std::stoull(Scalar(main, "PRAGMA page_size"));
    const uint64_t pages = (uint64_t{1} << 40) / page_size;
    std::fstream f(huge, std::ios::in | std::ios::out | std::ios::binary);
    const unsigned char count[4] = {static_cast<unsigned char>(pages >> 24), static_cast<unsigned char>(pages >> 16),
                                    static_cast<unsigned char>(pages >> 8), static_cast<unsigned char>(pages)};
    f.seekp(28);  // the header's page count (big-endian)
    f.write(reinterpret_cast<const char*>(count), 4);
  }
  fs::resize_file(huge, uint64_t{1} << 40);  // sparse: no disk used
  ExpectErrorWith([&] { MergeShard(main, huge); }, {huge, "1099511627776 bytes", "1024 MiB"});
  fs::remove(huge);
  EXPECT_EQ(Count(main, "runs"), "1");
  EXPECT_EQ(Count(main, "metrics"), "1");
}

// The shard writer is crash-safe: publishing over an earlier attempt's shard, killed at random
// moments or stopped by a full disk, leaves the old shard or the complete new one, never a torn mix,
// and a full disk is one Error naming the shard with no partial file left behind.
std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// "old" or "new" by the run the shard at `path` holds; "torn: ..." when it is neither.
std::string WhichShard(const std::string& path) {
  try {
    const auto runs = ReadShardRuns(path);
    if (runs.size() == 1 && runs[0].key == "k-old") return "old";
    if (runs.size() == 40) return "new";
    return StrCat("torn: ", runs.size(), " runs");
  } catch (const Error& e) {
    return StrCat("torn: ", e.what());
  }
}

TEST(ShardCrashSafety, PublishKilledAtRandomMomentsOrOnAFullDiskKeepsOldOrNew) {
  const std::string shard = MakeShard("crash", "k-old", "failed", 1);
  const std::string dir = fs::path(shard).parent_path().string();
  const std::string work = FreshDbPath("crash-work");
  {
    ResultsDb db(work);
    db.Begin();
    for (int i = 0; i < 40; ++i) AddRun(db, StrCat("k", i), "rtn", {{"method.bits", "2"}}, {{"loss", i * 0.5}});
    db.Commit();
  }
  std::mt19937 rng(99);
  std::map<std::string, int> seen;
  for (int round = 0; round < 10; ++round) {
    const pid_t pid = ::fork();
    if (pid == 0) {  // publishes the new shard again and again until killed
      for (;;) PublishShard(work, shard);
    }
    ::usleep(std::uniform_int_distribution<int>(1000, 40000)(rng));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the publishing child exited by itself (status " << status << ")";
    const std::string which = WhichShard(shard);
    ASSERT_TRUE(which == "old" || which == "new") << "round " << round << ": " << which;
    ++seen[which];
    fs::remove(fs::path(dir) / ("." + fs::path(shard).filename().string() + ".partial"));  // the killed writer's
  }
  EXPECT_GT(seen["old"] + seen["new"], 0);

  // A full disk: the child's files may not grow past `limit` bytes (RLIMIT_FSIZE; the write fails
  // with EFBIG as it would with ENOSPC), at sizes from the first page to the last.
  fs::remove(shard);
  fs::copy_file(MakeShard("crash-old", "k-old", "failed", 1), shard);
  const auto full_size = [&] {
    const std::string probe = dir + "/probe.db";
    PublishShard(work, probe);
    const auto n = fs::file_size(probe);
    fs::remove(probe);
    return n;
  }();
  for (const uint64_t limit : {uint64_t{0}, uint64_t{512}, uint64_t{4096}, full_size / 2, full_size - 1}) {
    int pipe_fd[2];
    ASSERT_EQ(::pipe(pipe_fd), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(pipe_fd[0]);
      ::signal(SIGXFSZ, SIG_IGN);
      const rlimit lim{limit, limit};
      ::setrlimit(RLIMIT_FSIZE, &lim);
      std::string msg = "published";
      try {
        PublishShard(work, shard);
      } catch (const Error& e) {
        msg = e.what();
      }
      (void)!::write(pipe_fd[1], msg.data(), msg.size());
      ::_exit(0);
    }
    ::close(pipe_fd[1]);
    std::string msg;
    char buf[512];
    for (ssize_t n; (n = ::read(pipe_fd[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<size_t>(n));
    ::close(pipe_fd[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "limit " << limit << ": status " << status;
    EXPECT_NE(msg.find(shard), std::string::npos) << "limit " << limit << ": " << msg;
    EXPECT_EQ(WhichShard(shard), "old") << "limit " << limit << ": " << msg;
    EXPECT_EQ(FilesIn(dir), std::vector<std::string>{fs::path(shard).filename().string()})
        << "limit " << limit << ": a partial file was left";
  }
  PublishShard(work, shard);
  EXPECT_EQ(WhichShard(shard), "new");
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
