#include "experiments/cost/cost_model.h"

#include <algorithm>
#include <cmath>

#include "framework/model/switch_names.h"

namespace qmoe::cost {

// GPTQ of one [r, c] matrix with a c x c Hessian: Cholesky of H, its inverse and the Cholesky of
// the inverse (~c³ together), then the column sweep that updates the r x c weights with every
// column of U (2·r·c²). An expert is wi [f, d] (c = d) plus wo [d, f] (c = f).
double GptqFlopsPerExpert(int64_t d, int64_t f) {
  const double D = double(d), F = double(f);
  return (D * D * D + 2 * F * D * D) + (F * F * F + 2 * D * F * F);
}

// One calibration row of an expert: H_wi += z zᵀ (2d²), a = relu(wi z) (2df), H_wo += a aᵀ (2f²).
double HessianFlopsPerToken(int64_t d, int64_t f) {
  const double D = double(d), F = double(f);
  return 2 * D * D + 2 * D * F + 2 * F * F;
}

// One block per token at sequence lengths enc_len / dec_len: q,k,v,o projections (8·d·inner), scores
// and context (4·L·inner), the expert or dense FF (4·d·f); the decoder adds cross-attention: q,o
// on its own tokens, k,v over the encoder's enc_len tokens (amortised per decoder token), scores
// and context over enc_len keys.
double BlockFlopsPerToken(const SwitchConfig& c, bool decoder, double enc_len, double dec_len) {
  const double d = double(c.d_model), inner = double(c.InnerDim()), f = double(c.d_ff);
  const double self_len = decoder ? dec_len : enc_len;
  double fl = 8 * d * inner + 4 * self_len * inner + 4 * d * f;
  if (decoder) fl += 4 * d * inner + 4 * d * inner * enc_len / std::max(dec_len, 1.0) + 4 * enc_len * inner;
  return fl;
}

double DtypeBytes(const SwitchConfig& c) { return c.dtype == "bfloat16" ? 2.0 : 4.0; }

int64_t DefaultCalibrationSamples(const SwitchConfig& c, double samples_per_expert, double mul) {
  return std::llround(mul * samples_per_expert * double(c.num_experts));
}

void SolveQuantizeMemory(double grown_wi, double grown_wo, int64_t d, int64_t f, int64_t group, bool uses_hessian,
                         double* per_weight, double* per_hessian_entry) {
  const double G = double(group), D = double(d), F = double(f);
  *per_hessian_entry = 0;
  if (uses_hessian && d != f) {
    // grown_wo - grown_wi = G·(f² - d²)·per_hessian_entry: the weights are the same size in both.
    *per_hessian_entry = std::max(0.0, (grown_wo - grown_wi) / (G * (F * F - D * D)));
    const double small = std::min(D, F);  // the step whose Hessian is smaller
    const double grown_small = D < F ? grown_wi : grown_wo;
    *per_weight = std::max(0.0, (grown_small - G * small * small * *per_hessian_entry) / (G * D * F));
  } else {
    *per_weight = std::max(0.0, std::max(grown_wi, grown_wo) / (G * D * F));
  }
}

Counts Count(const Workload& w) {
  const SwitchConfig& c = w.cfg;
  Counts n;
  for (const auto& t : SwitchTensorShapes(c)) {
    int64_t k = 1;
    for (int64_t s : t.shape) k *= s;
    (t.is_expert ? n.expert_params : n.dense_params) += k;
  }
  n.params = n.expert_params + n.dense_params;
  n.encoder_blocks = c.num_layers;
  n.decoder_blocks = c.num_decoder_layers;
  for (int64_t b = 0; b < c.num_layers; ++b) n.sparse_encoder_blocks += c.IsSparse(Stack::kEncoder, b);
  for (int64_t b = 0; b < c.num_decoder_layers; ++b) n.sparse_decoder_blocks += c.IsSparse(Stack::kDecoder, b);
  const double samples = double(w.calibration_samples + w.validation_samples);
  n.encoder_tokens = samples * w.encoder_tokens_per_sample;
  n.decoder_tokens = samples * w.decoder_tokens_per_sample;
  n.encoder_cal_tokens = double(w.calibration_samples) * w.encoder_tokens_per_sample;
  n.decoder_cal_tokens = double(w.calibration_samples) * w.decoder_tokens_per_sample;
  n.experts_quantized = double(n.sparse_encoder_blocks + n.sparse_decoder_blocks) * double(c.num_experts);
  n.read_bytes = double(n.params) * w.checkpoint_bytes_per_param;
  n.write_bytes = double(n.expert_params) * w.bits_per_expert_param / 8 + double(n.dense_params) * w.checkpoint_bytes_per_param;
  n.embedding_loads = 2 * samples + double(w.validation_samples);
  n.embedding_reload_bytes = n.embedding_loads * double(c.vocab_size) * double(c.d_model) * w.checkpoint_bytes_per_param;
  n.gptq_flops = n.experts_quantized * GptqFlopsPerExpert(c.d_model, c.d_ff);
  n.hessian_flops = (double(n.sparse_encoder_blocks) * n.encoder_cal_tokens +
                     double(n.sparse_decoder_blocks) * n.decoder_cal_tokens) *
                    HessianFlopsPerToken(c.d_model, c.d_ff);
  const double le = w.encoder_tokens_per_sample, ld = w.decoder_tokens_per_sample;
  n.forward_flops = double(n.encoder_blocks) * n.encoder_tokens * BlockFlopsPerToken(c, false, le, ld) +
                    double(n.decoder_blocks) * n.decoder_tokens * BlockFlopsPerToken(c, true, le, ld);
  n.head_flops = double(w.validation_samples) * ld * 2 * double(c.d_model) * double(c.vocab_size);
  // Device-memory traffic (fp32 GPTQ): per expert matrix H, its factor and inverse (4 c² words)
  // and W, its working copy and Q (3 r·c words); per block the buffer rows are read and written.
  const double D = double(c.d_model), F = double(c.d_ff);
  n.gpu_bytes = n.experts_quantized * 4 * (4 * (D * D + F * F) + 3 * 2 * D * F) +
                2 * (double(n.encoder_blocks) * n.encoder_tokens + double(n.decoder_blocks) * n.decoder_tokens) * D *
                    DtypeBytes(c);
  return n;
}

Projection Project(const Workload& w, const ShapeRates& r, const IoRates& io, const GpuPeak& gpu) {
  const SwitchConfig& c = w.cfg;
  Projection p;
  p.n = Count(w);
  const Counts& n = p.n;
  p.read_s = n.read_bytes / io.read_bytes_per_second;
  p.write_s = n.write_bytes / io.write_bytes_per_second;
  p.embed_s = n.embedding_reload_bytes / io.hot_load_bytes_per_second;
  p.gptq_s = n.experts_quantized * r.gptq_seconds_per_expert;
  p.hessian_s = (double(n.sparse_encoder_blocks) * n.encoder_cal_tokens +
                 double(n.sparse_decoder_blocks) * n.decoder_cal_tokens) *
                r.hessian_seconds_per_token;
  // The LM head on validation tokens runs at the encoder block's FLOP rate.
  const double le = w.encoder_tokens_per_sample, ld = w.decoder_tokens_per_sample;
  const double block_rate = BlockFlopsPerToken(c, false, le, ld) / r.encoder_seconds_per_token;
  p.forward_s = double(n.encoder_blocks) * n.encoder_tokens * r.encoder_seconds_per_token +
                double(n.decoder_blocks) * n.decoder_tokens * r.decoder_seconds_per_token + n.head_flops / block_rate;
  p.cpu_seconds = p.read_s + p.embed_s + p.gptq_s + p.hessian_s + p.forward_s + p.write_s;

  const double flops = n.gptq_flops + n.hessian_flops + n.forward_flops + n.head_flops;
  const double compute = std::max(flops / (gpu.flops * gpu.efficiency), n.gpu_bytes / (gpu.bytes_per_second * gpu.efficiency));
  const double B = DtypeBytes(c), D = double(c.d_model), F = double(c.d_ff);
  const double pcie = 2 * (double(n.encoder_blocks) * n.encoder_tokens + double(n.decoder_blocks) * n.decoder_tokens) * D *
                      B / gpu.pcie_bytes_per_second;
  p.gpu_seconds = p.read_s + p.embed_s + compute + pcie + p.write_s;

  // Peak RAM (experiments/compress/pipeline.cpp; docs/cost-model.md): the process itself; the
  // embedding (and untied head) plus one block's attention, cached in the compute dtype; the token
  // buffer, which in the decoder phase holds the decoder rows and the encoder outputs; one expert
  // group at its wo step; the block's packed experts; the group's calibration inputs Z [rows, d]
  // and A [rows, f] in fp32. At the wo step the pipeline holds the group's stacked Hessians (fp32)
  // and, per weight, the per-expert fp32 copies and their stack (4 + 4), the quantized wi (4), the
  // original wi as the checkpoint stores it, and the fake-quantized wi in the compute dtype when that
  // is not fp32 (in fp32 it is a view of the quantized wi); the method's Quantize adds what the cost
  // run measured. Cost runs without that measurement fall back to counted copies: 5 more of each
  // Hessian (PrepareHessian's clone, H + λI, its factor, the inverse, the inverse's factor) and 3·4
  // + 2·b bytes per weight in all.
  const double G = double(std::min<int64_t>(w.group_experts, c.num_experts));
  const double cmax = std::max(D, F);
  p.ram_embedding = double(c.vocab_size) * D * B * (c.tie_word_embeddings ? 1 : 2) + 8 * D * double(c.InnerDim()) * B;
  if (r.quantize_bytes_per_weight > 0) {
    p.ram_hessians = w.uses_hessian ? G * cmax * cmax * (4 + r.quantize_bytes_per_hessian_entry) : 0;
    p.ram_expert_weights = G * D * F * (4 + 4 + 4 + w.checkpoint_bytes_per_param + (B < 4 ? B : 0) +
                                        r.quantize_bytes_per_weight);
  } else {
    p.ram_hessians = w.uses_hessian ? 6 * G * cmax * cmax * 4 : 0;
    p.ram_expert_weights = G * D * F * (3 * 4 + 2 * B);
  }
  p.ram_packed = double(c.num_experts) * 2 * D * F * w.bits_per_expert_param / 8;
  // Encoder phase: its buffer and its calibration rows; decoder phase: its buffer, the encoder
  // outputs, and its (shorter) calibration rows. The larger of the two.
  const double per_row = G * (D + F) * 4 / double(c.num_experts);
  const double enc_buf = n.encoder_tokens * D * B, enc_act = n.encoder_cal_tokens * per_row;
  const double dec_buf = (n.encoder_tokens + n.decoder_tokens) * D * B, dec_act = n.decoder_cal_tokens * per_row;
  const bool enc_peak = enc_buf + enc_act >= dec_buf + dec_act;
  p.ram_buffer = enc_peak ? enc_buf : dec_buf;
  p.ram_activations = enc_peak ? enc_act : dec_act;
  p.peak_ram_bytes = io.base_rss_bytes + p.ram_embedding + p.ram_buffer + p.ram_hessians + p.ram_expert_weights +
                     p.ram_packed + p.ram_activations;
  p.disk_bytes = n.read_bytes + n.write_bytes;
  return p;
}

}  // namespace qmoe::cost
