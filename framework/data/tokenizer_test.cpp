// The in-house tokenizer must give exactly the ids of `spm_encode --output_format=id`.
#include "framework/data/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/core/error.h"

namespace qmoe::data {
namespace {

namespace fs = std::filesystem;
const std::string kRoot = QMOE_SOURCE_DIR;
const std::string kModel = kRoot + "/data/tokenizer/spiece.model";

std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << "command failed: " << cmd;
  return out;
}

bool HaveTool(const std::string& tool) { return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0; }

// Lines of real text: every line of the committed validation split (all domains), capped per
// domain, plus edge cases for normalization, unknown characters and malformed UTF-8.
std::vector<std::string> TestLines(size_t per_domain) {
  std::vector<std::string> lines;
  for (const auto& e : fs::directory_iterator(kRoot + "/data/valid")) {
    std::ifstream f(e.path());
    std::string row;
    size_t taken = 0;
    while (taken < per_domain && std::getline(f, row)) {
      std::istringstream text(nlohmann::json::parse(row)["text"].get<std::string>());
      std::string line;
      while (taken < per_domain && std::getline(text, line)) {
        if (!line.empty()) lines.push_back(line), ++taken;
      }
    }
  }
  for (const char* s : {"  leading and   inner   spaces\t\ttabs  ", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ｶﾀｶﾅ", "ﬁ ligature ① ™ ½",
                        "emoji 🙂 and CJK 漢字 and Greek αβγ", "unknown run 漢字漢字 end", "\xC3\x28 bad \xFF utf8 \xE2\x82",
                        "x", " ", "a\u00A0b\u3000c", "café naïve Zürich", "\u200Bzero width\u200D joiner"})
    lines.emplace_back(s);
  return lines;
}

// Ids of each line from `spm_encode`, run as a subprocess.
std::vector<std::vector<int32_t>> SpmEncode(const std::string& model, const std::vector<std::string>& lines) {
  const std::string in = (fs::temp_directory_path() / ("qmoe_spm_in_" + std::to_string(getpid()))).string();
  {
    std::ofstream f(in, std::ios::binary);
    for (const auto& l : lines) f << l << "\n";
  }
  std::istringstream out(RunCommand("spm_encode --model=" + model + " --output_format=id < " + in));
  fs::remove(in);
  std::vector<std::vector<int32_t>> ids;
  std::string line;
  while (std::getline(out, line)) {
    std::istringstream ls(line);
    ids.emplace_back();
    int32_t v;
    while (ls >> v) ids.back().push_back(v);
  }
  return ids;
}

void ExpectSameAsSpm(const Tokenizer& tok, const std::string& model, const std::vector<std::string>& lines) {
  auto want = SpmEncode(model, lines);
  ASSERT_EQ(want.size(), lines.size()) << "spm_encode returned a different number of lines";
  size_t mismatches = 0, tokens = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto got = tok.Encode(lines[i]);
    tokens += got.size();
    if (got != want[i] && ++mismatches <= 5) {
      size_t k = 0;
      while (k < got.size() && k < want[i].size() && got[k] == want[i][k]) ++k;
      std::string ctx;  // the pieces around the first difference, ours vs spm's
      for (size_t j = k >= 3 ? k - 3 : 0; j < k + 4; ++j) {
        ctx += " [" + (j < got.size() ? tok.IdToPiece(got[j]) : "-") + " | " +
               (j < want[i].size() ? tok.IdToPiece(want[i][j]) : "-") + "]";
      }
      ADD_FAILURE() << "line " << i << " (" << lines[i].size() << " bytes) differs from spm_encode at token " << k
                    << ": ours | spm:" << ctx;
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << lines.size() << " lines";
  EXPECT_GT(tokens, lines.size());  // the comparison really covered text
}

TEST(Tokenizer, MatchesSpmEncodeOnCorpusText) {
  ASSERT_TRUE(HaveTool("spm_encode")) << "spm_encode missing: run scripts/setup.sh (Debian package sentencepiece)";
  Tokenizer tok = Tokenizer::Load(kModel);
  auto lines = TestLines(1000);
  ASSERT_GT(lines.size(), 3000u);
  ExpectSameAsSpm(tok, kModel, lines);
}

// A second model trained here with byte_fallback exercises the byte pieces and a tiny vocab
// (many multi-piece words, many unknown characters).
TEST(Tokenizer, MatchesSpmEncodeWithByteFallback) {
  ASSERT_TRUE(HaveTool("spm_train")) << "spm_train missing: run scripts/setup.sh";
  const fs::path dir = fs::temp_directory_path() / ("qmoe_spm_bf_" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto lines = TestLines(300);
  {
    std::ofstream f(dir / "train.txt");
    for (size_t i = 0; i < lines.size(); i += 2) f << lines[i] << "\n";  // train on half
  }
  RunCommand("spm_train --input=" + (dir / "train.txt").string() + " --model_prefix=" + (dir / "m").string() +
      " --vocab_size=600 --byte_fallback=true --character_coverage=0.99 --pad_id=0 --eos_id=1 --unk_id=2"
      " --bos_id=-1 --minloglevel=2 --num_threads=1 2>&1");
  const std::string model = (dir / "m.model").string();
  Tokenizer tok = Tokenizer::Load(model);
  EXPECT_EQ(tok.num_pieces(), 600);
  ExpectSameAsSpm(tok, model, lines);
  fs::remove_all(dir);
}

TEST(Tokenizer, T5ConventionsAndSentinels) {
  Tokenizer tok = Tokenizer::Load(kModel);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
  EXPECT_EQ(tok.unk_id(), 2);
  EXPECT_EQ(tok.num_pieces(), 8000);
  EXPECT_EQ(tok.vocab_size(), 8100);
  EXPECT_EQ(tok.padded_vocab_size(), 8128);
  EXPECT_EQ(tok.SentinelId(0), 8099);
  EXPECT_EQ(tok.SentinelId(99), 8000);
  EXPECT_EQ(tok.first_sentinel_id(), 8099);
  EXPECT_EQ(tok.IdToPiece(8099), "<extra_id_0>");
  EXPECT_EQ(tok.PieceToId("<extra_id_7>"), 8092);
  EXPECT_EQ(tok.PieceToId("<extra_id_100>"), -1);
  EXPECT_TRUE(tok.IsSentinel(8000));
  EXPECT_FALSE(tok.IsSentinel(7999));
  EXPECT_THROW(tok.SentinelId(100), Error);
  // Sentinel text is not special to the encoder, as in T5's spiece.model.
  auto ids = tok.Encode("<extra_id_0>");
  for (int32_t id : ids) EXPECT_LT(id, 8000);
}

TEST(Tokenizer, DecodeInvertsEncode) {
  Tokenizer tok = Tokenizer::Load(kModel);
  for (const std::string s : {"It is a truth universally acknowledged, that a single man.", "In the beginning God created"}) {
    auto ids = tok.Encode("  " + s + "  ");
    EXPECT_EQ(tok.Decode(ids), s);  // whitespace normalized away, text kept
    ids.push_back(tok.eos_id());
    ids.push_back(tok.SentinelId(3));
    EXPECT_EQ(tok.Decode(ids), s + "<extra_id_3>");
  }
  EXPECT_EQ(tok.Decode(tok.Encode("漢")), " \xE2\x81\x87 ");  // unknown -> " ⁇ "
}

TEST(Tokenizer, RejectsBadFiles) {
  EXPECT_THROW(Tokenizer::Load("/nonexistent/spiece.model"), Error);
  const fs::path bad = fs::temp_directory_path() / ("qmoe_bad_" + std::to_string(getpid()) + ".model");
  { std::ofstream(bad) << "this is not a protobuf"; }
  try {
    Tokenizer::Load(bad.string());
    ADD_FAILURE() << "garbage accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
  }
  fs::remove(bad);
  SpmModel m;
  m.pieces = {{"<unk>", 0, PieceType::kUnknown}, {"a", -1, PieceType::kNormal}};
  m.model_type = SpmModelType::kBpe;
  EXPECT_THROW(Tokenizer::FromModel(m, "bpe.model"), Error);
  m.model_type = SpmModelType::kUnigram;
  m.pieces.push_back({"<sep>", 0, PieceType::kUserDefined});
  EXPECT_THROW(Tokenizer::FromModel(m, "user.model"), Error);
}

}  // namespace
}  // namespace qmoe::data
