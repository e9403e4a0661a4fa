// A training recipe (configs/train/<name>.yaml): the architecture (a `model` section with the
// SwitchConfig keys), the data protocol (`data`, the DataParams keys) and the optimisation (`train`).
// Keys reach disk (recipes, model cards): never rename them.
#pragma once
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>

#include "framework/core/params.h"
#include "framework/data/samples.h"
#include "framework/model/switch_config.h"

namespace qmoe {

struct TrainParams {
  std::string domains = "sotu,brown,austen,kjv,fortunes,pydocs";  // train splits, interleaved
  int64_t max_tokens = 568;       // longest training chunk incl. EOS (chunked-v1, as evaluation)
  int64_t batch_tokens = 4096;    // encoder + decoder tokens per step (at least one sample)
  int64_t max_steps = 1000;       // stop after this many steps
  double time_budget_s = 0;       // > 0: also stop when this much training time has passed
  double lr = 1e-3;
  double min_lr_ratio = 0.1;      // final lr = lr * min_lr_ratio (cosine)
  int64_t warmup_steps = 50;
  std::string schedule = "cosine";
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.98, eps = 1e-8;
  double grad_clip = 1.0;
  double aux_loss = 0.01;         // Switch load-balancing loss coefficient (alpha)
  double z_loss = 1e-3;           // router z-loss coefficient
  double router_init_scale = 1.0;
  int64_t seed = 1;               // weights, document order and span-corruption masks
  int64_t threads = 1;            // at::set_num_threads
  int64_t log_every = 10;
  int64_t checkpoint_every = 100;
  std::string out_dir = "build/train/runs";  // checkpoints under <out_dir>/<model.name>/
  std::string export_dir = "models";         // final model under <export_dir>/<model.name>/
  std::string layout = "safetensors";        // or safetensors_sharded
  int64_t max_shard_mb = 15;
  int64_t eval_samples_per_domain = 128;     // final evaluation for the model card (0 = skip)

  template <class V>
  void Visit(V&& v) {
    v(domains, "domains", "comma-separated domains whose train split is used");
    v(max_tokens, "max_tokens", "longest training chunk in tokens incl. EOS", Range{8, 1e6});
    v(batch_tokens, "batch_tokens", "encoder+decoder tokens per optimizer step", Range{1, 1e9});
    v(max_steps, "max_steps", "optimizer steps", Range{1, 1e9});
    v(time_budget_s, "time_budget_s", "> 0: stop after this much training time (the schedule follows it)",
      Range{0, 1e9});
    v(lr, "lr", "peak learning rate", Range{0, 10});
    v(min_lr_ratio, "min_lr_ratio", "final learning rate as a fraction of lr", Range{0, 1});
    v(warmup_steps, "warmup_steps", "linear warmup steps", Range{0, 1e9});
    v(schedule, "schedule", "decay after warmup", Choices{{"cosine", "inverse_sqrt", "constant"}});
    v(weight_decay, "weight_decay", "AdamW decoupled weight decay (matrices only)", Range{0, 10});
    v(beta1, "beta1", "AdamW beta1", Range{0, 1});
    v(beta2, "beta2", "AdamW beta2", Range{0, 1});
    v(eps, "eps", "AdamW epsilon", Range{0, 1});
    v(grad_clip, "grad_clip", "global gradient-norm clip (0 = off)", Range{0, 1e9});
    v(aux_loss, "aux_loss", "load-balancing loss coefficient (Switch: 0.01)", Range{0, 10});
    v(z_loss, "z_loss", "router z-loss coefficient", Range{0, 10});
    v(router_init_scale, "router_init_scale", "scale of the random router init", Range{0, 100});
    v(seed, "seed", "seed of weights, document order and masks", Range{0, 4294967295.0});
    v(threads, "threads", "LibTorch intra-op threads", Range{1, 256});
    v(log_every, "log_every", "steps between log lines", Range{1, 1e9});
    v(checkpoint_every, "checkpoint_every", "steps between resumable checkpoints", Range{1, 1e9});
    v(out_dir, "out_dir", "checkpoint folder (relative to the repo root)");
    v(export_dir, "export_dir", "final HF-layout model folder (relative to the repo root)");
    v(layout, "layout", "export layout", Choices{{"safetensors", "safetensors_sharded"}});
    v(max_shard_mb, "max_shard_mb", "shard size for safetensors_sharded", Range{1, 1e6});
    v(eval_samples_per_domain, "eval_samples_per_domain", "validation samples per domain for the card",
      Range{0, 1e6});
  }
};

struct TrainRecipe {
  std::string path;  // the recipe file
  SwitchConfig model;
  data::DataParams data;
  TrainParams train;
};

// Reads a recipe; unknown keys or sections, bad values and an inconsistent architecture are
// Errors naming the file and key.
TrainRecipe LoadRecipe(const std::string& path);
TrainRecipe RecipeFromYaml(const YAML::Node& root, const std::string& where);

// Values of one YAML map section for a Visit-able struct, checked against its specs.
template <class P>
P ReadParamSection(const YAML::Node& node, const std::string& where);
ParamMap ReadParamMap(const YAML::Node& node, const std::vector<ParamSpec>& specs, const std::string& where);

template <class P>
P ReadParamSection(const YAML::Node& node, const std::string& where) {
  return FromParamMap<P>(ReadParamMap(node, SpecsOf<P>(), where));
}

}  // namespace qmoe
