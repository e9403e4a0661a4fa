// The QMoE sequential, offloaded compression pipeline: one CPU activation
// buffer holds every calibration and validation token; each MoE block is compressed from the
// Hessians of its own routed calibration tokens, then all tokens are propagated through the
// compressed experts; the validation loss of the compressed model falls out of the same pass.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "experiments/eval/span_loss.h"
#include "framework/data/samples.h"
#include "framework/model/switch_model.h"
#include "methods/method.h"

namespace qmoe {

struct PipelineOptions {
  int64_t group_experts = 16;    // experts quantized together in one batched call (G)
  double token_cap_mul = 4.0;    // cap = floor(mul · T_cal / E) calibration tokens per expert
  bool true_sequential = false;  // H_wo from the activations of the quantized wi
  std::string save_dir;          // write a compressed model directory here ("" = don't)
  // Where blocks compute (the model's ModelOptions::device must match). On CUDA the token buffer
  // stays in pinned CPU memory; one block's weights and the activations it works on move to the
  // GPU, Hessians (fp32) and GPTQ run there, results come back to the buffer (docs/gpu.md).
  c10::Device device = c10::Device(c10::kCPU);
};

// One expert matrix's record.
struct ExpertRecord {
  Stack stack;
  int64_t block = 0, expert = 0;
  std::string matrix;            // "wi" | "wo"
  int64_t routed = 0;            // buffer tokens routed to the expert (calibration + validation)
  int64_t calibration_tokens = 0;  // rows that entered its Hessian
  bool cap_hit = false;          // more calibration tokens were routed than the cap
  double hessian_trace = 0;
  double rel_error = 0;          // ||W - Q||_F / ||W||_F
  double natural_sparsity = 0;   // share of exact zeros in Q
  double storage_bits = 0;
  double seconds = 0;            // its share of the group's quantization time
  std::map<std::string, double> stats;  // the method's own per-matrix stats
  std::string note;              // e.g. a Cholesky fallback
};

struct LayerRecord {
  Stack stack;
  int64_t block = 0;
  bool sparse = false;
  double seconds = 0;            // wall time of the whole block (attention, routing, experts)
  double compress_seconds = 0;   // Hessians + quantization of its experts only
};

struct PipelineResult {
  std::map<std::string, DomainLoss> loss;  // per validation set name, plus "all" (SpanLossByDomain)
  double seconds = 0;
  double expert_bits = 0;        // exact storage of the compressed experts
  int64_t expert_params = 0;
  int64_t calibration_tokens = 0, validation_tokens = 0;
  int64_t fallbacks = 0;
};

struct PipelineCallbacks {
  std::function<void(const ExpertRecord&)> on_expert;
  std::function<void(const LayerRecord&)> on_layer;
};

// `weights` must be the model's WeightSource (the pipeline substitutes quantized experts in it).
// `method` == nullptr runs the uncompressed model (the BF16/fp32 baseline) through the same pass.
// Validation samples never enter a Hessian: only buffer positions < T_cal are calibration rows.
PipelineResult RunPipeline(SwitchModel& model, OverlayWeights& weights, const Method* method,
                           const std::string& method_key, const ParamMap& method_params, int method_version,
                           const std::vector<data::Sample>& calibration,
                           const std::vector<data::SampleSet>& validation, const PipelineOptions& opt,
                           const PipelineCallbacks& cb = {});

// Positions of `routed` (ascending buffer positions routed to one expert) that may enter its
// Hessian: the first `cap` routed positions (cap < 0: no cap) that are calibration tokens
// (< t_cal) and kept by the premask. Exposed for tests: validation positions never pass.
std::vector<int64_t> CalibrationRows(const std::vector<int64_t>& routed, int64_t cap, int64_t t_cal,
                                     const std::vector<uint8_t>& keep);

// Span-corruption loss of one sample from its logits [L, V] and decoder ids: the mean CE of
// logits[0..L-2] predicting ids[1..L-1], in fp32.
double SampleLoss(const at::Tensor& logits, const std::vector<int32_t>& decoder_ids);

}  // namespace qmoe
