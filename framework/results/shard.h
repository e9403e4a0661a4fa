// Shard databases. A cluster task never writes the main results database (SQLite's WAL needs
// shared memory on one host, which NFS or Lustre cannot give): it records its run in a database
// of its own on local disk, publishes that as a shard file in the sweep's folder when it ends, and
// `qmoe results merge` folds shards into the main database.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "framework/results/results_db.h"

namespace qmoe {

// The largest shard file MergeShard and ReadShardRuns open: one run's database, per-expert metrics
// of the largest models included, is tens of MiB; a larger file is refused before SQLite reads it.
inline constexpr uint64_t kMaxShardBytes = uint64_t{1} << 30;

// Copies the database `work_db` into one self-contained file at `shard_path` (VACUUM INTO a
// hidden temporary name beside it, rollback journal, fsync, then rename), so a reader sees either
// no shard or a complete one, never a partial file.
void PublishShard(const std::string& work_db, const std::string& shard_path);

struct MergeCounts {
  int added = 0;      // runs new to the main database
  int replaced = 0;   // failed or interrupted runs replaced by a finished or later attempt
  int unchanged = 0;  // the main database already has this attempt, a later one, or a done run
  int running = 0;    // still running in the shard: left for a later merge
  MergeCounts& operator+=(const MergeCounts& o);
};

// Folds every run of the shard into `main` in one transaction (all of the shard or nothing), keyed
// by the run key, so merging twice changes nothing. A done run is never overwritten; a failed run
// is replaced by a done run or by a failed attempt that ended later. A missing, corrupt or foreign
// file, or a shard written by a newer schema, is one Error naming the shard; `main` is then unchanged
// and the shard is left in place.
MergeCounts MergeShard(ResultsDb& main, const std::string& shard_path);

// The shard files of `path`: the file itself, or the *.db files of every `shards` folder below it
// (hidden, partial files excluded), sorted by path.
std::vector<std::string> FindShards(const std::string& path);

struct MergeReport {
  MergeCounts counts;
  int shards = 0;                   // shards merged
  std::vector<std::string> errors;  // one message per shard that could not be merged
  std::string Summary(const std::string& db_path) const;  // "merged 6 shards into ...: 6 added, ..."
};
// MergeShard for each shard: a bad shard becomes one entry of `errors`; the others still merge.
MergeReport MergeShards(ResultsDb& main, const std::vector<std::string>& shards);

struct ShardRun {
  std::string key, status, error, ended_at;
};
// The runs recorded in a shard (read-only; the same checks and errors as MergeShard).
std::vector<ShardRun> ReadShardRuns(const std::string& shard_path);

}  // namespace qmoe
