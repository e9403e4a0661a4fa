#include "experiments/cost/cost_experiment.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>

#include "experiments/cost/cost_model.h"
#include "experiments/runner.h"
#include "experiments/synth/synth_weights.h"
#include "framework/core/error.h"
#include "framework/core/memory_stats.h"
#include "framework/core/strings.h"
#include "framework/data/samples.h"
#include "framework/io/safetensors.h"
#include "framework/model/switch_model.h"
#include "framework/model/switch_names.h"
#include "framework/model/weight_source.h"
#include "methods/method.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

SwitchConfig LoadModelEntry(const std::string& name) {
  const ComposedConfig composed = ComposeConfig(DefaultConfigDir(), {"model=" + name});
  return FromParamMap<SwitchConfig>(ValidateConfig(composed, BuildSchema(composed)).at("model"));
}

std::string ShapeKey(const SwitchConfig& c) { return StrCat(c.d_model, "x", c.d_ff, ":", c.dtype); }

// Median seconds per token of one encoder and one decoder block (attention + router + expert 0)
// of `c`'s widths on synthetic weights, at sequence lengths le / ld.
std::pair<double, double> BlockSecondsPerToken(SwitchConfig c, int64_t le, int64_t ld, int64_t repeats) {
  c.num_layers = c.num_decoder_layers = 2;
  c.num_experts = 1;
  c.vocab_size = 64;  // the embedding is never used here
  c.path = "";
  auto w = std::make_shared<MapWeights>();
  for (const auto& t : SwitchTensorShapes(c)) w->Set(t.name, synth::SynthTensor(c, t, /*seed=*/7));
  SwitchModel model(c, w);
  const auto dt = model.dtype();
  auto first_block = [&](Stack s) {
    for (int64_t b = 0; b < c.NumBlocks(s); ++b)
      if (c.IsSparse(s, b)) return b;
    return int64_t(0);
  };
  at::Tensor xe = at::randn({le, c.d_model}).to(dt), xd = at::randn({ld, c.d_model}).to(dt);
  at::Tensor enc_out = at::randn({le, c.d_model}).to(dt);
  auto time_stack = [&](Stack s, const at::Tensor& x, const at::Tensor& enc) {
    const int64_t b = first_block(s);
    const bool sparse = c.IsSparse(s, b);
    // Each timed repeat runs the sample `calls` times (>= 2048 tokens): short repeats are at the
    // mercy of a shared machine's scheduler.
    const int64_t calls = (2048 + x.size(0) - 1) / x.size(0);
    std::vector<double> t;
    for (int64_t i = 0; i <= repeats; ++i) {  // i = 0 loads and casts the weights: not timed
      auto t0 = Clock::now();
      for (int64_t k = 0; k < (i > 0 ? calls : 1); ++k) {
        at::Tensor h = model.AttentionSublayers(s, b, x, model.SelfAttentionBias(s, x.size(0), {}, 1), enc);
        at::Tensor z = model.FfNorm(s, b, h);
        if (sparse) {
          RouteResult rr = model.Route(s, b, z);
          h = h + model.ExpertForward(s, b, 0, z) * rr.gate.reshape({-1, 1}).to(dt);
        } else {
          h = h + model.DenseFf(s, b, z);
        }
        (void)h.sum().item<double>();
      }
      if (i > 0) t.push_back(Since(t0) / double(calls));
    }
    return Median(t) / double(x.size(0));
  };
  return {time_stack(Stack::kEncoder, xe, at::Tensor()), time_stack(Stack::kDecoder, xd, enc_out)};
}

struct IoResult {
  double read_bps = 0, write_bps = 0, hot_bps = 0, bytes = 0;
};

// Writes `mib` MiB of bf16 tensors as one safetensors file (atomic write with fsync), drops its
// pages from the page cache, and reads every tensor back.
IoResult MeasureIo(const std::string& dir, int64_t mib) {
  fs::create_directories(dir);
  const fs::path path = fs::path(dir) / "cost_io.safetensors";
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  const int64_t piece = 8 << 20;  // elements per tensor (16 MiB in bf16)
  int64_t left = mib << 19;       // bf16 elements in `mib` MiB
  for (int i = 0; left > 0; ++i) {
    const int64_t n = std::min(left, piece);
    tensors.emplace_back(StrCat("t", i), at::randn({n}).to(at::kBFloat16));
    left -= n;
  }
  IoResult r;
  r.bytes = double(mib) * 1048576.0;
  auto t0 = Clock::now();
  WriteSafetensors(path, tensors);
  r.write_bps = r.bytes / Since(t0);
  tensors.clear();
  const int fd = ::open(path.c_str(), O_RDONLY);
  QMOE_CHECK(fd >= 0, "cost: cannot reopen '", path.string(), "'");
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);  // clean pages after the fsync: reads go to disk
  ::close(fd);
  t0 = Clock::now();
  {
    auto f = SafetensorsFile::Open(path);
    for (const auto& info : f->Infos()) (void)f->Load(info.name);
  }
  r.read_bps = r.bytes / Since(t0);
  t0 = Clock::now();  // again, now from the page cache, cast to fp32 as SwitchModel loads weights
  {
    auto f = SafetensorsFile::Open(path);
    for (const auto& info : f->Infos()) (void)f->Load(info.name).to(at::kFloat);
  }
  r.hot_bps = r.bytes / Since(t0);
  fs::remove(path);
  return r;
}

}  // namespace

void CostExperiment::Run(RunContext& ctx) {
  const double base_rss = double(CurrentRssBytes());
  ctx.Metric("base_rss_mib", base_rss / 1048576.0, "MiB");
  ctx.Metric("threads", double(at::get_num_threads()), "threads");

  // Tokens per sample of the data protocol the compress experiment would use.
  data::DataParams dp = FromParamMap<data::DataParams>(ctx.sections.at("data"));
  const std::string root = QMOE_SOURCE_DIR;
  data::Tokenizer tok = data::LoadTokenizer(dp, root);
  dp.n_calibration = p_.samples;
  const auto cal = data::BuildCalibrationSet(dp, tok, root, /*allow_fewer=*/true).samples;
  QMOE_CHECK(!cal.empty(), "cost: the calibration split of [", dp.calibration_domains, "] yields no samples");
  double enc_len = 0, dec_len = 0;
  for (const auto& s : cal) enc_len += double(s.encoder.size()), dec_len += double(s.decoder.size());
  enc_len /= double(cal.size());
  dec_len /= double(cal.size());
  ctx.Metric("encoder_tokens_per_sample", enc_len, "tokens");
  ctx.Metric("decoder_tokens_per_sample", dec_len, "tokens");
  std::cout << "cost: " << cal.size() << " samples, " << enc_len << " encoder + " << dec_len
            << " decoder tokens per sample\n";

  const IoResult io = MeasureIo(ctx.run_dir, p_.io_mib);
  ctx.Metric("io_bytes", io.bytes, "B");
  ctx.Metric("read_bytes_per_second", io.read_bps, "B/s");
  ctx.Metric("write_bytes_per_second", io.write_bps, "B/s");
  ctx.Metric("hot_load_bytes_per_second", io.hot_bps, "B/s");
  std::cout << "cost: read " << io.read_bps / 1e6 << " MB/s, write " << io.write_bps / 1e6 << " MB/s (fsynced), hot load + cast "
            << io.hot_bps / 1e6 << " MB/s\n";

  const std::string method_key = std::get<std::string>(ctx.sections.at("method").at("name"));
  std::unique_ptr<Method> method = Methods().Get(method_key).make(ctx.sections.at("method"));

  {  // untimed warm-up: the method's and LibTorch's one-time set-up must not land on the first shape
    QuantTarget t;
    at::Tensor w = at::randn({64, 64});
    t.weight = w.unsqueeze(0).contiguous();
    if (method->UsesHessian()) t.hessian = at::mm(w.t(), w).unsqueeze(0).contiguous();
    t.names = {ExpertWeightName(Stack::kEncoder, 1, 0, "wi")};
    (void)method->Quantize(t);
  }
  std::set<std::string> done;
  for (const std::string& part : Split(p_.models, ',')) {
    const std::string name = Trim(part);
    if (name.empty()) continue;
    const SwitchConfig c = LoadModelEntry(name);
    const std::string key = ShapeKey(c);
    if (!done.insert(key).second) continue;
    MetricLabels lab;
    lab.matrix = key;
    const int64_t d = c.d_model, f = c.d_ff, G = p_.group_experts, n = p_.tokens;
    const auto dt = c.ScalarType();

    // Hessian accumulation for one expert's calibration rows, as the pipeline does it.
    at::Tensor z = at::randn({n, d});
    at::Tensor wi = synth::ExponentialPower(f, d, synth::kExpertShape, 1.0 / std::sqrt(double(d)), 1);
    at::Tensor wo = synth::ExponentialPower(d, f, synth::kExpertShape, 1.0 / std::sqrt(double(f)), 2);
    at::Tensor h_wi, h_wo;
    std::vector<double> ht;
    for (int64_t i = 0; i < p_.repeats; ++i) {
      auto t0 = Clock::now();
      h_wi = at::mm(z.t(), z);
      at::Tensor a = at::relu(at::linear(z.to(dt), wi.to(dt))).to(at::kFloat);
      h_wo = at::mm(a.t(), a);
      ht.push_back(Since(t0));
    }
    const double hess_s = Median(ht) / double(n);

    // One GPTQ call on G copies of the expert (wi, then wo), as QuantizeGroup makes it; also the
    // call's RSS growth (peak during the call, with its outputs, over the RSS before it).
    auto quantize = [&](const at::Tensor& w, const at::Tensor& h, const char* m, double* bits, double* grown) {
      QuantTarget t;
      t.weight = w.unsqueeze(0).expand({G, w.size(0), w.size(1)}).contiguous();
      if (method->UsesHessian()) t.hessian = h.unsqueeze(0).expand({G, h.size(0), h.size(1)}).contiguous();
      for (int64_t e = 0; e < G; ++e) t.names.push_back(ExpertWeightName(Stack::kEncoder, 1, e, m));
      const bool reset = ResetPeakRss();
      const double before = double(CurrentRssBytes());
      auto t0 = Clock::now();
      QuantOutput out = method->Quantize(t);
      const double s = Since(t0);
      *grown = reset ? std::max(0.0, double(PeakRssBytes()) - before) : -1;
      for (const auto& mr : out.matrices) *bits += mr.storage_bits;
      return s;
    };
    double bits = 0, grown_wi = 0, grown_wo = 0;
    const double gptq_s =
        (quantize(wi, h_wi, "wi", &bits, &grown_wi) + quantize(wo, h_wo, "wo", &bits, &grown_wo)) / double(G);
    const double gptq_flops = cost::GptqFlopsPerExpert(d, f);

    const int64_t le = std::max<int64_t>(1, std::llround(enc_len)), ld = std::max<int64_t>(1, std::llround(dec_len));
    const auto [enc_s, dec_s] = BlockSecondsPerToken(c, le, ld, p_.repeats);

    ctx.Metric("gptq_seconds_per_expert", gptq_s, "s", lab);
    ctx.Metric("gptq_flops_per_expert", gptq_flops, "FLOP", lab);
    ctx.Metric("bits_per_expert_param", bits / double(2 * d * f * G), "bits", lab);
    if (grown_wi >= 0 && grown_wo >= 0) {  // where /proc lets the peak be reset
      double per_weight = 0, per_hessian = 0;
      cost::SolveQuantizeMemory(grown_wi, grown_wo, d, f, G, method->UsesHessian(), &per_weight, &per_hessian);
      ctx.Metric("quantize_wi_peak_bytes", grown_wi, "B", lab);
      ctx.Metric("quantize_wo_peak_bytes", grown_wo, "B", lab);
      ctx.Metric("quantize_bytes_per_weight", per_weight, "B", lab);
      ctx.Metric("quantize_bytes_per_hessian_entry", per_hessian, "B", lab);
    }
    ctx.Metric("hessian_seconds_per_token", hess_s, "s", lab);
    ctx.Metric("hessian_flops_per_token", cost::HessianFlopsPerToken(d, f), "FLOP", lab);
    ctx.Metric("encoder_block_seconds_per_token", enc_s, "s", lab);
    ctx.Metric("decoder_block_seconds_per_token", dec_s, "s", lab);
    ctx.Metric("encoder_block_flops_per_token", cost::BlockFlopsPerToken(c, false, enc_len, dec_len), "FLOP", lab);
    ctx.Metric("decoder_block_flops_per_token", cost::BlockFlopsPerToken(c, true, enc_len, dec_len), "FLOP", lab);
    std::cout << "cost: " << key << " (" << name << "): GPTQ " << gptq_s << " s/expert (" << gptq_flops / gptq_s / 1e9
              << " GFLOP/s), Hessian " << hess_s * 1e6 << " us/token, encoder block " << enc_s * 1e6
              << " us/token, decoder block " << dec_s * 1e6 << " us/token, " << bits / double(2 * d * f * G)
              << " bits/expert param, Quantize RSS growth " << grown_wi / 1048576.0 << " MiB (wi) / "
              << grown_wo / 1048576.0 << " MiB (wo)\n";
  }
}

}  // namespace qmoe
