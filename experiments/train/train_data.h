// The training stream: the train split of the chosen domains, tokenized and cut into chunks of at
// most max_tokens (chunking.h, as evaluation), reshuffled every epoch and span-corrupted with a
// fresh mask per (epoch, chunk). A batch is a pure function of the cursor (epoch, position) and
// the seed, so a checkpoint that stores the cursor resumes the exact same sample stream.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "framework/data/samples.h"
#include "framework/data/span_corruption.h"
#include "framework/data/tokenizer.h"

namespace qmoe {

struct TrainCursor {
  int64_t epoch = 0;
  int64_t position = 0;  // index into the epoch's permutation
};

struct TrainBatch {
  std::vector<std::vector<int64_t>> encoder, decoder;
  int64_t tokens = 0;  // encoder + decoder tokens (no padding)
};

class TrainStream {
 public:
  // Chunks of every document of `docs`, in order.
  TrainStream(std::vector<std::vector<int32_t>> chunks, const data::Tokenizer& tok, const data::DataParams& dp,
              uint64_t seed);
  // Reads <corpus_dir>/cache/splits/<domain>.train.jsonl for each domain (interleaved round-robin
  // by document) and chunks them. Needs scripts/fetch_corpora.sh.
  static std::vector<std::vector<int32_t>> LoadChunks(const std::string& repo_root, const data::DataParams& dp,
                                                      const std::string& domains, const data::Tokenizer& tok,
                                                      int64_t max_tokens, int64_t max_docs = -1);

  // Samples from `cur` on until their encoder + decoder tokens reach batch_tokens (at least one);
  // advances the cursor, wrapping into the next epoch.
  TrainBatch Next(TrainCursor& cur, int64_t batch_tokens) const;
  // The span-corrupted sample at `position` of `epoch`.
  data::CorruptedSample SampleAt(int64_t epoch, int64_t position) const;

  int64_t num_chunks() const { return static_cast<int64_t>(chunks_.size()); }
  int64_t num_tokens() const;

 private:
  const std::vector<int64_t>& Permutation(int64_t epoch) const;

  std::vector<std::vector<int32_t>> chunks_;
  data::SpanCorruptionConfig sc_;
  uint64_t seed_;
  mutable int64_t perm_epoch_ = -1;
  mutable std::vector<int64_t> perm_;
};

}  // namespace qmoe
