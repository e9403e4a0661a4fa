// SwitchConfig: sparse-block rule, HF config.json round trip, c-2048 quirks, the
// shipped configs/model/*.yaml against the schema, and parameter counts against docs/method.md's table.
#include "framework/model/switch_config.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "framework/core/error.h"

namespace qmoe {
namespace {
namespace fs = std::filesystem;

fs::path TempDir(const std::string& tag) {
  fs::path p = fs::temp_directory_path() / StrCat("qmoe_model_cfg_", ::getpid(), "_", tag);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// Loads configs/model/<name>.yaml through the param specs, as the config validator does.
SwitchConfig LoadYaml(const std::string& name) {
  const fs::path file = fs::path(QMOE_SOURCE_DIR) / "configs/model" / (name + ".yaml");
  YAML::Node n = YAML::LoadFile(file.string());
  const auto specs = SpecsOf<SwitchConfig>();
  ParamMap m;
  for (const auto& kv : n) {
    const std::string key = kv.first.as<std::string>();
    auto it = std::find_if(specs.begin(), specs.end(), [&](const ParamSpec& s) { return s.name == key; });
    EXPECT_NE(it, specs.end()) << file << ": unknown key " << key;
    if (it == specs.end()) continue;
    m[key] = ParseParamValue(*it, kv.second.IsNull() ? "" : kv.second.as<std::string>(), file.string());
  }
  for (const auto& s : specs) EXPECT_TRUE(m.count(s.name) || s.name == "path") << file << " lacks " << s.name;
  SwitchConfig c = FromParamMap<SwitchConfig>(m);
  c.Validate(file.string());
  return c;
}

TEST(SwitchConfig, SparseBlocks) {
  SwitchConfig c;  // step 2: odd blocks
  for (int64_t b = 0; b < 12; ++b) EXPECT_EQ(c.IsSparse(Stack::kEncoder, b), b % 2 == 1) << b;
  c.encoder_sparse_step = 1;
  EXPECT_TRUE(c.IsSparse(Stack::kEncoder, 0) && c.IsSparse(Stack::kEncoder, 5));
  c.encoder_sparse_step = 4;
  EXPECT_TRUE(c.IsSparse(Stack::kEncoder, 5) && !c.IsSparse(Stack::kEncoder, 6) && !c.IsSparse(Stack::kEncoder, 4));
  c.decoder_sparse_step = 0;  // c-2048's hub value: all sparse
  EXPECT_TRUE(c.IsSparse(Stack::kDecoder, 0) && c.IsSparse(Stack::kDecoder, 14));
  c.decoder_sparse_step = 3;
  c.is_full_sparse = true;
  EXPECT_TRUE(c.IsSparse(Stack::kDecoder, 0) && c.IsSparse(Stack::kEncoder, 6));
}

TEST(SwitchConfig, ShippedYamlsParamCounts) {
  // Billions of parameters as computed from the released configs (docs/method.md table).
  const std::vector<std::pair<std::string, double>> want = {
      {"switch-base-8", 0.619},    {"switch-base-16", 1.072},    {"switch-base-32", 1.979},
      {"switch-base-64", 3.791},   {"switch-base-128", 7.415},   {"switch-base-256", 14.664},
      {"switch-large-128", 26.309}, {"switch-c-2048", 1571.3}};
  for (const auto& [name, billions] : want) {
    SwitchConfig c = LoadYaml(name);
    EXPECT_EQ(c.name, name);
    EXPECT_EQ(c.path, "");
    const double got = static_cast<double>(c.NumParams()) / 1e9;
    // The table rounds to 3 decimals (c-2048: 1); allow that rounding.
    EXPECT_NEAR(got, billions, name == "switch-c-2048" ? 0.05 : 0.0005) << name;
  }
  // Expert share and per-expert size.
  SwitchConfig b128 = LoadYaml("switch-base-128");
  EXPECT_NEAR(100.0 * b128.NumExpertParams() / b128.NumParams(), 97.7, 0.05);
  EXPECT_EQ(2 * b128.d_model * b128.d_ff, 4718592);
  SwitchConfig c2048 = LoadYaml("switch-c-2048");
  EXPECT_EQ(2 * c2048.d_model * c2048.d_ff, 25559040);
  EXPECT_NEAR(100.0 * c2048.NumExpertParams() / c2048.NumParams(), 99.94, 0.005);
  SwitchConfig xxl = LoadYaml("switch-xxl-128");
  EXPECT_EQ(xxl.dtype, "bfloat16");
  EXPECT_FALSE(xxl.tie_word_embeddings);
}

TEST(SwitchConfig, C2048YamlQuirks) {
  SwitchConfig c = LoadYaml("switch-c-2048");
  EXPECT_EQ(c.num_layers, 15);
  EXPECT_EQ(c.num_decoder_layers, 15);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.dtype, "bfloat16");
  EXPECT_EQ(c.InnerDim(), 1920);
  EXPECT_NE(c.InnerDim(), c.d_model);
  for (Stack s : {Stack::kEncoder, Stack::kDecoder})
    for (int64_t b = 0; b < 15; ++b) EXPECT_TRUE(c.IsSparse(s, b));
}

TEST(SwitchConfig, HfJsonC2048QuirksApplied) {
  // The hub's c-2048 config.json, abridged: 12 decoder layers, decoder_sparse_step 0, no
  // tie_word_embeddings key (HF default true), capacity 64.
  fs::path dir = TempDir("c2048");
  std::ofstream(dir / "config.json") << R"({"d_model": 2080, "d_ff": 6144, "num_heads": 30, "d_kv": 64,
    "num_layers": 15, "num_decoder_layers": 12, "num_experts": 2048, "encoder_sparse_step": 1,
    "decoder_sparse_step": 0, "vocab_size": 32128, "torch_dtype": "bfloat16", "expert_capacity": 64})";
  std::vector<std::string> quirks;
  SwitchConfig c = ReadHfConfig(dir, &quirks);
  EXPECT_EQ(c.num_decoder_layers, 15);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_TRUE(c.is_full_sparse);
  EXPECT_EQ(c.expert_capacity, 0);
  EXPECT_EQ(c.path, dir.string());
  EXPECT_EQ(quirks.size(), 4u);  // capacity ignored, decoder layers, untied, full sparse
  for (Stack s : {Stack::kEncoder, Stack::kDecoder})
    for (int64_t b = 0; b < 15; ++b) EXPECT_TRUE(c.IsSparse(s, b));
  fs::remove_all(dir);
}

TEST(SwitchConfig, HfJsonRoundTrip) {
  fs::path dir = TempDir("roundtrip");
  SwitchConfig c;
  c.d_model = 16, c.d_ff = 24, c.num_heads = 2, c.d_kv = 6, c.num_layers = 3, c.num_decoder_layers = 2;
  c.num_experts = 4, c.vocab_size = 50, c.tie_word_embeddings = false, c.dtype = "bfloat16";
  c.relative_attention_num_buckets = 16, c.relative_attention_max_distance = 20, c.layer_norm_epsilon = 1e-5;
  c.eos_token_id = 3;
  WriteHfConfig(c, dir);
  std::vector<std::string> quirks;
  SwitchConfig r = ReadHfConfig(dir / "config.json", &quirks);
  EXPECT_TRUE(quirks.empty());
  c.path = dir.string(), c.name = dir.filename().string();
  EXPECT_EQ(ToParamMap(r), ToParamMap(c));
  fs::remove_all(dir);
}

TEST(SwitchConfig, ErrorsNameFileAndKey) {
  fs::path dir = TempDir("errors");
  std::ofstream(dir / "config.json") << R"({"d_model": 16, "d_ff": 24, "num_heads": 2, "d_kv": 8, "num_layers": 2,
    "vocab_size": 50, "encoder_sparse_step": 2, "decoder_sparse_step": 2})";
  try {
    ReadHfConfig(dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("num_experts"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "config.json") << R"({"d_model": 16, "d_ff": 24, "num_heads": 2, "d_kv": 8, "num_layers": 2,
    "num_experts": 4, "vocab_size": 50, "encoder_sparse_step": 2, "decoder_sparse_step": 2, "torch_dtype": "float16"})";
  EXPECT_THROW(ReadHfConfig(dir), Error);
  SwitchConfig c;
  c.relative_attention_num_buckets = 30;
  try {
    c.Validate("configs/model/x.yaml");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("configs/model/x.yaml: model.relative_attention_num_buckets"),
              std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qmoe
