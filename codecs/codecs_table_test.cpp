// The codec table: every codec round-trips through its packed fields and every decoder matches its
// plain twin; and a toy third codec (test_fixture/toy_codec.*) is picked up by the benchmark cases,
// `qmoe codec rate` and the fuzz loop without any change to them.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <sstream>

#include "codecs/codec.h"
#include "codecs/codec_bench_cases.h"
#include "codecs/codec_cli.h"
#include "codecs/codec_fuzz.h"
#include "codecs/test_fixture/toy_codec.h"
#include "codecs/ternary/iid_ternary.h"
#include "framework/core/error.h"

namespace qmoe::codecs {
namespace {

// The built-in table plus the toy codec (and, when asked, its broken twin).
CodecRegistry WithToy(bool broken = false) {
  CodecRegistry r("codec");
  RegisterAllCodecs(r);
  r.Add("toy", toy::ToyCodec());
  if (broken) r.Add("toy_broken", toy::ToyCodec(/*broken=*/true));
  return r;
}

TEST(Codecs, TableHoldsTheStoredFormats) {
  EXPECT_EQ(Codecs().Keys(), (std::vector<std::string>{"dict", "rans"}));
  EXPECT_EQ(Codecs().Get("dict").version, 1);
  EXPECT_EQ(Codecs().Get("rans").version, 2);
  EXPECT_EQ(Codecs().Get("dict").fused_kernel, "dict_matvec");
  EXPECT_EQ(Codecs().Get("rans").fused_kernel, "rans_matvec");
}

TEST(Codecs, EveryCodecRoundTripsThroughItsFieldsAndEveryDecoderMatchesTheTwin) {
  const CodecRegistry codecs = WithToy();
  for (const std::string& key : codecs.Keys()) {
    const Codec& c = codecs.Get(key);
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {7, 33}, {40, 256}}) {
      const std::vector<float> w = ternary::RandomTernaryMatrix(rows, cols, 0.885, 5);
      const ternary::TernarySymbols s = ternary::SymbolsFromTernary(w.data(), rows, cols, ternary::SymbolMode::kReference);
      const Coded coded = c.encode(s, {});
      EXPECT_NO_THROW(c.validate(coded, key));
      const ternary::Fields fields = c.pack(coded);
      ASSERT_TRUE(fields.count("shape")) << key;
      const Coded back = c.unpack(ternary::ViewsOf(fields), key);
      std::vector<float> ref(w.size()), fast(w.size());
      c.decode_ref(back, ref.data());
      std::vector<float> bf16(w.size());
      for (size_t i = 0; i < w.size(); ++i) bf16[i] = Bf16BitsToFloat(FloatToBf16Bits(w[i]));
      EXPECT_EQ(ref, bf16) << key << " " << rows << "x" << cols;
      for (const Decoder& d : c.decoders) {
        if (!d.available()) continue;
        d.run(back, fast.data());
        EXPECT_EQ(std::memcmp(fast.data(), ref.data(), ref.size() * sizeof(float)), 0) << key << " " << d.name;
      }
      EXPECT_GT(c.storage_bits(coded), 0.0);
    }
  }
}

TEST(Codecs, ToyCodecIsPickedUpByTheBenchmarkCases) {
  const std::vector<BenchCase> cases = DecodeBenchCases(WithToy(), {{16, 40}});
  std::vector<std::string> names;
  for (const BenchCase& c : cases) {
    names.push_back(c.name);
    c.run();
  }
  for (const char* want : {"dict_decode/16x40", "rans_decode/16x40", "toy_decode/16x40"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

TEST(Codecs, ToyCodecIsPickedUpByTheRateCommand) {
  std::ostringstream out;
  EXPECT_EQ(RunCodecCommand({"rate", "--rows", "8", "--cols", "33"}, out, WithToy()), 0);
  for (const char* needle : {"dict, exact bytes", "rans, exact bits", "toy, exact bits", "model entropy"})
    EXPECT_NE(out.str().find(needle), std::string::npos) << needle << "\n" << out.str();
}

TEST(Codecs, RateChecksEveryCodecOptionBeforePrintingAnything) {
  std::ostringstream out;
  EXPECT_THROW(RunCodecCommand({"rate", "--rows", "4", "--cols", "8", "--streams", "40"}, out), Error);
  EXPECT_THROW(RunCodecCommand({"rate", "--rows", "4", "--cols", "8", "--chunk-weights", "0"}, out), Error);
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(RunCodecCommand({"rate", "--rows", "4", "--cols", "8", "--streams", "4"}, out), 0);
  EXPECT_NE(out.str().find("4 streams"), std::string::npos) << out.str();
}

// Random inputs aimed at one codec (the first byte picks it), in both modes.
std::string FuzzCodec(const CodecRegistry& codecs, const std::string& key, int inputs) {
  const std::vector<std::string> keys = codecs.Keys();
  const uint8_t index = uint8_t(std::find(keys.begin(), keys.end(), key) - keys.begin());
  std::mt19937 rng(7);
  for (int i = 0; i < inputs; ++i) {
    std::vector<uint8_t> data(1 + rng() % 600);
    for (auto& b : data) b = uint8_t(rng());
    data[0] = index;
    if (i % 4 != 0) data[1] |= 1;  // mostly valid encodings plus corruptions: they reach the decoders
    const std::string broken = FuzzOne(codecs, data.data(), data.size());
    if (!broken.empty()) return broken;
  }
  return "";
}

TEST(Codecs, ToyCodecIsPickedUpByTheFuzzLoop) {
  const CodecRegistry codecs = WithToy(/*broken=*/true);
  for (const std::string key : {"dict", "rans", "toy"}) EXPECT_EQ(FuzzCodec(codecs, key, 1000), "") << key;
  // The loop does reach the toy's decoders: the broken twin's wrong float is found.
  EXPECT_NE(FuzzCodec(codecs, "toy_broken", 300).find("floats differ"), std::string::npos);
}

}  // namespace
}  // namespace qmoe::codecs
