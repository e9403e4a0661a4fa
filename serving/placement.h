// Multi-GPU placement of a model for serving (device=cuda:0,1,2,3): which GPU holds each layer
// and, where one layer does not fit on one GPU, which GPU holds which of its experts. A pure
// function of byte counts and budgets, tested on the CPU for every configs/model entry
// (placement_test).
//
// The layers stay in forward order (embedding, encoder blocks, decoder blocks) and are cut
// into contiguous runs, one run per GPU, so activations cross a GPU boundary once per run
// boundary. The cut points follow the budgets: GPU i takes about budget_i / sum(budgets) of the
// bytes (each GPU keeps slack for its activations); a layer too big for what is left of its GPU
// keeps its dense part (attention, norms, router) there and spreads its experts, in index order,
// over the following GPUs. When this balanced cut fails, the plain fill (each GPU up to its
// budget) is tried; when that fails too, one Error names the layer and the bytes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "framework/model/switch_config.h"

namespace qmoe {

struct LayerNeed {
  std::string name;          // "embed", "encoder.block.3", "decoder.block.0"
  int64_t dense_bytes = 0;   // everything but the experts; never split
  int64_t experts = 0;       // experts of a MoE block (0 for dense layers)
  int64_t expert_bytes = 0;  // one expert (wi + wo) as stored on the GPU
  int64_t Bytes() const { return dense_bytes + experts * expert_bytes; }
};

// The layers of `cfg` in forward order. Experts cost expert_bits_per_param bits per parameter
// (16 = bf16; ~0.8-1.0 for the dict code), everything else dense_bits_per_param (16 = bf16).
// The encoder's final norm joins the last encoder block, the decoder's final norm and an untied LM
// head the last decoder block, as SwitchModel places them (ModelOptions::block_device). A tied
// head multiplies with the embedding where "embed" lives: SwitchModel moves the final hidden
// states there, one more transfer per pass than `transfers` counts.
std::vector<LayerNeed> ModelLayerNeeds(const SwitchConfig& cfg, double expert_bits_per_param,
                                       double dense_bits_per_param = 16);

struct ExpertRun {
  int64_t begin = 0, end = 0;  // experts [begin, end)
  int gpu = 0;                 // index into the budget list (not the CUDA ordinal)
};

struct LayerPlace {
  std::string name;
  int gpu = 0;                     // the dense part and the activations
  std::vector<ExpertRun> experts;  // ascending, covering [0, experts) exactly; empty without experts
  bool Split() const;              // some expert lives on another GPU than the dense part
};

struct Placement {
  std::vector<LayerPlace> layers;
  std::vector<int64_t> used;  // bytes per GPU
  // Activation moves per forward pass: one per consecutive pair of layers on different GPUs, and
  // for a split layer two per extra GPU (its tokens there and back).
  int64_t transfers = 0;
  bool balanced = true;  // false: the balanced cut failed and the plain fill was used
};

// budgets: bytes each listed GPU may hold (after the caller's reserve for activations and
// workspace). Throws qmoe::Error when the layers do not fit, naming the layer and the bytes.
Placement PlaceLayers(const std::vector<LayerNeed>& layers, const std::vector<int64_t>& budgets);

// For logs and docs: "gpu0: embed..encoder.block.5 (41.2 GB); gpu1: ...".
std::string DescribePlacement(const Placement& p);

}  // namespace qmoe
