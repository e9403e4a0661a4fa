// `qmoe train --recipe configs/train/<name>.yaml [--resume] [section.key=value ...]`: trains a
// Switch model on the CPU from a recipe, with resumable checkpoints, and exports it in HF layout
// (config.json, safetensors, spiece.model) plus a model card (card.json, README.md) with the
// validation loss per domain (docs/switch-semantics.md#evaluation-loss), the unigram baseline and the routing entropy per MoE layer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "experiments/train/train_recipe.h"

namespace qmoe {

struct TrainOptions {
  bool resume = false;       // continue from <out_dir>/<name>/checkpoint when it exists
  std::string repo_root;     // paths in the recipe are relative to it ("" = QMOE_SOURCE_DIR)
  bool export_model = true;  // write the HF model + card at the end
  int64_t stop_after_steps = -1;  // >= 0: stop (with a checkpoint) at this step, as if interrupted
};

struct TrainSummary {
  int64_t steps = 0;
  int64_t tokens = 0;        // encoder + decoder tokens seen (no padding)
  double train_seconds = 0;  // optimizer loop time, summed over resumed sessions
  double final_loss = 0;     // mean CE of the last log window
  double first_loss = 0;     // CE of the first step of this session
  std::string checkpoint_dir, export_dir;
  std::vector<double> losses;  // CE per step of this session
};

// Applies "section.key=value" overrides to a recipe's YAML before it is parsed.
TrainRecipe LoadRecipeWithOverrides(const std::string& path, const std::vector<std::string>& overrides);

// Loads (and caches) the train split's chunks, then TrainOnChunks.
TrainSummary RunTraining(const TrainRecipe& recipe, const TrainOptions& opts);
// The training loop on given chunks (token ids incl. EOS); tests use it with small data.
TrainSummary TrainOnChunks(const TrainRecipe& recipe, const TrainOptions& opts, std::vector<std::vector<int32_t>> chunks);

// The CLI command: returns the exit status.
int TrainCommand(const std::vector<std::string>& args);

}  // namespace qmoe
