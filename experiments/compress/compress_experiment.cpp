#include "experiments/compress/compress_experiment.h"
#include "experiments/run_device.h"

#include <ATen/ATen.h>
#include <sys/resource.h>

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "experiments/compress/pipeline.h"
#include "experiments/eval/eval_experiment.h"
#include "serving/model_dir.h"
#include "framework/core/error.h"
#include "framework/core/memory_stats.h"
#include "framework/data/samples.h"
#include "framework/model/model_tokenizer.h"
#include "framework/model/switch_model.h"
#include "framework/model/switch_names.h"
#include "methods/method.h"

namespace qmoe {
namespace {

double PeakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

constexpr double kMiB = 1024.0 * 1024.0;

// Bytes of every regular file under `dir` (the compressed model directory's size on disk).
int64_t DirectoryBytes(const std::string& dir) {
  int64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) total += static_cast<int64_t>(e.file_size());
  return total;
}

std::string LayerName(Stack s, int64_t block) { return StrCat(StackName(s), ".block.", block); }

std::string DomainOf(const std::string& set_name) {
  return set_name.rfind("validation/", 0) == 0 ? set_name.substr(11) : set_name;
}

// The calibration samples a point asks for: explicit, else round(mul · per-expert · experts).
// Methods without a Hessian (bf16, rtn, ternary) use none.
int64_t RequestedCalibration(const CompressExperiment::Params& p, const SwitchConfig& model, bool uses_hessian) {
  if (!uses_hessian) return 0;
  return p.calibration_samples > 0 ? p.calibration_samples
                                   : std::llround(p.calibration_mul * p.samples_per_expert * double(model.num_experts));
}

// The one error for a request the calibration split cannot meet.
[[noreturn]] void ThrowCapped(const CompressExperiment::Params& p, const data::DataParams& dp, int64_t asked,
                              int64_t available) {
  throw Error(StrCat("compress: ",
                     p.calibration_samples > 0 ? StrCat("experiment.calibration_samples = ", p.calibration_samples)
                                               : StrCat("experiment.calibration_mul = ", p.calibration_mul),
                     " asks for ", asked, " calibration samples, but the calibration split of [",
                     dp.calibration_domains, "] yields only ", available,
                     ". Set experiment.allow_capped=true to run with all ", available,
                     " (qmoe report marks such cells as capped), or ask for fewer with experiment.calibration_samples=N "
                     "(qmoe report cost --samples N projects the time)"));
}

struct CompressData {
  std::vector<data::Sample> calibration;
  std::vector<data::SampleSet> validation;
  int64_t requested = 0;
};

// The tokenizer check, the seeded calibration set and the validation sets of one run.
CompressData LoadData(RunContext& ctx, const CompressExperiment::Params& p, const SwitchConfig& cfg,
                      bool uses_hessian) {
  data::DataParams dp = FromParamMap<data::DataParams>(ctx.sections.at("data"));
  const std::string root = DataRoot();
  data::Tokenizer tok = LoadModelTokenizer(dp, root, cfg);
  CompressData d;
  d.requested = RequestedCalibration(p, cfg, uses_hessian);
  if (d.requested > 0) {
    dp.n_calibration = d.requested;
    d.calibration = data::BuildCalibrationSet(dp, tok, root, /*allow_fewer=*/true, ctx.seed).samples;
    const auto got = static_cast<int64_t>(d.calibration.size());
    if (got < d.requested) {
      if (!p.allow_capped) ThrowCapped(p, dp, d.requested, got);
      std::cerr << "compress: asked for " << d.requested << " calibration samples; the calibration split of ["
                << dp.calibration_domains << "] yields " << got << ", using all of them (allow_capped)\n";
    }
  }
  d.validation = data::BuildValidationSets(dp, tok, root);
  return d;
}

// Per-expert and per-layer records become labelled metrics; the run-level natural sparsity is the
// mean over matrices. A block's expert records all arrive before its layer record, so the layer's
// bits per parameter is the sum over the records in between.
struct RecordMetrics {
  RunContext& ctx;
  const SwitchConfig& cfg;
  double sparsity_sum = 0;
  int64_t n_matrices = 0;
  double layer_bits = 0;     // storage of the current block's expert matrices so far
  int64_t layer_params = 0;

  PipelineCallbacks Callbacks() {
    PipelineCallbacks cb;
    cb.on_expert = [this](const ExpertRecord& r) { Expert(r); };
    cb.on_layer = [this](const LayerRecord& l) { Layer(l); };
    return cb;
  }
  void Expert(const ExpertRecord& r) {
    MetricLabels lab;
    lab.layer = LayerName(r.stack, r.block);
    lab.expert = r.expert;
    lab.matrix = r.matrix;
    ctx.Metric("tokens_routed", double(r.routed), "tokens", lab);
    ctx.Metric("calibration_tokens", double(r.calibration_tokens), "tokens", lab);
    ctx.Metric("cap_hit", r.cap_hit ? 1.0 : 0.0, "", lab);
    ctx.Metric("rel_frobenius_error", r.rel_error, "", lab);  // rows before this name: rel_error
    ctx.Metric("natural_sparsity", r.natural_sparsity, "fraction", lab);
    ctx.Metric("bits_per_weight", r.storage_bits / double(cfg.d_ff * cfg.d_model), "bits", lab);  // wi and wo alike
    ctx.Metric("quant_seconds", r.seconds, "s", lab);
    ctx.Metric("hessian_trace", r.hessian_trace, "", lab);
    for (const auto& [k, v] : r.stats) ctx.Metric(k, v, "", lab);
    sparsity_sum += r.natural_sparsity;
    ++n_matrices;
    layer_bits += r.storage_bits;
    layer_params += cfg.d_ff * cfg.d_model;
  }
  void Layer(const LayerRecord& l) {
    MetricLabels lab;
    lab.layer = LayerName(l.stack, l.block);
    ctx.Metric("layer_seconds", l.seconds, "s", lab);
    if (l.sparse) ctx.Metric("layer_compress_seconds", l.compress_seconds, "s", lab);
    // The layer's end: the process's peak so far (VmHWM, monotone over layers) and its RSS now.
    ctx.Metric("layer_peak_rss_mib", double(PeakRssBytes()) / kMiB, "MiB", lab);
    ctx.Metric("layer_rss_mib", double(CurrentRssBytes()) / kMiB, "MiB", lab);
    if (layer_params > 0) ctx.Metric("layer_bits_per_param", layer_bits / double(layer_params), "bits", lab);
    layer_bits = 0;
    layer_params = 0;
  }
};

// Whole-model accounting: experts at their exact storage, everything else at bf16 (16 bits), as
// the paper's Table 6 counts it.
struct ModelBits {
  double total_params = 0, bits = 0;
};
ModelBits WholeModelBits(const SwitchConfig& cfg, const PipelineResult& res) {
  int64_t dense_params = 0;
  for (const auto& t : SwitchTensorShapes(cfg))
    if (!t.is_expert) {
      int64_t n = 1;
      for (auto d : t.shape) n *= d;
      dense_params += n;
    }
  return {double(res.expert_params + dense_params), res.expert_bits + 16.0 * double(dense_params)};
}

void RecordRun(RunContext& ctx, const PipelineResult& res, const CompressData& d, const ModelBits& mb,
               const RecordMetrics& rec, const std::string& save_dir) {
  for (const auto& [name, l] : res.loss) {
    MetricLabels lab;
    if (name != "all") lab.domain = DomainOf(name);
    ctx.Metric("loss_nats", l.loss_nats, "nats", lab);
    ctx.Metric("perplexity", std::exp(l.loss_nats), "", lab);
    ctx.Metric("validation_samples", double(l.samples), "samples", lab);
    ctx.Metric("validation_targets", double(l.targets), "tokens", lab);
  }
  ctx.Metric("calibration_samples_requested", double(d.requested), "samples");
  ctx.Metric("calibration_samples", double(d.calibration.size()), "samples");
  ctx.Metric("compress_seconds", res.seconds, "s");
  ctx.Metric("calibration_tokens", double(res.calibration_tokens), "tokens");
  ctx.Metric("validation_tokens", double(res.validation_tokens), "tokens");
  ctx.Metric("cholesky_fallbacks", double(res.fallbacks), "matrices");
  ctx.Metric("peak_rss_mib", PeakRssMiB(), "MiB");
  if (!save_dir.empty()) ctx.Metric("compressed_disk_bytes", double(DirectoryBytes(save_dir)), "bytes");
  if (res.expert_params > 0) {
    ctx.Metric("bits_per_param_experts", res.expert_bits / double(res.expert_params), "bits");
    ctx.Metric("bits_per_param", mb.bits / mb.total_params, "bits");
    ctx.Metric("compressed_gb", mb.bits / 8e9, "GB");
    ctx.Metric("natural_sparsity", rec.sparsity_sum / double(std::max<int64_t>(rec.n_matrices, 1)), "fraction");
  }
}

void PrintSummary(const SwitchConfig& cfg, const std::string& method_key, const PipelineResult& res,
                  const CompressData& d, const ModelBits& mb) {
  std::cout << "\n" << cfg.name << " · " << method_key << " · " << d.calibration.size() << " calibration samples\n";
  std::cout << std::left << std::setw(14) << "domain" << std::right << std::setw(10) << "loss" << std::setw(12)
            << "perplexity" << std::setw(9) << "samples" << "\n";
  for (const auto& [name, l] : res.loss)
    std::cout << std::left << std::setw(14) << DomainOf(name) << std::right << std::fixed << std::setprecision(4)
              << std::setw(10) << l.loss_nats << std::setw(12) << std::exp(l.loss_nats) << std::setw(9) << l.samples
              << "\n";
  if (res.expert_params > 0)
    std::cout << "bits/param: experts " << res.expert_bits / double(res.expert_params) << ", whole model "
              << mb.bits / mb.total_params << "; compression " << res.seconds << " s\n";
}

}  // namespace

namespace {

int64_t RequestedCalibration(const CompressExperiment::Params& p, const std::map<std::string, ParamMap>& sections) {
  const ParamMap& mp = sections.at("method");
  const bool hessian = Methods().Get(std::get<std::string>(mp.at("name"))).make(mp)->UsesHessian();
  return RequestedCalibration(p, FromParamMap<SwitchConfig>(sections.at("model")), hessian);
}

}  // namespace

bool CompressExperiment::UsesSeed(const Params& p, const std::map<std::string, ParamMap>& sections) {
  return RequestedCalibration(p, sections) > 0;
}

void CompressExperiment::Preflight(const Params& p, const std::map<std::string, ParamMap>& sections) {
  if (p.allow_capped) return;
  const int64_t asked = RequestedCalibration(p, sections);
  if (asked <= 0) return;
  const data::DataParams dp = FromParamMap<data::DataParams>(sections.at("data"));
  const std::string root = DataRoot();
  const int64_t available = data::CountCalibrationSamples(dp, data::LoadTokenizer(dp, root), root, asked);
  if (available < asked) ThrowCapped(p, dp, asked, available);
}

void CompressExperiment::Run(RunContext& ctx) {
  const SwitchConfig cfg = ResolveSectionConfig(FromParamMap<SwitchConfig>(ctx.sections.at("model")));
  if (IsCompressedModelDir(cfg.path)) {  // nothing left to compress (serving/model_dir.h)
    std::cerr << "compress: model.path '" << cfg.path << "' is already compressed ("
              << ModelDirLayoutName(DetectModelDirLayout(cfg.path)) << " layout): compressing no further, evaluating it\n";
    return EvalExperiment(EvalExperiment::Params{}).Run(ctx);
  }
  auto overlay = std::make_shared<OverlayWeights>(OpenSectionWeights(cfg));
  ModelOptions mo;
  mo.stream = true;
  mo.device = SingleDevice(RunDevice(ctx), "compress");
  SwitchModel model(cfg, overlay, mo);

  const std::string method_key = std::get<std::string>(ctx.sections.at("method").at("name"));
  const MethodInfo& info = Methods().Get(method_key);
  std::unique_ptr<Method> method = info.make(ctx.sections.at("method"));
  const CompressData d = LoadData(ctx, p_, cfg, method->UsesHessian());

  PipelineOptions opt;
  opt.group_experts = p_.group_experts;
  opt.token_cap_mul = p_.token_cap_mul;
  opt.true_sequential = p_.true_sequential;
  opt.save_dir = p_.save;
  opt.device = mo.device;
  RecordMetrics rec{ctx, cfg};
  const PipelineResult res = RunPipeline(model, *overlay, method.get(), method_key, ctx.sections.at("method"),
                                         info.version, d.calibration, d.validation, opt, rec.Callbacks());
  const ModelBits mb = WholeModelBits(cfg, res);
  RecordRun(ctx, res, d, mb, rec, p_.save);
  PrintSummary(cfg, method_key, res, d, mb);
}

}  // namespace qmoe
