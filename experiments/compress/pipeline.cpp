#include "experiments/compress/pipeline.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "serving/compressed_model.h"
#include "framework/core/error.h"
#include "framework/core/progress.h"
#include "framework/model/switch_names.h"

namespace qmoe {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The activation buffer of one stack: every sample's tokens, calibration samples first.
struct Buffer {
  at::Tensor x;                    // [T_total, d_model] in the compute dtype
  std::vector<int64_t> start, len;  // per sample
  std::vector<uint8_t> keep;        // premask per position (1 = enters the Hessians)
  int64_t t_cal = 0;                // positions < t_cal belong to calibration samples
};

Buffer EmbedStack(SwitchModel& model, const std::vector<const data::Sample*>& samples, size_t n_cal, bool decoder,
                  c10::Device device) {
  Buffer b;
  int64_t total = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& ids = decoder ? samples[i]->decoder : samples[i]->encoder;
    b.start.push_back(total);
    b.len.push_back(static_cast<int64_t>(ids.size()));
    total += static_cast<int64_t>(ids.size());
    if (i + 1 == n_cal) b.t_cal = total;
    const auto& pm = decoder ? samples[i]->decoder_premask : samples[i]->encoder_premask;
    QMOE_ASSERT(pm.size() == ids.size(), "premask length differs from the sample's length");
    b.keep.insert(b.keep.end(), pm.begin(), pm.end());
  }
  // Pinned when a GPU computes, so the per-block copies to and from it are DMA transfers.
  b.x = at::empty({total, model.config().d_model},
                  at::TensorOptions().dtype(model.dtype()).pinned_memory(device.is_cuda()));
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& ids32 = decoder ? samples[i]->decoder : samples[i]->encoder;
    std::vector<int64_t> ids(ids32.begin(), ids32.end());
    at::Tensor e = model.Embed(at::tensor(ids, at::kLong));
    b.x.narrow(0, b.start[i], b.len[i]).copy_(e.reshape({b.len[i], -1}));
  }
  return b;
}

int64_t CountBlocks(const SwitchConfig& c, Stack s) { return s == Stack::kEncoder ? c.num_layers : c.num_decoder_layers; }

at::Tensor Hessians(const std::vector<at::Tensor>& inputs, int64_t dim) {
  std::vector<at::Tensor> hs;
  for (const auto& a : inputs)  // fp32, on the device the inputs are on
    hs.push_back(a.size(0) > 0 ? at::mm(a.t(), a) : at::zeros({dim, dim}, a.options().dtype(at::kFloat)));
  return at::stack(hs);
}

struct StackRun {
  SwitchModel& model;
  OverlayWeights& weights;
  const Method* method;
  const PipelineOptions& opt;
  const PipelineCallbacks& cb;
  CompressedModelWriter* writer;
  PipelineResult& result;
};

// The packed matrices of one block, kept for the compressed model directory (only with a writer).
struct PackedBlock {
  std::vector<MatrixResult> results;
  std::vector<std::pair<int64_t, int64_t>> shapes;
  std::vector<std::string> names;
};

// Top-1 routing of one sparse block: the buffer positions each expert receives, and every
// position's gate value.
struct Routing {
  std::vector<std::vector<int64_t>> routed;  // per expert, ascending buffer positions
  at::Tensor gate;                           // [T_total] fp32
};

// One block of one stack over the whole buffer, with the views every step needs.
struct BlockPass {
  StackRun& r;
  Stack s;
  int64_t b;
  Buffer& buf;
  const std::vector<at::Tensor>* enc_out;
  Progress& progress;

  int64_t Samples() const { return int64_t(buf.start.size()); }
  c10::Device Dev() const { return r.opt.device; }
  at::Tensor SampleView(int64_t i) const { return buf.x.narrow(0, buf.start[i], buf.len[i]); }
  // The sample's activations where the block computes (the buffer view itself on the CPU).
  at::Tensor SampleOnDevice(int64_t i) const { return SampleView(i).to(Dev(), /*non_blocking=*/true); }
  at::Tensor SelfBias(int64_t i) const { return r.model.SelfAttentionBias(s, buf.len[i], {}, 1); }
  at::Tensor EncoderOut(int64_t i) const { return enc_out ? (*enc_out)[i].to(Dev()) : at::Tensor(); }
};

// What quantizing a group produces besides the weights: one record per expert matrix, and the
// packed fields to save (appended only when the pipeline writes a compressed model).
struct GroupOutputs {
  std::vector<ExpertRecord> records;
  PackedBlock& packed;
};

// Quantizes the group's `matrix` ("wi" or "wo") with Hessians from `inputs` and installs the
// quantized weights in the overlay. Returns the dequantized weights [G, r, c] (fp32).
at::Tensor QuantizeGroup(StackRun& r, Stack s, int64_t block, const std::vector<int64_t>& experts,
                         const std::string& matrix, const std::vector<at::Tensor>& inputs, GroupOutputs& outs) {
  std::vector<ExpertRecord>& records = outs.records;
  PackedBlock& packed = outs.packed;
  QuantTarget t;
  std::vector<at::Tensor> ws;
  for (int64_t e : experts) {
    const std::string name = ExpertWeightName(s, block, e, matrix);
    // Hessian methods (GPTQ) run on the pipeline's device; the others are cheap and stay on the host.
    ws.push_back(r.weights.Get(name).to(r.method->UsesHessian() ? r.opt.device : c10::Device(c10::kCPU), at::kFloat));
    t.names.push_back(name);
  }
  t.weight = at::stack(ws).contiguous();
  if (r.method->UsesHessian()) t.hessian = Hessians(inputs, t.weight.size(2)).contiguous();
  auto t0 = Clock::now();
  QuantOutput out = r.method->Quantize(t);
  out.weight = out.weight.to(at::kCPU);  // no-op on the CPU; methods pack on the host anyway
  t.weight = t.weight.to(at::kCPU);
  const double secs = Since(t0) / double(experts.size());
  for (size_t g = 0; g < experts.size(); ++g) {
    ExpertRecord rec;
    rec.stack = s, rec.block = block, rec.expert = experts[g], rec.matrix = matrix;
    rec.calibration_tokens = inputs[g].size(0);
    if (t.hessian.defined()) rec.hessian_trace = t.hessian[g].trace().item<double>();
    at::Tensor w = t.weight[g], q = out.weight[g];
    rec.rel_error = (w - q).norm().item<double>() / std::max(w.norm().item<double>(), 1e-30);
    rec.natural_sparsity = (q == 0).sum().item<double>() / double(q.numel());
    rec.storage_bits = out.matrices[g].storage_bits;
    rec.seconds = secs;
    rec.stats = out.matrices[g].stats;
    rec.note = out.matrices[g].note;
    if (auto it = rec.stats.find("fallback"); it != rec.stats.end() && it->second != 0) ++r.result.fallbacks;
    records.push_back(rec);
    r.result.expert_bits += rec.storage_bits;
    r.result.expert_params += q.numel();
    // Fake-quantized weights replace the expert for propagation (and for the validation loss).
    r.weights.Set(t.names[g], q.to(r.model.dtype()));
    r.model.ReleaseWeight(t.names[g]);
    if (r.writer) {
      packed.results.push_back(std::move(out.matrices[g]));
      packed.shapes.emplace_back(q.size(0), q.size(1));
      packed.names.push_back(t.names[g]);
    }
  }
  return out.weight;
}

// A dense block: every sample through the whole block.
void RunDenseBlock(BlockPass& p) {
  for (int64_t i = 0; i < p.Samples(); ++i) {
    at::Tensor xs = p.SampleView(i);
    xs.copy_(p.r.model.Block(p.s, p.b, p.SampleOnDevice(i), p.SelfBias(i), p.EncoderOut(i)).reshape_as(xs));
    p.progress.Advance();
  }
}

// Attention sublayers per sample, then top-1 routing of z = LN_ff(h). Tokens over an expert's
// capacity bypass it: h += gate·z (Switch semantics).
Routing RouteTokens(BlockPass& p) {
  SwitchModel& model = p.r.model;
  Routing out;
  out.routed.resize(size_t(model.config().num_experts));
  out.gate = at::empty({p.buf.x.size(0)}, at::kFloat);
  for (int64_t i = 0; i < p.Samples(); ++i) {
    at::Tensor xs = p.SampleView(i);
    // xd: the sample where the block computes; copied back into the buffer at the end.
    at::Tensor xd = model.AttentionSublayers(p.s, p.b, p.SampleOnDevice(i), p.SelfBias(i), p.EncoderOut(i))
                        .reshape_as(xs);
    at::Tensor z = model.FfNorm(p.s, p.b, xd);
    RouteResult rr = model.Route(p.s, p.b, z);
    out.gate.narrow(0, p.buf.start[i], p.buf.len[i]).copy_(rr.gate.reshape({-1}));
    at::Tensor ex = rr.expert.reshape({-1}).to(at::kCPU).contiguous();
    at::Tensor kept = rr.kept.reshape({-1}).to(at::kCPU).contiguous();
    const int64_t* pe = ex.data_ptr<int64_t>();
    const bool* pk = kept.data_ptr<bool>();
    for (int64_t t = 0; t < p.buf.len[i]; ++t) {
      if (pk[t]) {
        out.routed[size_t(pe[t])].push_back(p.buf.start[i] + t);
      } else {
        at::Tensor row = xd.narrow(0, t, 1);
        row.add_((rr.gate.reshape({-1})[t] * z.narrow(0, t, 1)).to(row.scalar_type()));
      }
    }
    xs.copy_(xd);
    p.progress.Advance();
  }
  return out;
}

// Reports the group's expert records with their routing counts.
void ReportExperts(BlockPass& p, std::vector<ExpertRecord>& recs, const Routing& routing, int64_t cap) {
  for (auto& rec : recs) {
    const auto& rows = routing.routed[size_t(rec.expert)];
    rec.routed = static_cast<int64_t>(rows.size());
    int64_t cal_routed = 0;
    for (int64_t pos : rows) cal_routed += pos < p.buf.t_cal;
    rec.cap_hit = cap >= 0 && cal_routed > cap;
    if (p.r.cb.on_expert) p.r.cb.on_expert(rec);
    if (!rec.note.empty()) std::cerr << rec.note << "\n";
  }
}

// Compresses one group of experts: wi from the Hessians of its routed calibration inputs Z, then
// wo from A = relu(Z·wiᵀ) in the working dtype (from the unquantized wi, or from the quantized wi
// in true-sequential mode), H_wo = AᵀA in fp32.
void CompressGroup(BlockPass& p, const std::vector<int64_t>& experts, const Routing& routing, int64_t cap,
                   PackedBlock& packed) {
  SwitchModel& model = p.r.model;
  std::vector<at::Tensor> zin;
  for (int64_t e : experts) {
    std::vector<int64_t> rows = CalibrationRows(routing.routed[size_t(e)], cap, p.buf.t_cal, p.buf.keep);
    at::Tensor idx = at::tensor(rows, at::kLong);
    zin.push_back(model.FfNorm(p.s, p.b, p.buf.x.index_select(0, idx).to(p.Dev())).to(at::kFloat));
  }
  GroupOutputs outs{{}, packed};
  std::vector<at::Tensor> wi_orig;
  for (int64_t e : experts) wi_orig.push_back(p.r.weights.Get(ExpertWeightName(p.s, p.b, e, "wi")));
  at::Tensor wi_q = QuantizeGroup(p.r, p.s, p.b, experts, "wi", zin, outs);
  std::vector<at::Tensor> ain;
  for (size_t g = 0; g < experts.size(); ++g) {
    at::Tensor wi = (p.r.opt.true_sequential ? wi_q[g] : wi_orig[g]).to(p.Dev(), model.dtype());
    ain.push_back(at::relu(at::linear(zin[g].to(model.dtype()), wi)).to(at::kFloat));
  }
  QuantizeGroup(p.r, p.s, p.b, experts, "wo", ain, outs);
  ReportExperts(p, outs.records, routing, cap);
}

// Propagates every routed token through the (compressed) experts: h += gate·expert(LN_ff(h)).
void PropagateGroup(BlockPass& p, const std::vector<int64_t>& experts, const Routing& routing, int64_t cap) {
  Buffer& buf = p.buf;
  for (int64_t e : experts) {
    const auto& rows = routing.routed[size_t(e)];
    const int64_t chunk = std::max<int64_t>(cap > 0 ? cap : 0, 4096);
    for (size_t off = 0; off < rows.size(); off += size_t(chunk)) {
      size_t n = std::min(rows.size() - off, size_t(chunk));
      at::Tensor idx = at::tensor(std::vector<int64_t>(rows.begin() + off, rows.begin() + off + n), at::kLong);
      at::Tensor h = buf.x.index_select(0, idx).to(p.Dev());
      at::Tensor y = p.r.model.ExpertForward(p.s, p.b, e, p.r.model.FfNorm(p.s, p.b, h));
      at::Tensor out = (routing.gate.index_select(0, idx).to(p.Dev()).unsqueeze(1) * y).to(buf.x.scalar_type());
      buf.x.index_copy_(0, idx, (h + out).to(at::kCPU));
    }
    p.progress.Advance();
  }
}

// This pass never needs the group's experts again.
void ReleaseGroup(BlockPass& p, const std::vector<int64_t>& experts) {
  for (int64_t e : experts)
    for (const char* m : {"wi", "wo"}) {
      p.r.weights.Erase(ExpertWeightName(p.s, p.b, e, m));
      p.r.model.ReleaseWeight(ExpertWeightName(p.s, p.b, e, m));
    }
}

void WritePackedBlock(BlockPass& p, const PackedBlock& packed) {
  if (!p.r.writer || packed.results.empty()) return;
  std::vector<std::pair<std::string, const MatrixResult*>> mats;
  for (size_t i = 0; i < packed.results.size(); ++i) mats.emplace_back(packed.names[i], &packed.results[i]);
  p.r.writer->WriteExpertBlock(StrCat(StackName(p.s), "-", p.b), mats, packed.shapes);
}

// A sparse (MoE) block: route, then per group of experts compress and propagate. Returns the
// seconds spent on Hessians and quantization.
double RunSparseBlock(BlockPass& p) {
  const int64_t E = p.r.model.config().num_experts, G = p.r.opt.group_experts;
  const Routing routing = RouteTokens(p);
  // Calibration tokens per expert are capped at floor(mul·T_cal/E), first in buffer order.
  const int64_t cap = p.buf.t_cal > 0
                          ? static_cast<int64_t>(std::floor(p.r.opt.token_cap_mul * double(p.buf.t_cal) / double(E)))
                          : -1;
  PackedBlock packed;
  double compress_secs = 0;
  for (int64_t g0 = 0; g0 < E; g0 += G) {
    std::vector<int64_t> experts;
    for (int64_t e = g0; e < std::min(E, g0 + G); ++e) experts.push_back(e);
    if (p.r.method) {
      auto t_c = Clock::now();
      CompressGroup(p, experts, routing, cap, packed);
      compress_secs += Since(t_c);
    }
    PropagateGroup(p, experts, routing, cap);
    ReleaseGroup(p, experts);
  }
  WritePackedBlock(p, packed);
  return compress_secs;
}

void RunStack(StackRun& r, Stack s, Buffer& buf, const std::vector<at::Tensor>* enc_out) {
  const SwitchConfig& cfg = r.model.config();
  const int64_t n_blocks = CountBlocks(cfg, s), n_samples = int64_t(buf.start.size());
  for (int64_t b = 0; b < n_blocks; ++b) {
    auto t_block = Clock::now();
    LayerRecord layer{s, b, cfg.IsSparse(s, b)};
    Progress progress(StrCat(StackName(s), " block ", b, "/", n_blocks, layer.sparse ? " (MoE)" : ""),
                      layer.sparse ? n_samples + cfg.num_experts : n_samples);
    BlockPass pass{r, s, b, buf, enc_out, progress};
    if (layer.sparse) layer.compress_seconds = RunSparseBlock(pass);
    else RunDenseBlock(pass);
    r.model.ReleaseBlock(s, b);
    progress.Finish();
    layer.seconds = Since(t_block);
    if (r.cb.on_layer) r.cb.on_layer(layer);
  }
}

}  // namespace

std::vector<int64_t> CalibrationRows(const std::vector<int64_t>& routed, int64_t cap, int64_t t_cal,
                                     const std::vector<uint8_t>& keep) {
  std::vector<int64_t> rows;
  const size_t n = cap < 0 ? routed.size() : std::min(routed.size(), size_t(cap));
  for (size_t i = 0; i < n; ++i) {
    const int64_t p = routed[i];
    if (p < t_cal && keep[size_t(p)]) rows.push_back(p);  // never a validation position
  }
  return rows;
}

double SampleLoss(const at::Tensor& logits, const std::vector<int32_t>& decoder_ids) {
  const int64_t L = static_cast<int64_t>(decoder_ids.size());
  QMOE_ASSERT(L >= 2 && logits.size(0) == L, "SampleLoss: ", L, " ids for ", logits.size(0), " positions");
  std::vector<int64_t> targets(decoder_ids.begin() + 1, decoder_ids.end());
  at::Tensor logp = at::log_softmax(logits.narrow(0, 0, L - 1).to(at::kFloat), -1);
  at::Tensor t = at::tensor(targets, at::kLong).to(logits.device()).unsqueeze(1);
  return -logp.gather(1, t).mean().item<double>();
}

PipelineResult RunPipeline(SwitchModel& model, OverlayWeights& weights, const Method* method,
                           const std::string& method_key, const ParamMap& method_params, int method_version,
                           const std::vector<data::Sample>& calibration,
                           const std::vector<data::SampleSet>& validation, const PipelineOptions& opt,
                           const PipelineCallbacks& cb) {
  auto t0 = Clock::now();
  PipelineResult result;
  QMOE_CHECK(opt.group_experts >= 1, "compress: group_experts must be >= 1, got ", opt.group_experts);
  // Calibration samples first, then validation samples, in one buffer per stack.
  std::vector<const data::Sample*> samples;
  for (const auto& s : calibration) samples.push_back(&s);
  std::vector<std::pair<std::string, size_t>> domain_of;  // validation set name per sample index
  for (const auto& set : validation)
    for (const auto& s : set.samples) {
      samples.push_back(&s);
      domain_of.emplace_back(set.name, samples.size() - 1);
    }
  QMOE_CHECK(!validation.empty() && samples.size() > calibration.size(), "compress: no validation samples");

  std::unique_ptr<CompressedModelWriter> writer;
  if (!opt.save_dir.empty()) {
    QMOE_CHECK(method, "compress: save needs a method (there is nothing to compress)");
    // The compressed directory keeps the source's HF config.json byte for byte.
    const std::string src = model.config().path + "/config.json";
    std::ifstream f(src);
    QMOE_CHECK(f, "compress: cannot read '", src, "' (model.path must name the source HF directory)");
    std::string config_text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    writer = std::make_unique<CompressedModelWriter>(opt.save_dir, method_key, method_params, method_version,
                                                     config_text);
    // The tokenizer travels with the model, so `qmoe eval model.path=<saved>` works on its own.
    const std::string tokenizer = model.config().path + "/spiece.model";
    if (std::filesystem::exists(tokenizer)) writer->CopySourceFile(tokenizer, "spiece.model");
  }
  StackRun run{model, weights, method, opt, cb, writer.get(), result};

  // Encoder stack, then the final norm per sample: enc_out feeds every decoder block.
  QMOE_CHECK(model.options().device == opt.device, "compress: the model computes on ", model.options().device.str(),
             " but the pipeline on ", opt.device.str());
  Buffer enc = EmbedStack(model, samples, calibration.size(), /*decoder=*/false, opt.device);
  result.calibration_tokens = enc.t_cal;
  result.validation_tokens = enc.x.size(0) - enc.t_cal;
  RunStack(run, Stack::kEncoder, enc, nullptr);
  std::vector<at::Tensor> enc_out;
  for (size_t i = 0; i < samples.size(); ++i)
    enc_out.push_back(  // kept on the host; each decoder block moves its sample's to the device
        model.FinalNorm(Stack::kEncoder, enc.x.narrow(0, enc.start[i], enc.len[i]).to(opt.device)).to(at::kCPU));
  enc.x = at::Tensor();

  // Decoder stack on the compressed encoder's outputs.
  Buffer dec = EmbedStack(model, samples, calibration.size(), /*decoder=*/true, opt.device);
  RunStack(run, Stack::kDecoder, dec, &enc_out);

  // Validation loss on validation samples only, per domain and over all of them.
  SpanLossByDomain losses;
  for (const auto& [name, i] : domain_of) {
    at::Tensor h = model.FinalNorm(Stack::kDecoder, dec.x.narrow(0, dec.start[i], dec.len[i]).to(opt.device));
    losses.Add(name, SampleLoss(model.LmHead(h), samples[i]->decoder), dec.len[i]);
  }
  result.loss = losses.Losses();
  model.ReleaseAll();

  if (writer) {
    std::vector<std::pair<std::string, at::Tensor>> dense;
    for (const auto& t : SwitchTensorShapes(model.config()))
      if (!t.is_expert) dense.emplace_back(t.name, weights.Get(t.name));
    writer->Finish(dense);
  }
  result.seconds = Since(t0);
  return result;
}

}  // namespace qmoe
