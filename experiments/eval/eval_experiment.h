// Experiment type `eval`: the span-corruption validation loss of the model named by the `model`
// section (its `path`, HF layout) on the validation sets of the `data` section, per domain and over
// all domains. Records loss_nats / perplexity / validation_samples / validation_targets (domain
// label; '' = all domains; rows written before these names carry n_samples / n_targets), and the
// protocol id + dtype as run params (eval.protocol_id, eval.dtype); prints a per-domain table.
// It draws nothing at random (the validation sets are fixed by data.seed), so the top-level seed
// is not part of its run key. `qmoe eval model=NAME [data.*=...]` runs it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "experiments/experiment.h"
#include "framework/model/switch_model.h"

namespace qmoe {

class EvalExperiment : public Experiment {
 public:
  struct Params {
    int64_t batch_size = 8;
    bool routing = true;
    template <class V>
    void Visit(V&& v) {
      v(batch_size, "batch_size", "samples per forward (padded); the loss does not depend on it", Range{1, 4096});
      v(routing, "routing", "also record the routing entropy per MoE layer (nats)");
    }
  };
  explicit EvalExperiment(Params p) : p_(p) {}
  void Run(RunContext& ctx) override;

 private:
  Params p_;
};

// A model directory named by a config: relative paths are tried against the working directory,
// then the source tree (ResolveRepoPath). Errors name the config key.
std::string ResolveModelPath(const std::string& path, const std::string& key);
// The folder the `data` section's relative paths are read against: the working directory when it
// holds data/tokenizer, else the source tree.
std::string DataRoot();
// Loads the model of a `model` section: the architecture comes from <path>/config.json and must
// match the section's keys (Error naming the key and both values); dtype and expert_capacity
// come from the section.
std::unique_ptr<SwitchModel> LoadSectionModel(const SwitchConfig& section, ModelOptions opts = {});
// The checked config of a `model` section (as LoadSectionModel uses it), with `path` resolved.
SwitchConfig ResolveSectionConfig(const SwitchConfig& section);
// The weights of a resolved model directory: a Hugging Face checkpoint, or a qmoe compressed model
// directory (qmoe.json), whose experts are decoded by their method.
std::shared_ptr<const WeightSource> OpenSectionWeights(const SwitchConfig& resolved);

}  // namespace qmoe
