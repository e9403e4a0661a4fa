// `qmoe synth`: writes a synthetic Hugging Face Switch checkpoint with a configs/model entry's true
// shapes (see synth_weights.h for the weights), streamed one shard at a time.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/synth/synth_weights.h"
#include "framework/model/switch_config.h"

namespace qmoe::synth {

struct SynthOptions {
  SwitchConfig cfg;                  // shapes to write (layers/experts already applied)
  std::filesystem::path out;         // new directory
  uint64_t seed = 0;
  double expert_shape = kExpertShape;  // beta of the experts' law
  uint64_t shard_bytes = 2'000'000'000ull;
  std::filesystem::path tokenizer;   // spiece.model copied next to the weights
  std::string command_line;          // recorded in the model card
};

struct SynthSummary {
  int64_t tensors = 0, shards = 0;
  uint64_t bytes = 0;          // tensor bytes (bf16)
  double seconds = 0;
  int64_t peak_rss_bytes = 0;  // VmHWM at the end
  int64_t start_rss_bytes = 0; // VmRSS before the first shard (LibTorch and the config)
  uint64_t largest_shard_bytes = 0;
};

// Writes config.json (with "qmoe_synthetic": true), model-0000k-of-0000n.safetensors shards in
// bf16, model.safetensors.index.json, spiece.model and a README.md model card. Errors name the
// directory: it must not hold a checkpoint already, and its filesystem must have room.
SynthSummary WriteSyntheticCheckpoint(const SynthOptions& o);

// True when `model_dir` (as given, or under the source tree) holds a config.json written by
// `qmoe synth` ("qmoe_synthetic": true). Runs on such a model record model.synthetic = true.
bool IsSyntheticCheckpoint(const std::string& model_dir);

// The command: qmoe synth model=NAME out=DIR [layers=N] [experts=E] [seed=S] [shard_mb=M] [shape=BETA]
int SynthCommand(const std::vector<std::string>& args);

}  // namespace qmoe::synth
