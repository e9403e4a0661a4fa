#include "experiments/synth/synth_command.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "experiments/runner.h"
#include "experiments/synth/synth_weights.h"
#include "framework/core/repo_path.h"
#include "framework/core/error.h"
#include "framework/core/memory_stats.h"
#include "framework/core/strings.h"
#include "framework/io/atomic_file.h"
#include "framework/io/safetensors.h"
#include "framework/model/switch_names.h"

namespace qmoe::synth {
namespace fs = std::filesystem;
namespace {

uint64_t Bf16Bytes(const TensorShape& ts) {
  uint64_t bytes = 2;
  for (int64_t d : ts.shape) bytes *= static_cast<uint64_t>(d);
  return bytes;
}

// Tensors grouped into shards of at most `shard_bytes` (a bigger tensor gets a shard of its own).
std::vector<std::vector<TensorShape>> PlanShards(const std::vector<TensorShape>& all, uint64_t shard_bytes,
                                                 uint64_t* total) {
  std::vector<std::vector<TensorShape>> shards(1);
  uint64_t in_shard = 0;
  *total = 0;
  for (const TensorShape& ts : all) {
    const uint64_t bytes = Bf16Bytes(ts);
    if (!shards.back().empty() && in_shard + bytes > shard_bytes) shards.emplace_back(), in_shard = 0;
    shards.back().push_back(ts);
    in_shard += bytes;
    *total += bytes;
  }
  return shards;
}

std::string ShardName(size_t k, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", k + 1, n);
  return buf;
}

std::string ModelCard(const SynthOptions& o, const SynthSummary& s) {
  const SwitchConfig& c = o.cfg;
  std::ostringstream md;
  md << "# " << c.name << " (SYNTHETIC)\n\n"
     << "**Synthetic weights, not a trained model.** Written by `qmoe synth` with the true shapes of `"
     << c.name << "` so that compression rate, memory and speed can be measured at real scale. Its losses "
     << "mean nothing; quality claims belong to trained models.\n\n"
     << "| | |\n|---|---|\n"
     << "| architecture | d_model " << c.d_model << ", d_ff " << c.d_ff << ", " << c.num_heads << "x" << c.d_kv
     << " heads, " << c.num_layers << "+" << c.num_decoder_layers << " blocks, " << c.num_experts
     << " experts, vocab " << c.vocab_size << (c.tie_word_embeddings ? ", tied" : ", untied") << " embeddings |\n"
     << "| parameters | " << c.NumParams() << " (" << c.NumExpertParams() << " in experts), stored in bf16 |\n"
     << "| files | " << s.shards << " safetensors shards, " << s.bytes << " bytes of tensors |\n"
     << "| seed | " << o.seed << " |\n"
     << "| experts | exponential-power law exp(-|x/a|^" << o.expert_shape
     << ") with HF's standard deviation (wi d_model^-1/2, wo d_ff^-1/2) |\n"
     << "| dense weights | Hugging Face SwitchTransformers initialisation; norms 1 |\n"
     << "| tokenizer | `spiece.model`: qmoe's own 8000-piece tokenizer (not T5's) |\n"
     << "| command | `" << o.command_line << "` |\n\n"
     << "`config.json` carries `\"qmoe_synthetic\": true`; runs on this model record `model.synthetic = true`.\n";
  return md.str();
}

}  // namespace

SynthSummary WriteSyntheticCheckpoint(const SynthOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  o.cfg.Validate("qmoe synth");
  QMOE_CHECK(!fs::exists(o.out / "config.json") && !fs::exists(o.out / "model.safetensors.index.json"),
             "qmoe synth: ", o.out.string(), " already holds a checkpoint; choose another out= or delete it");
  QMOE_CHECK(fs::exists(o.tokenizer), "qmoe synth: tokenizer ", o.tokenizer.string(), " not found");
  fs::create_directories(o.out);

  uint64_t total = 0;
  const auto shards = PlanShards(SwitchTensorShapes(o.cfg), o.shard_bytes, &total);
  const uint64_t free_bytes = fs::space(o.out).available;
  QMOE_CHECK(free_bytes > total + total / 50, "qmoe synth: ", o.out.string(), " has ", free_bytes >> 20,
             " MiB free but the checkpoint needs ", total >> 20, " MiB");

  SynthSummary s;
  s.start_rss_bytes = CurrentRssBytes();
  s.shards = static_cast<int64_t>(shards.size());
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t k = 0; k < shards.size(); ++k) {
    // Each tensor is drawn when its bytes are written: peak memory is one tensor (fp32 + bf16),
    // not one shard.
    std::vector<SafetensorsEntry> entries;
    uint64_t shard_bytes = 0;
    for (const TensorShape& ts : shards[k]) {
      entries.push_back({ts.name, at::kBFloat16, ts.shape});
      shard_bytes += Bf16Bytes(ts);
      weight_map[ts.name] = ShardName(k, shards.size());
    }
    WriteSafetensorsStreaming(
        o.out / ShardName(k, shards.size()), entries,
        [&](size_t i) { return SynthTensor(o.cfg, shards[k][i], o.seed, o.expert_shape).to(at::kBFloat16); },
        {{"format", "pt"}, {"qmoe_synthetic", "true"}});
    s.largest_shard_bytes = std::max(s.largest_shard_bytes, shard_bytes);
    s.tensors += static_cast<int64_t>(entries.size());
    std::cerr << "qmoe synth: shard " << k + 1 << "/" << shards.size() << " (" << entries.size() << " tensors)\n";
  }
  s.bytes = total;
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total}, {"qmoe_synthetic", true}};
  index["weight_map"] = weight_map;
  WriteFileAtomically(o.out / "model.safetensors.index.json", index.dump(2) + "\n");

  fs::copy_file(o.tokenizer, o.out / "spiece.model", fs::copy_options::overwrite_existing);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.peak_rss_bytes = PeakRssBytes();
  WriteFileAtomically(o.out / "README.md", ModelCard(o, s));
  // config.json last (with "qmoe_synthetic": true): a directory without it is visibly incomplete.
  SwitchConfig marked = o.cfg;
  marked.synthetic = true;
  WriteHfConfig(marked, o.out);
  return s;
}

bool IsSyntheticCheckpoint(const std::string& model_dir) {
  if (model_dir.empty()) return false;
  std::ifstream in(fs::path(ResolveRepoPath(model_dir)) / "config.json");
  if (!in) return false;
  const auto j = nlohmann::json::parse(in, nullptr, false);
  return !j.is_discarded() && j.is_object() && j.value("qmoe_synthetic", false) == true;
}

int SynthCommand(const std::vector<std::string>& args) {
  std::map<std::string, std::string> kv;
  std::string config_dir = DefaultConfigDir();
  const std::vector<std::string> keys = {"model", "out", "layers", "experts", "seed", "shard_mb", "shape"};
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--configs" && i + 1 < args.size()) {
      config_dir = args[++i];
      continue;
    }
    const auto eq = args[i].find('=');
    QMOE_CHECK(eq != std::string::npos, "qmoe synth: expected key=value, got '", args[i],
               "'; usage: qmoe synth model=NAME out=DIR [layers=N] [experts=E] [seed=S] [shard_mb=M] [shape=BETA]");
    const std::string k = args[i].substr(0, eq);
    QMOE_CHECK(std::find(keys.begin(), keys.end(), k) != keys.end(), "qmoe synth: unknown key '", k, "'",
               DidYouMean(k, keys), "; keys: ", Join(keys, " "));
    kv[k] = args[i].substr(eq + 1);
  }
  QMOE_CHECK(kv.count("model") && kv.count("out"), "qmoe synth: model= and out= are required, e.g. "
             "qmoe synth model=switch-base-128 out=/scratch/base128");
  auto number = [&](const std::string& k, int64_t lo, int64_t hi) {
    const std::string& v = kv.at(k);
    char* end = nullptr;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    QMOE_CHECK(!v.empty() && *end == '\0' && n >= lo && n <= hi, "qmoe synth: ", k, " expects an integer in [",
               lo, ", ", hi, "], got '", v, "'");
    return static_cast<int64_t>(n);
  };

  const ComposedConfig composed = ComposeConfig(config_dir, {"model=" + kv.at("model")});
  const auto typed = ValidateConfig(composed, BuildSchema(composed));
  SynthOptions o;
  o.cfg = FromParamMap<SwitchConfig>(typed.at("model"));
  o.cfg.path = "";
  if (kv.count("layers")) o.cfg.num_layers = o.cfg.num_decoder_layers = number("layers", 1, 10000);
  if (kv.count("experts")) o.cfg.num_experts = number("experts", 1, 1000000);
  if (kv.count("seed")) o.seed = static_cast<uint64_t>(number("seed", 0, INT64_MAX));
  if (kv.count("shard_mb")) o.shard_bytes = static_cast<uint64_t>(number("shard_mb", 1, 1 << 30)) << 20;
  if (kv.count("shape")) {
    const std::string& v = kv.at("shape");
    char* end = nullptr;
    o.expert_shape = std::strtod(v.c_str(), &end);
    QMOE_CHECK(!v.empty() && *end == '\0' && o.expert_shape >= 0.5 && o.expert_shape <= 8, "qmoe synth: shape expects "
               "the exponent beta of the experts' law in [0.5, 8] (2 = Gaussian), got '", v, "'");
  }
  o.out = kv.at("out");
  o.tokenizer = ResolveRepoPath("data/tokenizer/spiece.model");
  o.command_line = "qmoe synth " + Join(args, " ");

  const SynthSummary s = WriteSyntheticCheckpoint(o);
  std::cout << "qmoe synth: wrote " << o.out.string() << " (SYNTHETIC " << o.cfg.name << " shapes): " << s.tensors
            << " tensors in " << s.shards << " shards, " << (s.bytes >> 20) << " MiB bf16, "
            << static_cast<int64_t>(s.seconds) << " s, peak RSS " << (s.peak_rss_bytes >> 20) << " MiB ("
            << ((s.peak_rss_bytes - s.start_rss_bytes) >> 20) << " MiB above the start; largest shard "
            << (s.largest_shard_bytes >> 20) << " MiB)\n"
            << "compress it with:\n  qmoe run experiment=compress model=" << kv.at("model")
            << " model.path=" << o.out.string();
  if (kv.count("layers"))
    std::cout << " model.num_layers=" << o.cfg.num_layers << " model.num_decoder_layers=" << o.cfg.num_decoder_layers;
  if (kv.count("experts")) std::cout << " model.num_experts=" << o.cfg.num_experts;
  std::cout << " method=dict\n";
  return 0;
}

}  // namespace qmoe::synth
