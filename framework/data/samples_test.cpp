// Chunking, the document split, premask rules and the calibration/validation sample sets.
#include "framework/data/samples.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "framework/core/error.h"
#include "framework/data/chunking.h"
#include "framework/data/span_corruption.h"

namespace qmoe::data {
namespace {

namespace fs = std::filesystem;
const std::string kRoot = QMOE_SOURCE_DIR;
const char* kDomains[] = {"sotu", "brown", "austen", "kjv", "fortunes", "pydocs"};

const Tokenizer& Tok() {
  static const Tokenizer tok = Tokenizer::Load(kRoot + "/data/tokenizer/spiece.model");
  return tok;
}

std::vector<Document> Valid(const std::string& domain) { return ReadDocuments(kRoot + "/data/valid/" + domain + ".jsonl"); }

TEST(Chunking, SplitSentences) {
  auto u = SplitSentences("One. Two! \"Three?\" Four\n\nFive (six.) 3.5 e.g.x Seven.");
  EXPECT_EQ(u, (std::vector<std::string_view>{"One.", "Two!", "\"Three?\"", "Four", "Five (six.)", "3.5 e.g.x Seven."}));
  EXPECT_TRUE(SplitSentences("  \n\n ").empty());
}

// Every piece is <= max_tokens and ends in EOS; the pieces without EOS concatenate to exactly
// the document's unit ids, which decode to the same text as encoding the document at once (no
// text lost or duplicated).
void CheckChunks(const std::string& text, int64_t max_tokens) {
  const auto chunks = ChunkDocument(Tok(), text, max_tokens);
  std::vector<int32_t> joined;
  for (const auto& c : chunks) {
    ASSERT_LE(static_cast<int64_t>(c.size()), max_tokens);
    ASSERT_GE(c.size(), 2u);
    ASSERT_EQ(c.back(), Tok().eos_id());
    joined.insert(joined.end(), c.begin(), c.end() - 1);
  }
  std::vector<int32_t> units;
  for (const auto& u : EncodeUnits(Tok(), text)) units.insert(units.end(), u.begin(), u.end());
  ASSERT_EQ(joined, units);
  ASSERT_EQ(Tok().Decode(joined), Tok().Decode(Tok().Encode(text)));
  ASSERT_GT(joined.size(), 0u);
}

TEST(Chunking, NeverExceedsLimitNeverLosesText) {
  size_t docs = 0;
  for (const char* d : kDomains) {
    for (const Document& doc : Valid(d)) {
      CheckChunks(doc.text, 568);
      ++docs;
    }
  }
  EXPECT_GT(docs, 1000u);
  // Small limits force sentences longer than the limit to be cut at token boundaries.
  const std::string text = Valid("sotu").front().text.substr(0, 20000);
  for (int64_t limit : {2, 3, 17, 64}) CheckChunks(text, limit);
  EXPECT_THROW(ChunkDocument(Tok(), text, 1), Error);
}

TEST(Chunking, CutsAtSentenceBoundaries) {
  // Three sentences that each fit but not together: pieces end exactly at sentence ends.
  const std::string a = "The first sentence is here.", b = "A second one follows it.", c = "And the third ends it.";
  const auto na = Tok().Encode(a).size(), nb = Tok().Encode(b).size();
  const auto chunks = ChunkDocument(Tok(), a + " " + b + "\n\n" + c, static_cast<int64_t>(na + nb + 1));
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(Tok().Decode(chunks[0]), a + " " + b);
  EXPECT_EQ(Tok().Decode(chunks[1]), c);
}

TEST(Split, DeterministicAndDisjoint) {
  // The committed validation files were split by scripts/corpora/build_corpora.py (Python
  // hashlib); the C++ rule must agree on every id.
  std::set<std::string> valid_ids;
  for (const char* d : kDomains) {
    for (const Document& doc : Valid(d)) {
      EXPECT_EQ(doc.split, "validation");
      EXPECT_EQ(SplitOf(doc.id), "validation") << doc.id;
      EXPECT_TRUE(valid_ids.insert(doc.id).second) << "duplicate id " << doc.id;
    }
  }
  EXPECT_EQ(SplitOf("kjv/0000-Ge001"), SplitOf("kjv/0000-Ge001"));
  // Roughly 80/10/10 over many synthetic ids (binomial: 5 sigma of 20000 draws is < 1.1%).
  std::map<std::string, int> counts;
  for (int i = 0; i < 20000; ++i) counts[SplitOf("synthetic/" + std::to_string(i))]++;
  EXPECT_NEAR(counts["train"] / 20000.0, 0.8, 0.015);
  EXPECT_NEAR(counts["calibration"] / 20000.0, 0.1, 0.011);
  EXPECT_NEAR(counts["validation"] / 20000.0, 0.1, 0.011);
  // With the fetched corpora: every split file holds only its split, and ids never repeat.
  const fs::path splits = kRoot + "/data/cache/splits";
  if (!fs::exists(splits)) GTEST_SKIP() << "data/cache/splits missing: run scripts/fetch_corpora.sh for the full check";
  std::set<std::string> all;
  for (const char* d : kDomains) {
    for (const char* s : {"train", "calibration", "validation"}) {
      for (const Document& doc : ReadDocuments((splits / (std::string(d) + "." + s + ".jsonl")).string())) {
        ASSERT_EQ(SplitOf(doc.id), s) << doc.id;
        ASSERT_TRUE(all.insert(doc.id).second) << doc.id << " appears in two splits";
      }
    }
  }
  for (const auto& id : valid_ids) EXPECT_TRUE(all.count(id)) << id << " committed but not in the cache";
}

TEST(Premask, Rules) {
  const int32_t s0 = Tok().SentinelId(0), s1 = Tok().SentinelId(1), s2 = Tok().SentinelId(2);
  const std::vector<int32_t> enc = {50, s0, 60, s1, 1};
  const std::vector<int32_t> dec = {0, s0, 70, 71, s1, 72, s2};
  EXPECT_EQ(EncoderPremask(enc, Tok(), true), (std::vector<uint8_t>{1, 0, 1, 0, 1}));  // EOS stays
  // t=0 predicts s0 (out), t=1,2 predict text, t=3 predicts s1 (out), t=4 text, t=5 predicts s2 (out), last out.
  EXPECT_EQ(DecoderPremask(dec, Tok(), true), (std::vector<uint8_t>{0, 1, 1, 0, 1, 0, 0}));
  EXPECT_EQ(EncoderPremask(enc, Tok(), false), std::vector<uint8_t>(5, 1));
  EXPECT_EQ(DecoderPremask(dec, Tok(), false), std::vector<uint8_t>(7, 1));
  EXPECT_EQ(EncoderPremask(std::vector<int32_t>{7999, 8000}, Tok(), true), (std::vector<uint8_t>{1, 0}));
}

TEST(Samples, ValidationSetsFromCommittedData) {
  DataParams p;
  const auto sets = BuildValidationSets(p, Tok(), kRoot);
  ASSERT_EQ(sets.size(), 6u);
  for (const SampleSet& set : sets) {
    ASSERT_EQ(set.samples.size(), 128u) << set.name;
    EXPECT_EQ(set.protocol_id, "sc-d0.15-m3-L568-chunked-v1-seed0");
    for (const Sample& s : set.samples) {
      // Original length L: encoder = L - noise + spans + 1, decoder = spans + noise + 2.
      const int64_t spans = std::count_if(s.encoder.begin(), s.encoder.end(), [](int32_t id) { return Tok().IsSentinel(id); });
      const int64_t noise = static_cast<int64_t>(s.decoder.size()) - spans - 2;
      const int64_t L = static_cast<int64_t>(s.encoder.size()) - 1 - spans + noise;
      EXPECT_LE(L, 568);
      EXPECT_EQ(CountNoise(L, 0.15, 3.0).noise, noise);
      EXPECT_EQ(s.encoder_premask.size(), s.encoder.size());
      EXPECT_EQ(s.decoder_premask.size(), s.decoder.size());
    }
  }
  // Masks do not depend on N (seed reset per set) and builds are deterministic.
  DataParams small = p;
  small.n_validation_per_domain = 40;
  small.validation_domains = "kjv";
  const auto kjv = BuildValidationSets(small, Tok(), kRoot);
  for (size_t i = 0; i < 40; ++i) {
    EXPECT_EQ(kjv[0].samples[i].encoder, sets[3].samples[i].encoder);
    EXPECT_EQ(kjv[0].samples[i].decoder, sets[3].samples[i].decoder);
  }
  DataParams other_seed = small;
  other_seed.seed = 1;
  EXPECT_NE(BuildValidationSets(other_seed, Tok(), kRoot)[0].samples[0].decoder, kjv[0].samples[0].decoder);
}

TEST(Samples, FilterSkipsWithoutAdvancingRng) {
  // Pieces rejected by the filter (chunking keeps every piece <= max_tokens, so min_tokens does
  // the rejecting here) do not advance the RNG: the surviving samples equal those built from
  // the surviving documents alone.
  std::vector<Document> docs = {{"t/a", "t", "validation", "Short."},
                                {"t/b", "t", "validation", "A somewhat longer document with more words in it than the first."},
                                {"t/c", "t", "validation", "Another long enough document to pass the length filter here."}};
  DataParams p;
  p.min_tokens = 6;
  const SampleSet with = BuildSampleSet(docs, Tok(), p, 10, "t");
  ASSERT_EQ(with.samples.size(), 2u);
  EXPECT_EQ(with.chunks_skipped, 1);
  const SampleSet without = BuildSampleSet({docs[1], docs[2]}, Tok(), p, 10, "t");
  EXPECT_EQ(with.samples[0].decoder, without.samples[0].decoder);
  EXPECT_EQ(with.samples[1].decoder, without.samples[1].decoder);
}

TEST(Samples, ParamsAndErrors) {
  const auto specs = SpecsOf<DataParams>();
  std::set<std::string> names;
  for (const auto& s : specs) names.insert(s.name);
  for (const char* n : {"corpus_dir", "tokenizer", "n_calibration", "n_validation_per_domain", "max_tokens", "seed", "mask_special"})
    EXPECT_TRUE(names.count(n)) << n;
  DataParams p;
  p.validation_domains = "kjv,nosuchdomain";
  try {
    BuildValidationSets(p, Tok(), kRoot);
    ADD_FAILURE() << "unknown domain accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nosuchdomain"), std::string::npos) << e.what();
  }
  p = DataParams{};
  p.n_validation_per_domain = 1000000;
  p.validation_domains = "fortunes";
  EXPECT_THROW(BuildValidationSets(p, Tok(), kRoot), Error);
}

TEST(Samples, CalibrationSetInterleavesDomains) {
  if (!fs::exists(kRoot + "/data/cache/splits")) GTEST_SKIP() << "run scripts/fetch_corpora.sh first";
  DataParams p;
  p.n_calibration = 600;
  const SampleSet set = BuildCalibrationSet(p, Tok(), kRoot);
  ASSERT_EQ(set.samples.size(), 600u);
  std::set<std::string> domains;
  for (size_t i = 0; i < 60; ++i) domains.insert(set.samples[i].domain);
  EXPECT_EQ(domains.size(), 6u) << "the first samples should already mix all domains";
  for (const Sample& s : set.samples) EXPECT_EQ(SplitOf(s.doc_id), "calibration");
}

// Replicate seeds: seed 0 is the reference set (each domain's documents in file order, noise from
// data.seed); other seeds draw another subset and order and other noise, reproducibly.
TEST(Samples, ReplicateSeedsDrawDifferentCalibrationSets) {
  DataParams p;
  p.n_calibration = 120;
  std::vector<std::vector<Document>> per_domain;
  for (const char* d : kDomains) per_domain.push_back(ReadDocuments(kRoot + "/data/calibration/" + d + ".jsonl"));
  std::vector<Document> interleaved;
  for (size_t i = 0;; ++i) {
    bool any = false;
    for (auto& ds : per_domain)
      if (i < ds.size()) interleaved.push_back(ds[i]), any = true;
    if (!any) break;
  }
  const SampleSet reference = BuildSampleSet(interleaved, Tok(), p, p.n_calibration, "calibration");
  auto ids = [](const SampleSet& s) {
    std::vector<std::string> v;
    for (const auto& x : s.samples) v.push_back(x.doc_id + "#" + std::to_string(x.chunk));
    return v;
  };
  const SampleSet s0 = BuildCalibrationSet(p, Tok(), kRoot, false, 0);
  const SampleSet s1 = BuildCalibrationSet(p, Tok(), kRoot, false, 1);
  const SampleSet s1b = BuildCalibrationSet(p, Tok(), kRoot, false, 1);
  const SampleSet s2 = BuildCalibrationSet(p, Tok(), kRoot, false, 2);
  ASSERT_EQ(s0.samples.size(), 120u);
  ASSERT_EQ(s1.samples.size(), 120u);
  EXPECT_EQ(ids(s0), ids(reference));
  for (size_t i = 0; i < s0.samples.size(); ++i) EXPECT_EQ(s0.samples[i].encoder, reference.samples[i].encoder);
  EXPECT_EQ(ids(s1), ids(s1b));  // reproducible
  for (size_t i = 0; i < s1.samples.size(); ++i) EXPECT_EQ(s1.samples[i].encoder, s1b.samples[i].encoder);
  EXPECT_NE(ids(s1), ids(s0));
  EXPECT_NE(ids(s2), ids(s1));
  // A different subset, not only another order.
  const auto a = ids(s0), b = ids(s1);
  EXPECT_NE(std::set<std::string>(a.begin(), a.end()), std::set<std::string>(b.begin(), b.end()));
  EXPECT_EQ(ReplicateSeed(7, 0), 7u);
  EXPECT_NE(ReplicateSeed(7, 1), ReplicateSeed(7, 2));
  EXPECT_NE(ReplicateSeed(7, 1), 7u);
}

// The same chunk, corrupted under two replicate seeds, gets different noise.
TEST(Samples, ReplicateSeedsDrawDifferentNoise) {
  DataParams p;
  p.n_calibration = 300;
  const SampleSet s0 = BuildCalibrationSet(p, Tok(), kRoot, false, 0);
  const SampleSet s1 = BuildCalibrationSet(p, Tok(), kRoot, false, 1);
  std::map<std::string, const Sample*> by_id;
  for (const auto& x : s0.samples) by_id[x.doc_id + "#" + std::to_string(x.chunk)] = &x;
  int shared = 0, differ = 0;
  for (const auto& x : s1.samples) {
    auto it = by_id.find(x.doc_id + "#" + std::to_string(x.chunk));
    if (it == by_id.end() || x.encoder.size() < 20) continue;
    ++shared;
    differ += x.encoder != it->second->encoder;
  }
  ASSERT_GT(shared, 5) << "too few chunks in both sets to compare";
  EXPECT_GT(differ, shared / 2);
}

TEST(Samples, CountCalibrationSamplesStopsAtTheLimit) {
  DataParams p;
  EXPECT_EQ(CountCalibrationSamples(p, Tok(), kRoot, 50), 50);
  p.n_calibration = 1000000;
  const int64_t all = static_cast<int64_t>(BuildCalibrationSet(p, Tok(), kRoot, /*allow_fewer=*/true).samples.size());
  EXPECT_EQ(CountCalibrationSamples(p, Tok(), kRoot, all + 1), all);
  EXPECT_THROW(BuildCalibrationSet(p, Tok(), kRoot), Error);
}

}  // namespace
}  // namespace qmoe::data
