// Calibration and validation sample sets (docs/method.md#calibration-and-validation-data): tokenize
// documents (+EOS), cut long ones into <= max_tokens pieces (chunking.h), filter, span-corrupt with a
// per-set seeded numpy-legacy RNG, and take the first N that pass, in order. Also the premask flags.
// A run's replicate seed (the top-level `seed`) draws the calibration documents and their noise;
// the validation sets are fixed by data.seed, so every replicate is measured on the same samples.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "framework/core/params.h"
#include "framework/data/corpus.h"
#include "framework/data/text_sources.h"
#include "framework/data/tokenizer.h"

namespace qmoe::data {

// The `data` config section (configs/data/corpus.yaml). Names reach disk: never rename.
struct DataParams {
  std::string corpus_dir = "data";  // holds valid/, tokenizer/, cache/splits/
  std::string tokenizer = "data/tokenizer/spiece.model";
  std::string calibration_domains = "sotu,brown,austen,kjv,fortunes,pydocs";
  std::string validation_domains = "sotu,brown,austen,kjv,fortunes,pydocs";
  int64_t n_calibration = 2048;
  int64_t n_validation_per_domain = 128;
  int64_t max_tokens = 568;
  int64_t min_tokens = 2;
  double noise_density = 0.15;
  double mean_span = 3.0;
  int64_t seed = 0;
  bool mask_special = true;
  int64_t num_sentinels = 100;
  std::string c4_dir = "";         // folder of c4-{train,validation}.*.json.gz: domain `c4`
  std::string redpajama_dir = "";  // RedPajama-style JSON lines: domains arxiv, github, ...
  std::string long_documents = "chunk";  // chunk (shipped corpora) or skip (C4's rule)

  template <class V>
  void Visit(V&& v) {
    v(corpus_dir, "corpus_dir", "folder with valid/<domain>.jsonl and cache/splits/ (relative to the repo root)");
    v(tokenizer, "tokenizer", "SentencePiece .model file (relative to the repo root)");
    v(calibration_domains, "calibration_domains", "comma-separated domains whose calibration split is interleaved");
    v(validation_domains, "validation_domains", "comma-separated domains, one validation set each");
    v(n_calibration, "n_calibration", "calibration samples: the first N chunks that pass the filter",
      Range{1, 1e7});
    v(n_validation_per_domain, "n_validation_per_domain", "validation samples per domain", Range{1, 1e6});
    v(max_tokens, "max_tokens", "longest sample in tokens incl. EOS (C4 filter: 568)", Range{2, 1e6});
    v(min_tokens, "min_tokens", "shortest sample in tokens incl. EOS", Range{2, 1e6});
    v(noise_density, "noise_density", "span corruption: fraction of tokens masked", Range{0.001, 0.999});
    v(mean_span, "mean_span", "span corruption: mean noise span length", Range{1, 1000});
    v(seed, "seed", "numpy-legacy seed, reset before each sample set", Range{0, 4294967295.0});
    v(mask_special, "mask_special", "premask sentinel positions out of the Hessians (false: Table 2 ablation)");
    v(num_sentinels, "num_sentinels", "T5 sentinels appended to the tokenizer", Range{1, 1000});
    v(c4_dir, "c4_dir",
      "folder with C4 shards c4-train.*.json.gz / c4-validation.*.json.gz; makes `c4` a calibration and "
      "validation domain ('' = none)");
    v(redpajama_dir, "redpajama_dir",
      "RedPajama-style JSON lines (a file, or a folder of .jsonl/.jsonl.gz): validation domains arxiv, "
      "wikipedia, github, stackexchange or any meta source ('' = none)");
    v(long_documents, "long_documents",
      "documents longer than max_tokens: chunk (cut at sentence ends, the shipped corpora) or skip (C4's rule, "
      "as the paper)", Choices{{"chunk", "skip"}});
  }
};

struct Sample {
  std::string doc_id;  // source document id
  int32_t chunk = 0;   // index of the piece within its document
  std::string domain;
  std::vector<int32_t> encoder;
  std::vector<int32_t> decoder;
  // 1 = the position's activation enters the Hessians (docs/method.md#premasking); all 1 without mask_special.
  std::vector<uint8_t> encoder_premask;
  std::vector<uint8_t> decoder_premask;
};

struct SampleSet {
  std::string name;         // "calibration" or "validation/<domain>"
  std::string protocol_id;  // ProtocolId(params)
  std::vector<Sample> samples;
  int64_t documents_used = 0;  // documents opened until N samples were found
  int64_t chunks_skipped = 0;  // pieces rejected by the length filter
};

// e.g. "sc-d0.15-m3-L568-chunked-v1-seed0": everything that fixes the samples' tokens and masks.
std::string ProtocolId(const DataParams& p);

// Encoder: exclude sentinel ids (ids >= first sentinel position, i.e. tok.IsSentinel). EOS stays.
std::vector<uint8_t> EncoderPremask(std::span<const int32_t> encoder, const Tokenizer& tok, bool mask_special);
// Decoder: exclude t when token t+1 is a sentinel, and always the last position.
std::vector<uint8_t> DecoderPremask(std::span<const int32_t> decoder, const Tokenizer& tok, bool mask_special);

// Samples from `docs` in order: chunks (or, with long_documents=skip, the whole document), filter
// min_tokens <= len <= max_tokens, span corruption with a fresh NumpyLegacyRng(seed). Stops after n
// samples; fewer when the documents run out.
SampleSet BuildSampleSet(const std::vector<Document>& docs, const Tokenizer& tok, const DataParams& p, int64_t n,
                         const std::string& name);
SampleSet BuildSampleSet(DocumentStream& docs, const Tokenizer& tok, const DataParams& p, int64_t n,
                         const std::string& name);

// Round-robin interleaving of the domains' calibration splits, so the first N samples mix all
// domains (needs scripts/fetch_corpora.sh: data/cache/; domain `c4` streams the c4-train shards of
// data.c4_dir in order instead). Replicate seed 0 keeps each domain's document order and
// span-corrupts with data.seed (the reference samples); any other seed shuffles each of our domains'
// documents first (a different subset, in a different order; c4 keeps its order) and span-corrupts
// with ReplicateSeed(data.seed, seed).
// Fails with an Error when fewer than n_calibration samples exist, unless allow_fewer (then every
// sample the split yields is returned).
SampleSet BuildCalibrationSet(const DataParams& p, const Tokenizer& tok, const std::string& repo_root,
                              bool allow_fewer = false, int64_t replicate_seed = 0);
// How many calibration samples the split yields, counting no further than `limit` (cheap when the
// limit is small): the filter does not depend on the seed.
int64_t CountCalibrationSamples(const DataParams& p, const Tokenizer& tok, const std::string& repo_root,
                                int64_t limit);
// The numpy-legacy seed of replicate `replicate_seed` of a sample set seeded with `base`: `base`
// itself for replicate 0, else a splitmix64 mix of both (distinct replicates get unrelated streams).
uint32_t ReplicateSeed(int64_t base, int64_t replicate_seed);
// One set per validation domain, read from the committed data/valid/<domain>.jsonl, or for `c4`
// the c4-validation shards of data.c4_dir, or for any domain when data.redpajama_dir is set, the
// RedPajama documents of that domain (text_sources.h); the RNG is reseeded per domain, so a
// domain's masks do not depend on which other domains are listed.
std::vector<SampleSet> BuildValidationSets(const DataParams& p, const Tokenizer& tok, const std::string& repo_root);

// Tokenizer named by the params (path relative to repo_root unless absolute).
Tokenizer LoadTokenizer(const DataParams& p, const std::string& repo_root);

}  // namespace qmoe::data
