#include "experiments/train/model_card.h"

#include <ATen/ATen.h>

#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "experiments/eval/span_loss.h"
#include "experiments/eval/router_forward.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/io/checkpoint.h"
#include "framework/model/switch_model.h"

namespace fs = std::filesystem;

namespace qmoe {

void ExportHfModel(const fs::path& dir, const TrainRecipe& r, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                   const fs::path& spiece) {
  fs::path tmp = dir.string() + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  SwitchConfig cfg = r.model;
  cfg.path = dir.string();
  WriteHfConfig(cfg, tmp);
  const bool sharded = r.train.layout == "safetensors_sharded";
  WriteCheckpoint(tmp, tensors, sharded ? CheckpointLayout::kSafetensorsSharded : CheckpointLayout::kSafetensors,
                  static_cast<uint64_t>(r.train.max_shard_mb) * 1000 * 1000);
  fs::copy_file(spiece, tmp / "spiece.model", fs::copy_options::overwrite_existing);
  // Keep hand-written files of an earlier export? No: the card is regenerated below.
  fs::remove_all(dir);
  fs::rename(tmp, dir);
}

namespace {

std::string Fixed(double v, int p = 4) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(p) << v;
  return s.str();
}

}  // namespace

void WriteModelCard(const fs::path& dir, const CardInputs& in, const TrainStream& stream, const std::string& root) {
  const TrainRecipe& r = in.recipe;
  auto model = SwitchModel::FromDirectory(dir.string());
  data::DataParams dp = r.data;
  dp.n_validation_per_domain = std::max<int64_t>(r.train.eval_samples_per_domain, 1);
  data::Tokenizer tok = data::LoadTokenizer(dp, root);
  std::vector<data::SampleSet> sets = data::BuildValidationSets(dp, tok, root);

  // Unigram baseline from the decoder targets of one pass (epoch 0) over the training chunks.
  std::vector<int64_t> counts(static_cast<size_t>(r.model.vocab_size), 0);
  for (int64_t i = 0; i < stream.num_chunks(); ++i) {
    auto s = stream.SampleAt(0, i);
    for (size_t t = 1; t < s.decoder.size(); ++t) counts[static_cast<size_t>(s.decoder[t])]++;
  }

  nlohmann::json j;
  j["name"] = r.model.name;
  j["protocol_id"] = sets.empty() ? "" : sets[0].protocol_id;
  j["dtype"] = r.model.dtype;
  j["metric"] = "loss_nats";
  j["weighting"] = "decoder_length";
  j["eval_batch_size"] = kCardEvalBatch;
  j["params"] = r.model.NumParams();
  j["expert_params"] = r.model.NumExpertParams();
  j["num_experts"] = r.model.num_experts;
  j["train"] = {{"steps", in.steps},
                {"tokens", in.tokens},
                {"seconds", in.train_seconds},
                {"tokens_per_s", double(in.tokens) / std::max(in.train_seconds, 1e-9)},
                {"final_train_loss", in.final_train_loss},
                {"recipe", fs::path(r.path).filename().string()},
                {"recipe_sha256", in.recipe_sha256},
                {"chunks", stream.num_chunks()},
                {"chunk_tokens", stream.num_tokens()}};
  std::vector<data::Sample> all, check_all;
  std::vector<double> all_loss, uni_loss;
  std::vector<int64_t> all_len;
  nlohmann::json domains = nlohmann::json::object(), check = nlohmann::json::object();
  std::vector<double> check_loss;
  std::vector<int64_t> check_len;
  for (const auto& set : sets) {
    const std::string domain = set.name.substr(set.name.find('/') + 1);
    SpanLoss l = EvaluateSpanCorruption(*model, set.samples, kCardEvalBatch);
    SpanLoss u = UnigramSpanLoss(counts, set.samples);
    domains[domain] = {{"loss_nats", l.loss}, {"perplexity", std::exp(l.loss)}, {"n_samples", l.n_samples},
                       {"n_targets", l.n_targets}, {"unigram_loss_nats", u.loss}};
    const size_t nc = std::min<size_t>(set.samples.size(), kCardCheckSamples);
    std::vector<double> cl(l.sample_loss.begin(), l.sample_loss.begin() + nc);
    std::vector<int64_t> cn(l.decoder_len.begin(), l.decoder_len.begin() + nc);
    check[domain] = AggregateSpanLoss(cl, cn);
    check_loss.insert(check_loss.end(), cl.begin(), cl.end());
    check_len.insert(check_len.end(), cn.begin(), cn.end());
    all_loss.insert(all_loss.end(), l.sample_loss.begin(), l.sample_loss.end());
    all_len.insert(all_len.end(), l.decoder_len.begin(), l.decoder_len.end());
    uni_loss.insert(uni_loss.end(), u.sample_loss.begin(), u.sample_loss.end());
    all.insert(all.end(), set.samples.begin(), set.samples.end());
    std::cerr << "card: " << domain << " loss " << Fixed(l.loss) << " (unigram " << Fixed(u.loss) << ")\n";
  }
  j["domains"] = domains;
  j["aggregate"] = {{"loss_nats", AggregateSpanLoss(all_loss, all_len)},
                    {"perplexity", std::exp(AggregateSpanLoss(all_loss, all_len))},
                    {"n_samples", static_cast<int64_t>(all_loss.size())},
                    {"unigram_loss_nats", AggregateSpanLoss(uni_loss, all_len)}};
  j["check"] = {{"samples_per_domain", kCardCheckSamples}, {"domains", check},
                {"aggregate", AggregateSpanLoss(check_loss, check_len)}};

  // Routing entropy per MoE layer over all validation tokens (non-padding).
  RouterAux agg;
  {
    at::NoGradGuard ng;
    for (size_t s = 0; s < all.size(); s += kCardEvalBatch) {
      std::vector<std::vector<int64_t>> enc, dec;
      for (size_t i = s; i < std::min(all.size(), s + kCardEvalBatch); ++i) {
        enc.emplace_back(all[i].encoder.begin(), all[i].encoder.end());
        dec.emplace_back(all[i].decoder.begin(), all[i].decoder.end());
      }
      BatchTensors bt = MakeBatchTensors(enc, dec, r.model.pad_token_id);
      RouterAux aux;
      TrainForward(*model, bt.enc_ids, bt.enc_mask, bt.dec_in, bt.dec_mask, &aux);
      if (agg.counts.empty()) agg.layers = aux.layers, agg.counts = aux.counts;
      else
        for (size_t l = 0; l < aux.counts.size(); ++l)
          for (size_t e = 0; e < aux.counts[l].size(); ++e) agg.counts[l][e] += aux.counts[l][e];
    }
  }
  nlohmann::json ent = nlohmann::json::object();
  for (size_t l = 0; l < agg.layers.size(); ++l) {
    int64_t used = 0;
    for (int64_t c : agg.counts[l]) used += c > 0;
    ent[agg.layers[l]] = {{"entropy_nats", RoutingEntropy(agg.counts[l])}, {"experts_used", used}};
  }
  j["routing"] = {{"max_entropy_nats", std::log(double(r.model.num_experts))}, {"layers", ent}};
  std::ofstream(dir / "card.json") << j.dump(2) << "\n";

  // README.md
  std::ostringstream md;
  const auto& tr = j["train"];
  md << "# " << r.model.name << "\n\n"
     << "A small Switch Transformer (T5 encoder-decoder, top-1 MoE in every other FFN) trained by `qmoe train "
     << "--recipe configs/train/" << fs::path(r.path).filename().string() << "` on the train split of the project's "
     << "corpora (" << r.train.domains << "), span corruption (density " << r.data.noise_density << ", mean span "
     << r.data.mean_span << ", chunks of <= " << r.train.max_tokens << " tokens, fresh masks per epoch).\n\n"
     << "| | |\n|---|---|\n"
     << "| architecture | d_model " << r.model.d_model << ", d_ff " << r.model.d_ff << ", " << r.model.num_heads << "x"
     << r.model.d_kv << " heads, " << r.model.num_layers << "+" << r.model.num_decoder_layers << " blocks, sparse step "
     << r.model.encoder_sparse_step << ", vocab " << r.model.vocab_size << ", tied embeddings |\n"
     << "| experts | " << r.model.num_experts << " per MoE block |\n"
     << "| parameters | " << r.model.NumParams() << " (" << r.model.NumExpertParams() << " in experts), fp32 |\n"
     << "| tokenizer | `spiece.model` (" << r.data.tokenizer << ") |\n"
     << "| training | " << tr["steps"].get<int64_t>() << " steps, " << tr["tokens"].get<int64_t>()
     << " tokens (encoder+decoder), " << Fixed(in.train_seconds / 60, 1) << " min on 2 shared CPU cores, "
     << Fixed(tr["tokens_per_s"].get<double>(), 0) << " tokens/s; AdamW lr " << r.train.lr << " (" << r.train.schedule
     << "), batch " << r.train.batch_tokens << " tokens, aux loss " << r.train.aux_loss << ", z-loss "
     << r.train.z_loss << " |\n"
     << "| final train loss | " << Fixed(in.final_train_loss) << " nats |\n"
     << "| evaluation | protocol `" << j["protocol_id"].get<std::string>() << "`, " << dp.n_validation_per_domain
     << " validation samples per domain, fp32, docs/switch-semantics.md#evaluation-loss (mean CE per sample, weighted by decoder length) |\n\n"
     << "Validation loss (nats) per domain:\n\n| domain | loss | perplexity | unigram baseline | samples |\n"
     << "|---|---|---|---|---|\n";
  for (auto& [d, v] : domains.items())
    md << "| " << d << " | " << Fixed(v["loss_nats"].get<double>()) << " | " << Fixed(v["perplexity"].get<double>(), 2)
       << " | " << Fixed(v["unigram_loss_nats"].get<double>()) << " | " << v["n_samples"].get<int64_t>() << " |\n";
  md << "| **all** | **" << Fixed(j["aggregate"]["loss_nats"].get<double>()) << "** | "
     << Fixed(j["aggregate"]["perplexity"].get<double>(), 2) << " | "
     << Fixed(j["aggregate"]["unigram_loss_nats"].get<double>()) << " | " << all_loss.size() << " |\n\n"
     << "Unigram baseline: add-one-smoothed token frequencies of the training decoder targets, scored by the same "
     << "protocol.\n\nRouting entropy per MoE layer on the validation tokens (nats; uniform = "
     << Fixed(std::log(double(r.model.num_experts)), 3) << "):\n\n| layer | entropy | experts used |\n|---|---|---|\n";
  for (auto& [l, v] : ent.items())
    md << "| " << l << " | " << Fixed(v["entropy_nats"].get<double>(), 3) << " | " << v["experts_used"].get<int64_t>()
       << " / " << r.model.num_experts << " |\n";
  md << "\n`card.json` holds these numbers for tests (`experiments/eval/eval_test.cpp` recomputes them).\n";
  std::ofstream(dir / "README.md") << md.str();
}

}  // namespace qmoe
