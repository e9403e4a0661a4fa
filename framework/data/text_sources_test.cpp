// C4 shards and RedPajama-style JSON lines as document streams and validation domains, on files
// written here (gzip through zlib, as the real shards are).
#include "framework/data/text_sources.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "framework/core/error.h"
#include "framework/data/samples.h"

namespace qmoe::data {
namespace {
namespace fs = std::filesystem;

class TextSources : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qmoe_text_sources_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void WriteGz(const fs::path& p, const std::string& content) {
    gzFile f = gzopen(p.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, content.data(), static_cast<unsigned>(content.size())), int(content.size()));
    gzclose(f);
  }
  static std::vector<Document> All(DocumentStream& s) {
    std::vector<Document> out;
    for (Document d; s.Next(d);) out.push_back(d);
    return out;
  }
  fs::path dir_;
};

TEST_F(TextSources, C4ShardsInOrderWithTextField) {
  // Written out of order; a train shard and a stray file beside them are not validation shards.
  WriteGz(dir_ / "c4-validation.00001-of-00008.json.gz", "{\"text\": \"third\", \"url\": \"u\"}\n");
  WriteGz(dir_ / "c4-validation.00000-of-00008.json.gz",
          "{\"text\": \"first doc\", \"timestamp\": \"t\"}\n\n{\"text\": \"second\"}\n");
  WriteGz(dir_ / "c4-train.00000-of-01024.json.gz", "{\"text\": \"train doc\"}\n");
  std::ofstream(dir_ / "notes.txt") << "x";
  auto docs = All(*C4Stream(dir_.string(), "validation"));
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].text, "first doc");
  EXPECT_EQ(docs[1].text, "second");
  EXPECT_EQ(docs[2].text, "third");
  EXPECT_EQ(docs[1].id, "c4-validation.00000-of-00008.json.gz:3");
  EXPECT_EQ(docs[0].domain, "c4");
  auto train = All(*C4Stream(dir_.string(), "train"));
  ASSERT_EQ(train.size(), 1u);
  EXPECT_EQ(train[0].text, "train doc");
}

TEST_F(TextSources, ErrorsNameFileAndLine) {
  WriteGz(dir_ / "c4-validation.00000-of-00008.json.gz", "{\"text\": \"ok\"}\n{\"txt\": \"no text\"}\n");
  auto s = C4Stream(dir_.string(), "validation");
  Document d;
  ASSERT_TRUE(s->Next(d));
  try {
    s->Next(d);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("c4-validation.00000-of-00008.json.gz:2"), std::string::npos) << e.what();
  }
  // A truncated gzip file is an error, not a silent end.
  std::string bytes;
  {
    WriteGz(dir_ / "full.gz", std::string(100000, 'a') + "\n");
    std::ifstream in(dir_ / "full.gz", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  fs::create_directories(dir_ / "cut");
  std::ofstream(dir_ / "cut" / "c4-validation.00000-of-00008.json.gz", std::ios::binary)
      << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW(All(*C4Stream((dir_ / "cut").string(), "validation")), Error);
  EXPECT_THROW(C4Stream((dir_ / "empty").string(), "validation"), Error);
  EXPECT_THROW(C4Stream("", "validation"), Error);
}

TEST_F(TextSources, RedPajamaDomainsFromMetaStringOrObject) {
  EXPECT_TRUE(RedPajamaDomainMatches("arxiv", "{'arxiv_id': '1234', 'source': 'arxiv'}"));
  EXPECT_TRUE(RedPajamaDomainMatches("github", "{'repo_name': 'x', 'source': 'github'}"));
  EXPECT_FALSE(RedPajamaDomainMatches("github", "{'source': 'stackexchange'}"));
  EXPECT_TRUE(RedPajamaDomainMatches("wikipedia", "{'url': 'https://en.wikipedia.org/wiki/X', 'language': 'en'}"));
  EXPECT_TRUE(RedPajamaDomainMatches("stackexchange", "{\"source\":\"stackexchange\"}"));
  // Plain jsonl and gzip both read; files in name order; meta as a string or as an object.
  std::ofstream(dir_ / "a_sample.jsonl") << "{\"text\": \"gh1\", \"meta\": \"{'source': 'github'}\"}\n"
                                         << "{\"text\": \"se1\", \"meta\": {\"source\": \"stackexchange\"}}\n";
  WriteGz(dir_ / "b_sample.jsonl.gz", "{\"text\": \"gh2\", \"meta\": {\"source\": \"github\"}}\n"
                                      "{\"text\": \"ax\", \"meta\": \"{'arxiv_id': '1'}\"}\n");
  auto gh = All(*RedPajamaStream(dir_.string(), "github"));
  ASSERT_EQ(gh.size(), 2u);
  EXPECT_EQ(gh[0].text, "gh1");
  EXPECT_EQ(gh[1].text, "gh2");
  EXPECT_EQ(gh[1].domain, "github");
  EXPECT_EQ(All(*RedPajamaStream(dir_.string(), "arxiv")).size(), 1u);
  EXPECT_EQ(All(*RedPajamaStream((dir_ / "a_sample.jsonl").string(), "stackexchange")).size(), 1u);
  std::ofstream(dir_ / "c_sample.jsonl") << "{\"text\": \"no meta\"}\n";
  EXPECT_THROW(All(*RedPajamaStream(dir_.string(), "book")), Error);
}

TEST_F(TextSources, ValidationDomainsFromC4AndRedPajama) {
  std::string c4, rp;
  for (int i = 0; i < 6; ++i) {
    const std::string text = "Document number " + std::to_string(i) + " has a few words in it.";
    c4 += "{\"text\": \"" + text + "\"}\n";
    rp += "{\"text\": \"" + text + "\", \"meta\": \"{'source': '" + (i % 2 ? "github" : "book") + "'}\"}\n";
  }
  c4 += "{\"text\": \"" + std::string(3000, 'x') + " end.\"}\n";  // too long for max_tokens
  WriteGz(dir_ / "c4-validation.00000-of-00008.json.gz", c4);
  WriteGz(dir_ / "rp.jsonl.gz", rp);
  const std::string root = QMOE_SOURCE_DIR;
  DataParams p;
  Tokenizer tok = LoadTokenizer(p, root);
  p.c4_dir = dir_.string();
  p.redpajama_dir = (dir_ / "rp.jsonl.gz").string();
  p.validation_domains = "c4,github";
  p.n_validation_per_domain = 3;
  p.long_documents = "skip";
  p.max_tokens = 64;
  auto sets = BuildValidationSets(p, tok, root);
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0].name, "validation/c4");
  EXPECT_EQ(sets[0].samples.size(), 3u);
  EXPECT_EQ(sets[0].samples[0].doc_id, "c4-validation.00000-of-00008.json.gz:1");
  EXPECT_EQ(sets[1].samples[2].doc_id, "rp.jsonl.gz:6");  // github = odd documents
  EXPECT_EQ(sets[0].protocol_id, "sc-d0.15-m3-L64-skip-v1-seed0");
  // skip: the long document is skipped whole, never cut (so 7 documents give 6 samples at most).
  p.n_validation_per_domain = 7;
  p.validation_domains = "c4";
  EXPECT_THROW(BuildValidationSets(p, tok, root), Error);
  p.long_documents = "chunk";
  EXPECT_EQ(BuildValidationSets(p, tok, root)[0].samples.size(), 7u);
}

}  // namespace
}  // namespace qmoe::data
