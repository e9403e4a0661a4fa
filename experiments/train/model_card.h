// Export of a trained model in Hugging Face layout and its model card: card.json (machine-readable,
// read back by eval_test) and README.md (the same numbers for people).
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "experiments/train/train_data.h"
#include "experiments/train/train_recipe.h"

namespace qmoe {

// config.json (path = dir), weights in the recipe's layout (safetensors / sharded at max_shard_mb),
// spiece.model copied. Replaces an existing export.
void ExportHfModel(const std::filesystem::path& dir, const TrainRecipe& r,
                   const std::vector<std::pair<std::string, at::Tensor>>& tensors, const std::filesystem::path& spiece);

struct CardInputs {
  const TrainRecipe& recipe;
  int64_t steps = 0, tokens = 0;
  double train_seconds = 0, final_train_loss = 0;
  std::string recipe_sha256;
};

// Card numbers use the reloaded export (Checkpoint::Open), so they test the export path too.
// kCardCheckSamples: the first N samples per domain also get their own aggregate ("check"), which
// eval_test recomputes quickly; the full numbers are checked with QMOE_FULL_CARD_CHECK=1.
inline constexpr int64_t kCardCheckSamples = 8;
inline constexpr int64_t kCardEvalBatch = 8;
void WriteModelCard(const std::filesystem::path& dir, const CardInputs& in, const TrainStream& stream,
                    const std::string& repo_root);

}  // namespace qmoe
