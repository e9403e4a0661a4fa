// The cost model of the sequential compression pipeline (docs/cost-model.md): from rates measured by
// the `cost` experiment (seconds per expert, per token, bytes per second) and a model's config it
// projects wall time, peak RAM and disk for compressing that model, on this CPU and on a GPU of a
// stated peak. Pure arithmetic: no I/O, so the formulas are tested against hand-computed values.
#pragma once
#include <cstdint>
#include <string>

#include "framework/model/switch_config.h"

namespace qmoe::cost {

// Rates of one expert shape (d_model x d_ff at a compute dtype), measured or extrapolated.
struct ShapeRates {
  double gptq_seconds_per_expert = 0;      // wi and wo of one expert: Hessian prep + GPTQ + the method's code
  double hessian_seconds_per_token = 0;    // one calibration row: Z·Zᵀ, A = relu(wi z), A·Aᵀ
  double encoder_seconds_per_token = 0;    // one encoder block (attention + router + one expert) per token
  double decoder_seconds_per_token = 0;    // one decoder block (self + cross attention + expert) per token
  double achieved_flops = 0;               // FLOP/s of the GPTQ measurement (to extrapolate other shapes)
  bool extrapolated = false;               // true: scaled by FLOPs from another measured shape
  // RSS growth of the method's Quantize call (its private copies, working tensors and outputs), per
  // element of the group's weights and of its Hessians (0 for methods without): measured on wi and
  // wo. Absent (0) in cost runs older than these metrics: the code-derived counts are used then.
  double quantize_bytes_per_weight = 0;
  double quantize_bytes_per_hessian_entry = 0;
};

// Machine-wide rates from the same cost run.
struct IoRates {
  double read_bytes_per_second = 0;   // safetensors checkpoint read (cold when the page cache was dropped)
  double write_bytes_per_second = 0;  // compressed output write (fsynced)
  double base_rss_bytes = 0;          // resident size of the process before any model work
  double hot_load_bytes_per_second = 0;  // a tensor read again from the page cache and cast to fp32
};

// What to compress and how (the compress experiment's knobs).
struct Workload {
  SwitchConfig cfg;
  int64_t calibration_samples = 0;
  int64_t validation_samples = 0;
  double encoder_tokens_per_sample = 0;
  double decoder_tokens_per_sample = 0;
  int64_t group_experts = 16;
  double bits_per_expert_param = 1.0;  // compressed experts (dict at real shapes: ~0.95)
  double checkpoint_bytes_per_param = 2;  // bf16 on disk (synthetic checkpoints; HF base models are fp32 = 4)
  bool uses_hessian = true;  // false: a method without Hessians (RTN-based dict/rans): no Hessian copies in RAM
};

// A GPU of stated peak; the pipeline's compute runs at peak·efficiency, the token buffer crosses
// PCIe twice per block, and disk I/O keeps this machine's measured rates.
struct GpuPeak {
  std::string name = "A6000";
  double flops = 38.7e12;      // fp32 FLOP/s
  double bytes_per_second = 768e9;
  double pcie_bytes_per_second = 25e9;
  double efficiency = 0.5;
};

// Counted work of a workload: every input of the formulas, printed by the report.
struct Counts {
  int64_t params = 0, expert_params = 0, dense_params = 0;
  int64_t sparse_encoder_blocks = 0, sparse_decoder_blocks = 0, encoder_blocks = 0, decoder_blocks = 0;
  double encoder_tokens = 0, decoder_tokens = 0;            // buffer rows per stack (calibration + validation)
  double encoder_cal_tokens = 0, decoder_cal_tokens = 0;    // rows that enter Hessians, per sparse block
  double experts_quantized = 0;                             // sparse blocks x experts
  double read_bytes = 0, write_bytes = 0;
  // The streaming pipeline reloads the embedding for every sample's embedding lookup in each stack
  // and the embedding (tied) or lm_head (untied) for every validation sample's logits.
  double embedding_loads = 0, embedding_reload_bytes = 0;
  double gptq_flops = 0, hessian_flops = 0, forward_flops = 0, head_flops = 0;
  double gpu_bytes = 0;                                     // device-memory traffic for the roofline
};

struct Projection {
  Counts n;
  double read_s = 0, embed_s = 0, gptq_s = 0, hessian_s = 0, forward_s = 0, write_s = 0, cpu_seconds = 0;
  double gpu_seconds = 0;
  double peak_ram_bytes = 0, disk_bytes = 0;
  // Peak RAM terms (bytes).
  double ram_buffer = 0, ram_embedding = 0, ram_hessians = 0, ram_expert_weights = 0, ram_activations = 0;
  double ram_packed = 0;  // the block's packed experts, held until the block's file is written
};

// FLOPs of the primitives (also what the cost experiment records next to its timings).
double GptqFlopsPerExpert(int64_t d_model, int64_t d_ff);     // wi [f,d] and wo [d,f]
double HessianFlopsPerToken(int64_t d_model, int64_t d_ff);
double BlockFlopsPerToken(const SwitchConfig& c, bool decoder, double enc_len, double dec_len);
// The compute dtype's bytes per element.
double DtypeBytes(const SwitchConfig& c);
// Solves the two Quantize measurements of one expert shape d x f (RSS growth of a G-expert call on
// wi [f,d] with Hessians d x d, and on wo [d,f] with Hessians f x f) for the per-element terms:
// grown = G·d·f·per_weight + G·c²·per_hessian_entry. Without Hessians (or when the two steps leave
// no room for a Hessian term) per_hessian_entry is 0 and per_weight the larger step's.
void SolveQuantizeMemory(double grown_wi, double grown_wo, int64_t d, int64_t f, int64_t group, bool uses_hessian,
                         double* per_weight, double* per_hessian_entry);
// Calibration samples by the compress experiment's rule: round(mul · per_expert · experts).
int64_t DefaultCalibrationSamples(const SwitchConfig& c, double samples_per_expert = 78.125, double mul = 1.0);

Counts Count(const Workload& w);
Projection Project(const Workload& w, const ShapeRates& r, const IoRates& io, const GpuPeak& gpu);

}  // namespace qmoe::cost
