#include "framework/data/samples.h"

#include <filesystem>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/data/chunking.h"
#include "framework/data/span_corruption.h"

namespace qmoe::data {
namespace {

std::string Resolve(const std::string& root, const std::string& path) {
  return std::filesystem::path(path).is_absolute() ? path : (std::filesystem::path(root) / path).string();
}

std::vector<std::string> Domains(const std::string& list, const char* key) {
  std::vector<std::string> out;
  for (const std::string& d : Split(list, ',')) {
    std::string t = Trim(d);
    if (!t.empty()) out.push_back(t);
  }
  QMOE_CHECK(!out.empty(), "data.", key, ": expected a comma-separated list of domains, got '", list, "'");
  return out;
}

std::string FormatNumber(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

}  // namespace

std::string ProtocolId(const DataParams& p) {
  return StrCat("sc-d", FormatNumber(p.noise_density), "-m", FormatNumber(p.mean_span), "-L", p.max_tokens,
                p.min_tokens != 2 ? StrCat("-min", p.min_tokens) : std::string(),
                p.long_documents == "skip" ? "-skip-v1-seed" : "-chunked-v1-seed", p.seed);
}

std::vector<uint8_t> EncoderPremask(std::span<const int32_t> encoder, const Tokenizer& tok, bool mask_special) {
  std::vector<uint8_t> m(encoder.size(), 1);
  if (!mask_special) return m;
  for (size_t t = 0; t < encoder.size(); ++t) m[t] = tok.IsSentinel(encoder[t]) ? 0 : 1;
  return m;
}

std::vector<uint8_t> DecoderPremask(std::span<const int32_t> decoder, const Tokenizer& tok, bool mask_special) {
  std::vector<uint8_t> m(decoder.size(), 1);
  if (!mask_special) return m;
  for (size_t t = 0; t < decoder.size(); ++t) {
    m[t] = (t + 1 == decoder.size() || tok.IsSentinel(decoder[t + 1])) ? 0 : 1;
  }
  return m;
}

SampleSet BuildSampleSet(const std::vector<Document>& docs, const Tokenizer& tok, const DataParams& p, int64_t n,
                         const std::string& name) {
  auto stream = VectorStream(docs);
  return BuildSampleSet(*stream, tok, p, n, name);
}

SampleSet BuildSampleSet(DocumentStream& docs, const Tokenizer& tok, const DataParams& p, int64_t n,
                         const std::string& name) {
  QMOE_CHECK(p.max_tokens >= p.min_tokens, "data.max_tokens (", p.max_tokens, ") < data.min_tokens (", p.min_tokens, ")");
  SampleSet set;
  set.name = name;
  set.protocol_id = ProtocolId(p);
  SpanCorruptionConfig cfg;
  cfg.noise_density = p.noise_density;
  cfg.mean_span = p.mean_span;
  cfg.first_sentinel_id = tok.first_sentinel_id();
  cfg.num_sentinels = tok.num_sentinels();
  cfg.eos_id = tok.eos_id();
  cfg.decoder_start_id = tok.pad_id();
  NumpyLegacyRng rng(static_cast<uint32_t>(p.seed));  // reseeded per set, as the reference does per split
  Document doc;
  while (static_cast<int64_t>(set.samples.size()) < n && docs.Next(doc)) {
    ++set.documents_used;
    std::vector<std::vector<int32_t>> chunks;
    if (p.long_documents == "skip") {  // C4's rule: the whole document + EOS, skipped when too long
      chunks.push_back(tok.Encode(doc.text));
      chunks.back().push_back(tok.eos_id());
    } else {
      chunks = ChunkDocument(tok, doc.text, p.max_tokens);
    }
    for (size_t c = 0; c < chunks.size() && static_cast<int64_t>(set.samples.size()) < n; ++c) {
      const auto len = static_cast<int64_t>(chunks[c].size());
      if (len < p.min_tokens || len > p.max_tokens) {  // the filter; the RNG does not advance
        ++set.chunks_skipped;
        continue;
      }
      CorruptedSample cs = SpanCorrupt(chunks[c], cfg, rng);
      Sample s;
      s.doc_id = doc.id;
      s.chunk = static_cast<int32_t>(c);
      s.domain = doc.domain;
      s.encoder_premask = EncoderPremask(cs.encoder, tok, p.mask_special);
      s.decoder_premask = DecoderPremask(cs.decoder, tok, p.mask_special);
      s.encoder = std::move(cs.encoder);
      s.decoder = std::move(cs.decoder);
      set.samples.push_back(std::move(s));
    }
  }
  return set;
}

Tokenizer LoadTokenizer(const DataParams& p, const std::string& repo_root) {
  return Tokenizer::Load(Resolve(repo_root, p.tokenizer), static_cast<int>(p.num_sentinels));
}

uint32_t ReplicateSeed(int64_t base, int64_t replicate_seed) {
  if (replicate_seed == 0) return static_cast<uint32_t>(base);
  uint64_t z = static_cast<uint64_t>(base) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(replicate_seed);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;  // splitmix64 finalizer
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<uint32_t>(z ^ (z >> 31));
}

namespace {

// The calibration documents in the order samples are taken from them: each domain's documents
// (our splits shuffled for replicate seeds != 0, each domain by its own stream; `c4` streams the
// c4-train shards of data.c4_dir in shard order), interleaved round-robin.
std::unique_ptr<DocumentStream> CalibrationDocuments(const DataParams& p, const std::string& repo_root,
                                                     int64_t replicate_seed) {
  std::vector<std::unique_ptr<DocumentStream>> per_domain;
  int64_t k = 0;
  for (const std::string& d : Domains(p.calibration_domains, "calibration_domains")) {
    ++k;
    if (d == "c4") {
      per_domain.push_back(C4Stream(p.c4_dir, "train"));
      continue;
    }
    std::vector<Document> docs = ReadDocuments(Resolve(repo_root, p.corpus_dir + "/calibration/" + d + ".jsonl"));
    if (replicate_seed != 0) {
      NumpyLegacyRng rng(ReplicateSeed(0x5eed + k, replicate_seed));
      rng.Shuffle(std::span<Document>(docs));
    }
    per_domain.push_back(VectorStream(std::move(docs)));
  }
  return InterleavedStream(std::move(per_domain));
}

}  // namespace

int64_t CountCalibrationSamples(const DataParams& p, const Tokenizer& tok, const std::string& repo_root,
                                int64_t limit) {
  int64_t n = 0;
  auto docs = CalibrationDocuments(p, repo_root, 0);
  for (Document doc; docs->Next(doc);) {
    for (const auto& chunk : ChunkDocument(tok, doc.text, p.max_tokens)) {
      const auto len = static_cast<int64_t>(chunk.size());
      n += len >= p.min_tokens && len <= p.max_tokens;
      if (n >= limit) return n;
    }
  }
  return n;
}

SampleSet BuildCalibrationSet(const DataParams& p, const Tokenizer& tok, const std::string& repo_root,
                              bool allow_fewer, int64_t replicate_seed) {
  DataParams seeded = p;
  seeded.seed = ReplicateSeed(p.seed, replicate_seed);
  auto docs = CalibrationDocuments(p, repo_root, replicate_seed);
  SampleSet set = BuildSampleSet(*docs, tok, seeded, p.n_calibration, "calibration");
  QMOE_CHECK(allow_fewer || static_cast<int64_t>(set.samples.size()) == p.n_calibration, "data.n_calibration = ", p.n_calibration,
             " but the calibration split of [", p.calibration_domains, "] yields only ", set.samples.size(),
             " samples of <= ", p.max_tokens, " tokens");
  return set;
}

std::vector<SampleSet> BuildValidationSets(const DataParams& p, const Tokenizer& tok, const std::string& repo_root) {
  std::vector<SampleSet> sets;
  for (const std::string& d : Domains(p.validation_domains, "validation_domains")) {
    std::unique_ptr<DocumentStream> docs;
    std::string path;
    if (d == "c4") {
      docs = C4Stream(p.c4_dir, "validation"), path = p.c4_dir;
    } else if (!p.redpajama_dir.empty()) {
      docs = RedPajamaStream(p.redpajama_dir, d), path = p.redpajama_dir;
    } else {
      path = Resolve(repo_root, p.corpus_dir + "/valid/" + d + ".jsonl");
      QMOE_CHECK(std::filesystem::exists(path), "data.validation_domains: no validation file '", path,
                 "' for domain '", d, "' (real-text domains: c4 with data.c4_dir, RedPajama's with data.redpajama_dir)");
      docs = VectorStream(ReadDocuments(path));
    }
    SampleSet set = BuildSampleSet(*docs, tok, p, p.n_validation_per_domain, "validation/" + d);
    QMOE_CHECK(static_cast<int64_t>(set.samples.size()) == p.n_validation_per_domain, "data.n_validation_per_domain = ",
               p.n_validation_per_domain, " but ", path, " yields only ", set.samples.size(), " samples for domain '",
               d, "'");
    sets.push_back(std::move(set));
  }
  return sets;
}

}  // namespace qmoe::data
