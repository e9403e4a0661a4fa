// The cost model's formulas against values computed by hand (docs/cost-model.md) for a 2+2-block
// model small enough to count every tensor on paper, with fixed rates.
#include "experiments/cost/cost_model.h"

#include <gtest/gtest.h>

#include <cmath>

namespace qmoe::cost {
namespace {

// Every value below is a sum or product of < 20 small integers and a few divisions in double, so
// rounding stays below 20 ulps (~5e-15 relative).
constexpr double kRel = 1e-13;
#define EXPECT_CLOSE(a, b) EXPECT_NEAR((a), (b), kRel * std::abs(double(b)))

SwitchConfig Tiny() {
  SwitchConfig c;
  c.name = "hand";
  c.d_model = 4, c.d_ff = 8, c.num_heads = 1, c.d_kv = 4;
  c.num_layers = c.num_decoder_layers = 2;
  c.num_experts = 2;
  c.encoder_sparse_step = c.decoder_sparse_step = 2;  // block 1 of each stack is MoE
  c.vocab_size = 10;
  c.tie_word_embeddings = true;
  c.dtype = "float32";
  c.relative_attention_num_buckets = 32;
  return c;
}

Workload TinyWork() {
  Workload w;
  w.cfg = Tiny();
  w.calibration_samples = 10, w.validation_samples = 6;
  w.encoder_tokens_per_sample = 5, w.decoder_tokens_per_sample = 3;
  w.group_experts = 16;  // more than the 2 experts: G = 2
  w.bits_per_expert_param = 1.0;
  w.checkpoint_bytes_per_param = 2;
  return w;
}

TEST(CostModel, PrimitiveFlopsByHand) {
  // wi [8,4]: 4³ + 2·8·4² = 320; wo [4,8]: 8³ + 2·4·8² = 1024.
  EXPECT_CLOSE(GptqFlopsPerExpert(4, 8), 1344.0);
  EXPECT_CLOSE(HessianFlopsPerToken(4, 8), 224.0);  // 2·16 + 2·32 + 2·64
  // Encoder: 8·4·4 + 4·5·4 + 4·4·8 = 336. Decoder: 8·4·4 + 4·3·4 + 4·4·8 + 4·4·4 + 4·4·4·5/3 + 4·5·4.
  EXPECT_CLOSE(BlockFlopsPerToken(Tiny(), false, 5, 3), 336.0);
  EXPECT_CLOSE(BlockFlopsPerToken(Tiny(), true, 5, 3), 304.0 + 64.0 + 320.0 / 3.0 + 80.0);
}

TEST(CostModel, CalibrationRuleIsThePapers) {
  SwitchConfig c = Tiny();
  c.num_experts = 128;
  EXPECT_EQ(DefaultCalibrationSamples(c), 10000);
  c.num_experts = 2048;
  EXPECT_EQ(DefaultCalibrationSamples(c), 160000);
  EXPECT_EQ(DefaultCalibrationSamples(c, 78.125, 0.5), 80000);
}

TEST(CostModel, CountsByHand) {
  const Counts n = Count(TinyWork());
  // shared 40; encoder block 0: attention 64 + relative bias 32 + 2 norms 8 + dense FF 64 = 168,
  // block 1: 64 + 8 + router 8 + experts 128 = 208, final norm 4; decoder block 0: two attentions
  // 128 + bias 32 + 3 norms 12 + FF 64 = 236, block 1: 128 + 12 + 8 + 128 = 276, final norm 4.
  EXPECT_EQ(n.params, 936);
  EXPECT_EQ(n.expert_params, 256);
  EXPECT_EQ(n.dense_params, 680);
  EXPECT_EQ(n.sparse_encoder_blocks, 1);
  EXPECT_EQ(n.sparse_decoder_blocks, 1);
  EXPECT_CLOSE(n.encoder_tokens, 80.0);
  EXPECT_CLOSE(n.decoder_tokens, 48.0);
  EXPECT_CLOSE(n.experts_quantized, 4.0);
  EXPECT_CLOSE(n.read_bytes, 1872.0);
  EXPECT_CLOSE(n.write_bytes, 32.0 + 1360.0);
  EXPECT_CLOSE(n.embedding_loads, 38.0);
  EXPECT_CLOSE(n.embedding_reload_bytes, 38.0 * 40 * 2);
  EXPECT_CLOSE(n.gptq_flops, 5376.0);
  EXPECT_CLOSE(n.hessian_flops, 80.0 * 224.0);
  EXPECT_CLOSE(n.forward_flops, 2 * 80 * 336.0 + 2 * 48 * (304.0 + 64.0 + 320.0 / 3.0 + 80.0));
  EXPECT_CLOSE(n.head_flops, 6 * 3 * 2 * 4 * 10.0);
  EXPECT_CLOSE(n.gpu_bytes, 8192.0 + 8192.0);
}

TEST(CostModel, ProjectionByHand) {
  ShapeRates r;
  r.gptq_seconds_per_expert = 2, r.hessian_seconds_per_token = 0.01;
  r.encoder_seconds_per_token = 0.001, r.decoder_seconds_per_token = 0.002;
  IoRates io{100, 10, 1000, 50};
  GpuPeak gpu{"hand", 1000, 100, 50, 0.5};
  const Projection p = Project(TinyWork(), r, io, gpu);
  EXPECT_CLOSE(p.read_s, 18.72);
  EXPECT_CLOSE(p.write_s, 139.2);
  EXPECT_CLOSE(p.embed_s, 60.8);  // (2·16 + 6) loads · 40 · 2 bytes / 50
  EXPECT_CLOSE(p.gptq_s, 8.0);
  EXPECT_CLOSE(p.hessian_s, 0.8);
  EXPECT_CLOSE(p.forward_s, 0.16 + 0.192 + 1440.0 / 336000.0);  // LM head at the encoder block's rate
  EXPECT_CLOSE(p.cpu_seconds, 18.72 + 60.8 + 8 + 0.8 + 0.352 + 1440.0 / 336000.0 + 139.2);
  // Roofline: max(131744 FLOP / 500, 16384 B / 50) = 327.68 s; PCIe 8192 B / 50; plus disk.
  EXPECT_CLOSE(p.gpu_seconds, 18.72 + 60.8 + 327.68 + 163.84 + 139.2);
  EXPECT_CLOSE(p.ram_embedding, 160.0 + 512.0);
  // Encoder phase: buffer 80·4·4 = 1280, rows 50/2 = 25 per expert: 2 · 25 · (4 + 8) · 4 = 2400
  // (3680); decoder phase: (80 + 48)·4·4 = 2048 and 2 · 15 · 12 · 4 = 1440 (3488). The encoder's.
  EXPECT_CLOSE(p.ram_buffer, 1280.0);
  EXPECT_CLOSE(p.ram_activations, 2400.0);
  EXPECT_CLOSE(p.ram_hessians, 3072.0);        // 6 · G 2 · 8² · 4
  EXPECT_CLOSE(p.ram_expert_weights, 1280.0);  // 2 · 32 · (12 + 2·4)
  EXPECT_CLOSE(p.ram_packed, 16.0);             // E 2 · 2 matrices · 32 weights · 1 bit / 8
  EXPECT_CLOSE(p.peak_ram_bytes, 1000.0 + 672 + 1280 + 3072 + 1280 + 16 + 2400);
  EXPECT_CLOSE(p.disk_bytes, 1872.0 + 1392.0);
}

// A method without Hessians (RTN + dict) holds no Hessian copies; nothing else changes.
TEST(CostModel, NoHessianMethodHoldsNoHessians) {
  ShapeRates r;
  r.gptq_seconds_per_expert = 2, r.hessian_seconds_per_token = 0.01;
  r.encoder_seconds_per_token = 0.001, r.decoder_seconds_per_token = 0.002;
  IoRates io{100, 10, 1000, 50};
  GpuPeak gpu{"hand", 1000, 100, 50, 0.5};
  Workload w = TinyWork();
  w.uses_hessian = false;
  const Projection with = Project(TinyWork(), r, io, gpu), without = Project(w, r, io, gpu);
  EXPECT_CLOSE(without.ram_hessians, 0.0);
  EXPECT_CLOSE(without.peak_ram_bytes, with.peak_ram_bytes - 3072.0);  // 6 · G 2 · 8² · 4
  EXPECT_CLOSE(without.cpu_seconds, with.cpu_seconds);
}

// With the cost run's Quantize measurement, the group's terms are the pipeline's own copies plus
// the measured per-element growth.
TEST(CostModel, MeasuredQuantizeMemoryReplacesTheCountedCopies) {
  ShapeRates r{1, 1, 1, 1};
  r.quantize_bytes_per_weight = 10, r.quantize_bytes_per_hessian_entry = 20;
  IoRates io{1, 1, 0, 1};
  Workload w = TinyWork();
  const Projection p = Project(w, r, io, GpuPeak{});
  EXPECT_CLOSE(p.ram_hessians, 3072.0);       // G 2 · 8² · (4 + 20)
  EXPECT_CLOSE(p.ram_expert_weights, 1536.0);  // 2 · 32 · (4 + 4 + 4 + 2 checkpoint + 10)
  w.cfg.dtype = "bfloat16";                   // + the fake-quantized wi in bf16
  EXPECT_CLOSE(Project(w, r, io, GpuPeak{}).ram_expert_weights, 2 * 32 * (14 + 2 + 10.0));
  w.uses_hessian = false;
  EXPECT_CLOSE(Project(w, r, io, GpuPeak{}).ram_hessians, 0.0);
}

TEST(CostModel, QuantizeMemorySolvesForWeightsAndHessians) {
  // G 2, d 4, f 8, 10 B per weight, 20 B per Hessian entry: wi grows 2·32·10 + 2·16·20 = 1280,
  // wo 2·32·10 + 2·64·20 = 3200.
  double a = 0, b = 0;
  SolveQuantizeMemory(1280, 3200, 4, 8, 2, true, &a, &b);
  EXPECT_CLOSE(a, 10.0);
  EXPECT_CLOSE(b, 20.0);
  SolveQuantizeMemory(1280, 3200, 4, 8, 2, false, &a, &b);  // no Hessians: the larger step per weight
  EXPECT_CLOSE(a, 50.0);
  EXPECT_EQ(b, 0.0);
  SolveQuantizeMemory(3200, 1280, 4, 8, 2, true, &a, &b);  // noise that would make b negative
  EXPECT_EQ(b, 0.0);
  EXPECT_CLOSE(a, 50.0);  // wi's 3200 over 64 weights
}

TEST(CostModel, BfloatHalvesTheBufferAndAnUntiedHeadDoublesTheEmbedding) {
  Workload w = TinyWork();
  ShapeRates r{1, 1, 1, 1};
  IoRates io{1, 1, 0, 1};
  const Projection a = Project(w, r, io, GpuPeak{});
  w.cfg.dtype = "bfloat16";
  w.cfg.tie_word_embeddings = false;
  const Projection b = Project(w, r, io, GpuPeak{});
  EXPECT_CLOSE(b.ram_buffer, a.ram_buffer / 2);
  EXPECT_CLOSE(b.ram_embedding, 10 * 4 * 2 * 2.0 + 8 * 4 * 4 * 2.0);
  EXPECT_EQ(b.n.params, a.n.params + 40);  // lm_head [10, 4]
}

}  // namespace
}  // namespace qmoe::cost
