#include "experiments/train/train_data.h"

#include <algorithm>
#include <filesystem>
#include <random>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/data/chunking.h"
#include "framework/data/corpus.h"

namespace qmoe {
namespace {

// splitmix64: decorrelates (seed, epoch, index) into one 32-bit numpy-legacy seed.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

TrainStream::TrainStream(std::vector<std::vector<int32_t>> chunks, const data::Tokenizer& tok,
                         const data::DataParams& dp, uint64_t seed)
    : chunks_(std::move(chunks)), seed_(seed) {
  QMOE_CHECK(!chunks_.empty(), "training data: no chunks (is the train split fetched? scripts/fetch_corpora.sh)");
  sc_.noise_density = dp.noise_density;
  sc_.mean_span = dp.mean_span;
  sc_.first_sentinel_id = tok.first_sentinel_id();
  sc_.num_sentinels = tok.num_sentinels();
  sc_.eos_id = tok.eos_id();
  sc_.decoder_start_id = 0;
}

std::vector<std::vector<int32_t>> TrainStream::LoadChunks(const std::string& repo_root, const data::DataParams& dp,
                                                          const std::string& domains, const data::Tokenizer& tok,
                                                          int64_t max_tokens, int64_t max_docs) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(dp.corpus_dir).is_absolute() ? fs::path(dp.corpus_dir) : fs::path(repo_root) / dp.corpus_dir;
  std::vector<std::vector<data::Document>> per_domain;
  for (const auto& d : Split(domains, ',')) {
    fs::path f = dir / "cache" / "splits" / (Trim(d) + ".train.jsonl");
    QMOE_CHECK(fs::exists(f), "training data: ", f.string(), " is missing; run scripts/fetch_corpora.sh");
    per_domain.push_back(data::ReadDocuments(f.string()));
  }
  std::vector<std::vector<int32_t>> chunks;
  int64_t docs = 0;
  for (size_t i = 0;; ++i) {  // round-robin by document, so every domain is in every stretch
    bool any = false;
    for (const auto& list : per_domain) {
      if (i >= list.size()) continue;
      any = true;
      if (max_docs >= 0 && docs >= max_docs) return chunks;
      ++docs;
      for (auto& c : data::ChunkDocument(tok, list[i].text, max_tokens))
        if (static_cast<int64_t>(c.size()) >= 2) chunks.push_back(std::move(c));
    }
    if (!any) break;
  }
  return chunks;
}

int64_t TrainStream::num_tokens() const {
  int64_t n = 0;
  for (const auto& c : chunks_) n += static_cast<int64_t>(c.size());
  return n;
}

const std::vector<int64_t>& TrainStream::Permutation(int64_t epoch) const {
  if (perm_epoch_ != epoch) {
    perm_.resize(chunks_.size());
    for (size_t i = 0; i < perm_.size(); ++i) perm_[i] = static_cast<int64_t>(i);
    // Our own Fisher-Yates on mt19937_64 (std::shuffle's algorithm is implementation-defined).
    std::mt19937_64 gen(Mix(seed_ * 1000003ull + static_cast<uint64_t>(epoch)));
    for (size_t i = perm_.size(); i-- > 1;) std::swap(perm_[i], perm_[gen() % (i + 1)]);
    perm_epoch_ = epoch;
  }
  return perm_;
}

data::CorruptedSample TrainStream::SampleAt(int64_t epoch, int64_t position) const {
  const int64_t idx = Permutation(epoch)[static_cast<size_t>(position)];
  data::NumpyLegacyRng rng(static_cast<uint32_t>(Mix(Mix(seed_ ^ 0x5eed) + static_cast<uint64_t>(epoch) * 0x10001ull +
                                                     static_cast<uint64_t>(idx))));
  return data::SpanCorrupt(chunks_[static_cast<size_t>(idx)], sc_, rng);
}

TrainBatch TrainStream::Next(TrainCursor& cur, int64_t batch_tokens) const {
  TrainBatch b;
  while (b.encoder.empty() || b.tokens < batch_tokens) {
    if (cur.position >= num_chunks()) cur.epoch++, cur.position = 0;
    data::CorruptedSample s = SampleAt(cur.epoch, cur.position++);
    b.tokens += static_cast<int64_t>(s.encoder.size() + s.decoder.size());
    b.encoder.emplace_back(s.encoder.begin(), s.encoder.end());
    b.decoder.emplace_back(s.decoder.begin(), s.decoder.end());
  }
  return b;
}

}  // namespace qmoe
