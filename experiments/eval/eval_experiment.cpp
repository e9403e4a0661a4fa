#include "experiments/eval/eval_experiment.h"

#include "serving/compressed_model.h"

#include <sqlite3.h>

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "experiments/eval/span_loss.h"
#include "experiments/eval/router_forward.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/data/samples.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

std::string RepoRoot() { return fs::exists("data/tokenizer") ? fs::current_path().string() : QMOE_SOURCE_DIR; }

void SetRunParam(ResultsDb& db, int64_t run_id, const std::string& key, const std::string& value) {
  sqlite3_stmt* st = nullptr;
  QMOE_CHECK(sqlite3_prepare_v2(db.handle(), "INSERT OR REPLACE INTO run_params(run_id, key, value) VALUES (?, ?, ?)",
                                -1, &st, nullptr) == SQLITE_OK,
             db.path(), ": cannot prepare run_params insert: ", sqlite3_errmsg(db.handle()));
  sqlite3_bind_int64(st, 1, run_id);
  sqlite3_bind_text(st, 2, key.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, value.c_str(), -1, SQLITE_TRANSIENT);
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  QMOE_CHECK(rc == SQLITE_DONE, db.path(), ": cannot write run param ", key, ": ", sqlite3_errmsg(db.handle()));
}

}  // namespace

std::string ResolveModelPath(const std::string& path, const std::string& key) {
  QMOE_CHECK(!path.empty(), key, " is empty: choose a model with weights (e.g. model=switch-tiny-8) or set ", key,
             "=<HF model directory>");
  for (const fs::path& p : {fs::path(path), fs::path(QMOE_SOURCE_DIR) / path})
    if (fs::exists(p / "config.json")) return p.string();
  throw Error(StrCat(key, " = '", path, "': no config.json there (nor under ", QMOE_SOURCE_DIR, ")"));
}

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
  return cfg;
}

std::shared_ptr<const WeightSource> OpenSectionWeights(const SwitchConfig& resolved) {
  // A compressed model directory (qmoe.json) evaluates through the same forward pass.
  if (fs::exists(fs::path(resolved.path) / "qmoe.json")) return CompressedWeights::Open(resolved.path);
  return CheckpointWeights::Open(resolved.path);
}

std::unique_ptr<SwitchModel> LoadSectionModel(const SwitchConfig& section) {
  SwitchConfig cfg = ResolveSectionConfig(section);
  return std::make_unique<SwitchModel>(cfg, OpenSectionWeights(cfg));
}

void EvalExperiment::Run(RunContext& ctx) {
  const SwitchConfig section = FromParamMap<SwitchConfig>(ctx.sections.at("model"));
  const data::DataParams dp = FromParamMap<data::DataParams>(ctx.sections.at("data"));
  auto model = LoadSectionModel(section);
  const std::string root = RepoRoot();
  data::Tokenizer tok = data::LoadTokenizer(dp, root);
  QMOE_CHECK(tok.vocab_size() <= model->config().vocab_size, "data.tokenizer ", dp.tokenizer, " has ",
             tok.vocab_size(), " ids but model '", section.name, "' has vocab_size ", model->config().vocab_size);
  std::vector<data::SampleSet> sets = data::BuildValidationSets(dp, tok, root);

  std::vector<double> all_loss;
  std::vector<int64_t> all_len;
  int64_t all_targets = 0;
  std::vector<data::Sample> all;
  std::ostringstream table;
  table << std::fixed << std::setprecision(4) << "domain      loss_nats  perplexity  samples  targets\n";
  for (const auto& set : sets) {
    const std::string domain = set.name.substr(set.name.find('/') + 1);
    SpanLoss l = EvaluateSpanCorruption(*model, set.samples, p_.batch_size);
    MetricLabels lab;
    lab.domain = domain;
    ctx.Metric("loss_nats", l.loss, "nats", lab);
    ctx.Metric("perplexity", std::exp(l.loss), "", lab);
    ctx.Metric("n_samples", double(l.n_samples), "", lab);
    ctx.Metric("n_targets", double(l.n_targets), "", lab);
    all_loss.insert(all_loss.end(), l.sample_loss.begin(), l.sample_loss.end());
    all_len.insert(all_len.end(), l.decoder_len.begin(), l.decoder_len.end());
    all_targets += l.n_targets;
    if (p_.routing) all.insert(all.end(), set.samples.begin(), set.samples.end());
    table << std::left << std::setw(12) << domain << std::right << std::setw(9) << l.loss << std::setw(12)
          << std::exp(l.loss) << std::setw(9) << l.n_samples << std::setw(9) << l.n_targets << "\n";
  }
  const double agg = AggregateSpanLoss(all_loss, all_len);
  ctx.Metric("loss_nats", agg, "nats");
  ctx.Metric("perplexity", std::exp(agg));
  ctx.Metric("n_samples", double(all_loss.size()));
  ctx.Metric("n_targets", double(all_targets));
  table << std::left << std::setw(12) << "all" << std::right << std::setw(9) << agg << std::setw(12) << std::exp(agg)
        << std::setw(9) << all_loss.size() << std::setw(9) << all_targets << "\n";
  const std::string protocol = sets.empty() ? data::ProtocolId(dp) : sets[0].protocol_id;
  SetRunParam(ctx.db, ctx.run_id, "eval.protocol_id", protocol);
  SetRunParam(ctx.db, ctx.run_id, "eval.dtype", section.dtype);
  SetRunParam(ctx.db, ctx.run_id, "eval.weighting", "decoder_length");

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
