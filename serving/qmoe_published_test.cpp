// PublishedQmoeWeights on a tiny directory written here in the published layout: experts
// decode exactly, a model on it equals the same model on the decoded weights, the compressed
// experts serve it, single-key torch dicts load, and corrupt files are one clear Error.
#include "serving/qmoe_published.h"
#include "serving/published_fixture.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "framework/core/error.h"
#include "framework/io/torch_bin.h"
#include "framework/model/random_weights.h"
#include "framework/model/switch_model.h"
#include "framework/model/switch_names.h"
#include "codecs/dict/dict_codec.h"
#include "methods/codec/packed_tensors.h"

namespace qmoe {
namespace {
namespace fs = std::filesystem;

SwitchConfig Tiny() {
  SwitchConfig c;
  c.name = "tiny";
  c.d_model = 16, c.d_ff = 27, c.num_heads = 2, c.d_kv = 6, c.num_layers = 2, c.num_decoder_layers = 2;
  c.num_experts = 3, c.vocab_size = 40, c.dtype = "float32";
  return c;
}

struct TmpDir {
  fs::path p = fs::temp_directory_path() / ("qmoe_published_" + std::to_string(getpid()) + "_" +
                                            std::to_string(reinterpret_cast<uintptr_t>(this)));
  TmpDir() { fs::create_directories(p); }
  ~TmpDir() { fs::remove_all(p); }
};

std::map<std::string, at::Tensor> WritePublished(const fs::path& dir, bool corrupt_row_off = false,
                                                 bool bad_sizes = false) {
  return WritePublishedQmoeDir(dir, Tiny(), 11, corrupt_row_off, bad_sizes);
}

TEST(PublishedQmoe, ReadsLayoutAndDecodesExperts) {
  TmpDir tmp;
  auto sim = WritePublished(tmp.p);
  auto pub = PublishedQmoeWeights::Open(tmp.p);
  EXPECT_EQ(pub->expert_matrices().size(), size_t(2 * 3 * 2));
  for (const auto& t : SwitchTensorShapes(Tiny())) {
    ASSERT_TRUE(pub->Has(t.name)) << t.name;
    EXPECT_TRUE(at::equal(pub->Get(t.name), sim.at(t.name))) << t.name;  // decoding is bit-exact
  }
  EXPECT_FALSE(pub->Has("decoder.block.1.layer.2.mlp.experts.expert_9.wi.weight"));

  // A model on the published directory equals the model on the decoded weights (same fp32 ops).
  const SwitchConfig cfg = Tiny();
  SwitchModel a(cfg, pub), b(cfg, std::make_shared<MapWeights>(sim));
  at::Tensor enc = at::randint(2, cfg.vocab_size, {2, 9}, at::TensorOptions().dtype(at::kLong));
  at::Tensor dec = at::randint(2, cfg.vocab_size, {2, 5}, at::TensorOptions().dtype(at::kLong));
  EXPECT_TRUE(at::equal(a.Forward(enc, dec), b.Forward(enc, dec)));
  // The packed codes serve the experts directly.
  auto ex = pub->MakeDictExperts();
  EXPECT_EQ(ex->num_experts(), 2 * 3);
  EXPECT_TRUE(at::equal(ex->Dequantized(ExpertId{Stack::kDecoder, 1, 2}, "wo"),
                        sim.at(ExpertWeightName(Stack::kDecoder, 1, 2, "wo"))));
}

TEST(PublishedQmoe, SingleKeyDictLoadsThroughTorchBinFile) {
  // torch::pickle_load of LibTorch 1.13 fails on a one-key dict ("Unknown opcode
  // 0x73"); the reader uses TorchBinFile, which must read it.
  TmpDir tmp;
  at::Tensor t = at::arange(5, at::kShort);
  WriteTorchBin(tmp.p / "one.pt", {{"encoder.block.1.layer.1.mlp.experts.expert_0.wi", t}});
  auto f = TorchBinFile::Open(tmp.p / "one.pt");
  ASSERT_EQ(f->Infos().size(), 1u);
  EXPECT_TRUE(at::equal(f->Load("encoder.block.1.layer.1.mlp.experts.expert_0.wi"), t));
}

TEST(PublishedQmoe, CorruptRowOffIsOneClearError) {
  TmpDir tmp;
  WritePublished(tmp.p, /*corrupt_row_off=*/true);
  auto pub = PublishedQmoeWeights::Open(tmp.p);  // lazy: opening checks names and sizes only
  const std::string name = ExpertWeightName(Stack::kDecoder, 1, 2, "wo");
  try {
    pub->Get(name);
    FAIL() << "corrupt row_off was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("exp01.pt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expert_2.wo"), std::string::npos) << msg;
  }
  EXPECT_THROW(pub->MakeDictExperts(), Error);
  EXPECT_NO_THROW(pub->Get(ExpertWeightName(Stack::kDecoder, 1, 1, "wo")));  // the others are fine
}

TEST(PublishedQmoe, SizesMismatchAndMissingFilesAreErrors) {
  TmpDir tmp;
  WritePublished(tmp.p, false, /*bad_sizes=*/true);
  try {
    PublishedQmoeWeights::Open(tmp.p);
    FAIL() << "sizes.pt mismatch accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sizes.pt"), std::string::npos) << e.what();
  }
  fs::remove(tmp.p / "sizes.pt");
  EXPECT_NO_THROW(PublishedQmoeWeights::Open(tmp.p));
  fs::remove(tmp.p / "exp01.pt");
  try {
    PublishedQmoeWeights::Open(tmp.p);
    FAIL() << "missing exp01.pt accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("decoder.block.1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qmoe
