#include "experiments/eval/eval_experiment.h"

#include "serving/model_dir.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "experiments/eval/router_forward.h"
#include "experiments/run_device.h"
#include "experiments/eval/span_loss.h"
#include "serving/compressed_model.h"
#include "framework/core/error.h"
#include "framework/core/memory_stats.h"
#include "framework/core/repo_path.h"
#include "framework/core/strings.h"
#include "framework/data/samples.h"
#include "framework/model/model_tokenizer.h"

namespace fs = std::filesystem;

namespace qmoe {

std::string ResolveModelPath(const std::string& path, const std::string& key) {
  QMOE_CHECK(!path.empty(), key, " is empty: choose a model with weights (e.g. model=switch-tiny-8) or set ", key,
             "=<HF model directory>");
  const std::string dir = ResolveRepoPath(path);
  QMOE_CHECK(fs::exists(fs::path(dir) / "config.json"), key, " = '", path, "': no config.json there (nor under ",
             SourceDir(), ")");
  return dir;
}

std::string DataRoot() { return RepoRootFor("data/tokenizer"); }

SwitchConfig ResolveSectionConfig(const SwitchConfig& section) {
  const std::string dir = ResolveModelPath(section.path, "model.path");
  SwitchConfig cfg = ReadHfConfig(dir);
  auto same = [&](const char* key, int64_t a, int64_t b) {
    QMOE_CHECK(a == b, "model.", key, " = ", a, " (config section '", section.name, "') but ", dir,
               "/config.json has ", b, "; fix the model config or its path");
  };
  same("d_model", section.d_model, cfg.d_model);
  same("d_ff", section.d_ff, cfg.d_ff);
  same("num_heads", section.num_heads, cfg.num_heads);
  same("d_kv", section.d_kv, cfg.d_kv);
  same("num_layers", section.num_layers, cfg.num_layers);
  same("num_decoder_layers", section.num_decoder_layers, cfg.num_decoder_layers);
  same("num_experts", section.num_experts, cfg.num_experts);
  same("vocab_size", section.vocab_size, cfg.vocab_size);
  cfg.name = section.name;
  cfg.path = dir;
  cfg.dtype = section.dtype;
  cfg.expert_capacity = section.expert_capacity;
  cfg.tokenizer = section.tokenizer;
  return cfg;
}

std::shared_ptr<const WeightSource> OpenSectionWeights(const SwitchConfig& resolved) {
  // Compressed directories (qmoe.json, or the published noexp.pt/expNN.pt) evaluate through the
  // same forward pass (serving/model_dir.h).
  return OpenModelDirWeights(resolved.path);
}

std::unique_ptr<SwitchModel> LoadSectionModel(const SwitchConfig& section, ModelOptions opts) {
  SwitchConfig cfg = ResolveSectionConfig(section);
  return std::make_unique<SwitchModel>(cfg, OpenSectionWeights(cfg), opts);
}

namespace {

// One row of the printed per-domain table.
void PrintLossRow(std::ostream& os, const std::string& domain, const DomainLoss& l) {
  os << std::left << std::setw(12) << domain << std::right << std::setw(9) << l.loss_nats << std::setw(12)
     << std::exp(l.loss_nats) << std::setw(9) << l.samples << std::setw(9) << l.targets << "\n";
}

// The loss metrics of one domain ('' = all domains), under the names every experiment uses.
void RecordLoss(RunContext& ctx, const std::string& domain, const DomainLoss& l) {
  MetricLabels lab;
  lab.domain = domain;
  ctx.Metric("loss_nats", l.loss_nats, "nats", lab);
  ctx.Metric("perplexity", std::exp(l.loss_nats), "", lab);
  ctx.Metric("validation_samples", double(l.samples), "samples", lab);
  ctx.Metric("validation_targets", double(l.targets), "tokens", lab);
}

// A model whose weights take more than a quarter of RAM in the compute dtype is evaluated block by
// block (ModelOptions::stream): slower, as each batch reads the weights again, but a switch-base-256
// (14.7 G parameters, 59 GB in float32) evaluates at a peak RSS of 1.5 GiB.
bool ShouldStream(const SwitchConfig& cfg) {
  const double bytes = double(cfg.NumParams()) * (cfg.dtype == "bfloat16" ? 2 : 4);
  const double ram = double(PhysicalMemoryBytes());
  if (ram <= 0 || bytes <= ram / 4) return false;
  std::cerr << "eval: " << cfg.name << " takes " << std::setprecision(3) << bytes / 1e9 << " GB in " << cfg.dtype
            << ", more than a quarter of RAM (" << ram / 1e9 << " GB): streaming it block by block\n";
  return true;
}

}  // namespace

void EvalExperiment::Run(RunContext& ctx) {
  const SwitchConfig section = FromParamMap<SwitchConfig>(ctx.sections.at("model"));
  const data::DataParams dp = FromParamMap<data::DataParams>(ctx.sections.at("data"));
  ModelOptions mo;
  mo.device = SingleDevice(RunDevice(ctx), "eval");
  mo.stream = ShouldStream(ResolveSectionConfig(section));
  auto model = LoadSectionModel(section, mo);
  const std::string root = DataRoot();
  data::Tokenizer tok = LoadModelTokenizer(dp, root, model->config());
  std::vector<data::SampleSet> sets = data::BuildValidationSets(dp, tok, root);

  SpanLossByDomain losses;
  std::vector<data::Sample> all;
  for (const auto& set : sets) {
    const std::string domain = set.name.substr(set.name.find('/') + 1);
    losses.AddAll(domain, EvaluateSpanCorruption(*model, set.samples, p_.batch_size));
    if (p_.routing) all.insert(all.end(), set.samples.begin(), set.samples.end());
  }
  std::ostringstream table;
  table << std::fixed << std::setprecision(4) << "domain      loss_nats  perplexity  samples  targets\n";
  const auto result = losses.Losses();
  for (const auto& set : sets) {  // in the order data.validation_domains lists them
    const std::string domain = set.name.substr(set.name.find('/') + 1);
    RecordLoss(ctx, domain, result.at(domain));
    PrintLossRow(table, domain, result.at(domain));
  }
  if (auto it = result.find("all"); it != result.end()) {
    RecordLoss(ctx, "", it->second);
    PrintLossRow(table, "all", it->second);
  }
  const std::string protocol = sets.empty() ? data::ProtocolId(dp) : sets[0].protocol_id;
  ctx.db.SetRunParam(ctx.run_id, "eval.protocol_id", protocol);
  ctx.db.SetRunParam(ctx.run_id, "eval.dtype", section.dtype);
  ctx.db.SetRunParam(ctx.run_id, "eval.weighting", "decoder_length");

  if (p_.routing && !all.empty()) {  // tokens per expert and layer over all validation samples
    at::NoGradGuard ng;
    std::vector<std::string> layers;
    std::vector<std::vector<int64_t>> counts;
    for (size_t s = 0; s < all.size(); s += static_cast<size_t>(p_.batch_size)) {
      std::vector<std::vector<int64_t>> enc, dec;
      for (size_t i = s; i < std::min(all.size(), s + static_cast<size_t>(p_.batch_size)); ++i) {
        enc.emplace_back(all[i].encoder.begin(), all[i].encoder.end());
        dec.emplace_back(all[i].decoder.begin(), all[i].decoder.end());
      }
      BatchTensors bt = MakeBatchTensors(enc, dec, model->config().pad_token_id);
      RouterAux aux;
      TrainForward(*model, bt.enc_ids, bt.enc_mask, bt.dec_in, bt.dec_mask, &aux);
      if (counts.empty()) layers = aux.layers, counts = aux.counts;
      else
        for (size_t l = 0; l < counts.size(); ++l)
          for (size_t e = 0; e < counts[l].size(); ++e) counts[l][e] += aux.counts[l][e];
    }
    for (size_t l = 0; l < layers.size(); ++l) {
      MetricLabels lab;
      lab.layer = layers[l];
      ctx.Metric("routing_entropy", RoutingEntropy(counts[l]), "nats", lab);
    }
  }
  std::cout << "model " << section.name << " (" << section.dtype << "), protocol " << protocol << "\n" << table.str();
}

}  // namespace qmoe
