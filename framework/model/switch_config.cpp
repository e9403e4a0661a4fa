#include "framework/model/switch_config.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "framework/core/error.h"
#include "framework/io/atomic_file.h"
#include "framework/io/bounded_read.h"

namespace qmoe {
namespace fs = std::filesystem;

const char* StackName(Stack s) { return s == Stack::kEncoder ? "encoder" : "decoder"; }

bool SwitchConfig::IsSparse(Stack s, int64_t block) const {
  const int64_t step = s == Stack::kEncoder ? encoder_sparse_step : decoder_sparse_step;
  if (is_full_sparse || step == 0 || step == 1) return true;
  return block % step == 1;
}

at::ScalarType SwitchConfig::ScalarType() const {
  if (dtype == "float32") return at::kFloat;
  if (dtype == "bfloat16") return at::kBFloat16;
  throw Error(StrCat("model.dtype: expected float32 or bfloat16, got '", dtype, "'"));
}

void SwitchConfig::Validate(const std::string& where) const {
  auto positive = [&](int64_t v, const char* key) {
    QMOE_CHECK(v > 0, where, ": model.", key, " must be >= 1, got ", v);
  };
  positive(d_model, "d_model");
  positive(d_ff, "d_ff");
  positive(num_heads, "num_heads");
  positive(d_kv, "d_kv");
  positive(num_experts, "num_experts");
  positive(vocab_size, "vocab_size");
  QMOE_CHECK(num_layers >= 0 && num_decoder_layers >= 0, where, ": model.num_layers / num_decoder_layers must be >= 0, got ",
             num_layers, " / ", num_decoder_layers);
  QMOE_CHECK(encoder_sparse_step >= 0 && decoder_sparse_step >= 0, where,
             ": model.encoder_sparse_step / decoder_sparse_step must be >= 0, got ", encoder_sparse_step, " / ",
             decoder_sparse_step);
  QMOE_CHECK(relative_attention_num_buckets >= 4 && relative_attention_num_buckets % 4 == 0, where,
             ": model.relative_attention_num_buckets must be a positive multiple of 4 (the encoder splits it in two "
             "directions, each half exact/log), got ",
             relative_attention_num_buckets);
  QMOE_CHECK(relative_attention_max_distance > relative_attention_num_buckets / 2, where,
             ": model.relative_attention_max_distance must exceed num_buckets/2 = ", relative_attention_num_buckets / 2,
             ", got ", relative_attention_max_distance);
  QMOE_CHECK(layer_norm_epsilon >= 0, where, ": model.layer_norm_epsilon must be >= 0, got ", layer_norm_epsilon);
  QMOE_CHECK(expert_capacity >= 0, where, ": model.expert_capacity must be >= 0 (0 = never drop), got ",
             expert_capacity);
  QMOE_CHECK(pad_token_id < vocab_size && eos_token_id < vocab_size, where,
             ": model.pad_token_id / eos_token_id must be < vocab_size ", vocab_size);
  (void)ScalarType();
}

int64_t SwitchConfig::NumExpertParams() const {
  int64_t sparse = 0;
  for (Stack s : {Stack::kEncoder, Stack::kDecoder})
    for (int64_t b = 0; b < NumBlocks(s); ++b) sparse += IsSparse(s, b);
  return sparse * num_experts * 2 * d_model * d_ff;
}

int64_t SwitchConfig::NumParams() const {
  const int64_t d = d_model, inner = InnerDim();
  const int64_t attn = 4 * d * inner + d;  // q, k, v, o + its norm
  int64_t n = vocab_size * d * (tie_word_embeddings ? 1 : 2) + 2 * d;  // embeddings + final norms
  n += 2 * relative_attention_num_buckets * num_heads;
  for (Stack s : {Stack::kEncoder, Stack::kDecoder}) {
    for (int64_t b = 0; b < NumBlocks(s); ++b) {
      n += attn + (s == Stack::kDecoder ? attn : 0) + d;  // self (+ cross) attention, FF norm
      n += IsSparse(s, b) ? num_experts * (2 * d * d_ff + d) : 2 * d * d_ff;  // experts + router, or dense
    }
  }
  return n;
}

namespace {

template <class T>
T Required(const nlohmann::json& j, const char* key, const fs::path& file) {
  QMOE_CHECK(j.contains(key), file.string(), ": missing key \"", key, "\" (expected a Switch Transformers config)");
  if constexpr (std::is_same_v<T, int64_t>)  // not 768.5, not 2^64-1 read back as -1
    QMOE_CHECK(j.at(key).is_number_integer() && (!j.at(key).is_number_unsigned() || j.at(key).get<uint64_t>() <= INT64_MAX),
               file.string(), ": key \"", key, "\" must be an integer, got ", j.at(key).is_primitive() ? j.at(key).dump() : j.at(key).type_name());
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(StrCat(file.string(), ": key \"", key, "\" has the wrong type: ", e.what()));
  }
}

template <class T>
T Optional(const nlohmann::json& j, const char* key, T fallback, const fs::path& file) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  return Required<T>(j, key, file);
}

}  // namespace

SwitchConfig ReadHfConfig(const fs::path& path, std::vector<std::string>* quirks) {
  const fs::path file = fs::is_directory(path) ? path / "config.json" : path;
  return ParseHfConfig(ReadFileBounded(file, kMaxConfigFileBytes, "Hugging Face config.json"), file, quirks);
}

SwitchConfig ParseHfConfig(const std::string& text, const fs::path& file, std::vector<std::string>* quirks) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(StrCat(file.string(), ": malformed JSON: ", e.what()));
  }
  QMOE_CHECK(j.is_object(), file.string(), ": expected a JSON object");
  auto note = [&](const std::string& s) {
    if (quirks) quirks->push_back(s);
  };

  SwitchConfig c;
  c.path = file.parent_path().string();
  c.name = file.parent_path().filename().string();
  c.d_model = Required<int64_t>(j, "d_model", file);
  c.d_ff = Required<int64_t>(j, "d_ff", file);
  c.num_heads = Required<int64_t>(j, "num_heads", file);
  c.d_kv = Required<int64_t>(j, "d_kv", file);
  c.num_layers = Required<int64_t>(j, "num_layers", file);
  c.num_decoder_layers = Optional<int64_t>(j, "num_decoder_layers", c.num_layers, file);
  c.num_experts = Required<int64_t>(j, "num_experts", file);
  c.vocab_size = Required<int64_t>(j, "vocab_size", file);
  // Steps: stored directly by HF's to_dict; older files only carry num_sparse_*_layers.
  auto step = [&](const char* key, const char* count_key, int64_t layers) -> int64_t {
    if (j.contains(key)) return Required<int64_t>(j, key, file);
    QMOE_CHECK(j.contains(count_key), file.string(), ": missing key \"", key, "\" (or \"", count_key, "\")");
    const int64_t n = Required<int64_t>(j, count_key, file);
    return n > 0 ? layers / n : layers;  // HF: n == 0 gives step = layers
  };
  c.encoder_sparse_step = step("encoder_sparse_step", "num_sparse_encoder_layers", c.num_layers);
  c.decoder_sparse_step = step("decoder_sparse_step", "num_sparse_decoder_layers", c.num_decoder_layers);
  c.tie_word_embeddings = Optional<bool>(j, "tie_word_embeddings", true, file);  // HF default
  const std::string td = Optional<std::string>(j, "torch_dtype", "float32", file);
  QMOE_CHECK(td == "float32" || td == "bfloat16", file.string(), ": torch_dtype \"", td,
             "\" is not supported (expected float32 or bfloat16; fp16 matmul is not implemented on the CPU)");
  c.dtype = td;
  c.relative_attention_num_buckets = Optional<int64_t>(j, "relative_attention_num_buckets", 32, file);
  c.relative_attention_max_distance = Optional<int64_t>(j, "relative_attention_max_distance", 128, file);
  c.layer_norm_epsilon = Optional<double>(j, "layer_norm_epsilon", 1e-6, file);
  c.is_full_sparse = Optional<bool>(j, "is_full_sparse", false, file);
  c.synthetic = Optional<bool>(j, "qmoe_synthetic", false, file);
  c.pad_token_id = Optional<int64_t>(j, "pad_token_id", 0, file);
  c.eos_token_id = Optional<int64_t>(j, "eos_token_id", 1, file);
  // Hub configs carry capacity 64 (training); QMoE evaluates without drops.
  const int64_t cap = Optional<int64_t>(j, "expert_capacity", 0, file);
  c.expert_capacity = 0;
  if (cap != 0 && cap != (int64_t{1} << 30))  // 2^30 is what WriteHfConfig writes for "never"
    note(StrCat("expert_capacity ", cap, " in config.json ignored: qmoe never drops by default (set model.expert_capacity)"));

  // The c-2048 hub config is wrong in several places.
  if (c.num_experts == 2048 && c.d_model == 2080) {
    if (c.num_decoder_layers != c.num_layers) {
      note(StrCat("c-2048: num_decoder_layers ", c.num_decoder_layers, " -> ", c.num_layers));
      c.num_decoder_layers = c.num_layers;
    }
    if (c.tie_word_embeddings) note("c-2048: tie_word_embeddings true -> false");
    c.tie_word_embeddings = false;
    if (!c.is_full_sparse) note("c-2048: every block is sparse (is_full_sparse -> true)");
    c.is_full_sparse = true;
    if (c.dtype != "bfloat16") note(StrCat("c-2048: dtype ", c.dtype, " -> bfloat16"));
    c.dtype = "bfloat16";
  }
  // The documented ranges of the model section (switch_config.h) also bound what a file may claim.
  const ParamMap values = ToParamMap(c);
  for (const ParamSpec& spec : SpecsOf<SwitchConfig>()) {
    const ParamValue& v = values.at(spec.name);
    const double x = std::holds_alternative<int64_t>(v) ? double(std::get<int64_t>(v))
                     : std::holds_alternative<double>(v) ? std::get<double>(v) : 0.0;
    QMOE_CHECK(x >= spec.min && x <= spec.max, file.string(), ": ", spec.name, " = ", FormatParamValue(v),
               " is outside the supported range [", spec.min, ", ", spec.max, "]");
  }
  c.Validate(file.string());
  return c;
}

void WriteHfConfig(const SwitchConfig& c, const fs::path& dir) {
  fs::create_directories(dir);
  WriteFileAtomically(dir / "config.json", HfConfigJson(c));
}

std::string HfConfigJson(const SwitchConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {"SwitchTransformersForConditionalGeneration"};
  j["model_type"] = "switch_transformers";
  j["d_model"] = c.d_model;
  j["d_ff"] = c.d_ff;
  j["num_heads"] = c.num_heads;
  j["d_kv"] = c.d_kv;
  j["num_layers"] = c.num_layers;
  j["num_decoder_layers"] = c.num_decoder_layers;
  j["num_experts"] = c.num_experts;
  j["encoder_sparse_step"] = c.encoder_sparse_step;
  j["decoder_sparse_step"] = c.decoder_sparse_step;
  auto count_sparse = [&](Stack s) {
    int64_t n = 0;
    for (int64_t b = 0; b < c.NumBlocks(s); ++b) n += c.IsSparse(s, b);
    return n;
  };
  j["num_sparse_encoder_layers"] = count_sparse(Stack::kEncoder);
  j["num_sparse_decoder_layers"] = count_sparse(Stack::kDecoder);
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["torch_dtype"] = c.dtype;
  j["relative_attention_num_buckets"] = c.relative_attention_num_buckets;
  j["relative_attention_max_distance"] = c.relative_attention_max_distance;
  j["layer_norm_epsilon"] = c.layer_norm_epsilon;
  // HF has no "never drop": write a capacity no sample reaches (QMoE's published configs use 1024).
  j["expert_capacity"] = c.expert_capacity == 0 ? int64_t{1} << 30 : c.expert_capacity;
  j["router_jitter_noise"] = 0.0;
  j["router_dtype"] = "float32";
  j["feed_forward_proj"] = "relu";
  j["is_encoder_decoder"] = true;
  if (c.is_full_sparse) j["is_full_sparse"] = true;
  if (c.synthetic) j["qmoe_synthetic"] = true;  // written by qmoe synth; read back into SwitchConfig::synthetic
  j["pad_token_id"] = c.pad_token_id;
  j["decoder_start_token_id"] = c.pad_token_id;
  j["eos_token_id"] = c.eos_token_id;
  return j.dump(2) + "\n";
}

}  // namespace qmoe
