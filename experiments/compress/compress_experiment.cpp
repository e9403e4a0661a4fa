#include "experiments/compress/compress_experiment.h"

#include <ATen/ATen.h>
#include <sys/resource.h>

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "experiments/compress/pipeline.h"
#include "experiments/eval/eval_experiment.h"
#include "framework/compressed/model_dir.h"
#include "framework/core/error.h"
#include "framework/data/samples.h"
#include "framework/model/model_tokenizer.h"
#include "framework/model/switch_model.h"
#include "framework/model/switch_names.h"
#include "methods/method.h"

namespace fs = std::filesystem;

namespace qmoe {


std::string ResolveRepoPath(const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute() || fs::exists(p)) return p;
  fs::path in_repo = fs::path(QMOE_SOURCE_DIR) / p;
  return fs::exists(in_repo) ? in_repo.string() : p;
}

namespace {

double PeakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

std::string LayerName(Stack s, int64_t block) { return StrCat(StackName(s), ".block.", block); }

}  // namespace

void CompressExperiment::Run(RunContext& ctx) {
  const SwitchConfig cfg = ResolveSectionConfig(FromParamMap<SwitchConfig>(ctx.sections.at("model")));
  if (IsCompressedModelDir(cfg.path)) {  // nothing left to compress (framework/compressed/model_dir.h)
    std::cerr << "compress: model.path '" << cfg.path << "' is already compressed ("
              << ModelDirLayoutName(DetectModelDirLayout(cfg.path)) << " layout): compressing no further, evaluating it\n";
    return EvalExperiment(EvalExperiment::Params{}).Run(ctx);
  }
  auto overlay = std::make_shared<OverlayWeights>(OpenSectionWeights(cfg));
  ModelOptions mo;
  mo.stream = true;
  SwitchModel model(cfg, overlay, mo);

  const std::string method_key = std::get<std::string>(ctx.sections.at("method").at("name"));
  const MethodInfo& info = Methods().Get(method_key);
  std::unique_ptr<Method> method = info.make(ctx.sections.at("method"));

  data::DataParams dp = FromParamMap<data::DataParams>(ctx.sections.at("data"));
  const std::string root = QMOE_SOURCE_DIR;
  data::Tokenizer tok = LoadModelTokenizer(dp, root, cfg);

  int64_t n_cal = p_.calibration_samples > 0
                      ? p_.calibration_samples
                      : std::llround(p_.calibration_mul * p_.samples_per_expert * double(cfg.num_experts));
  if (!method->UsesHessian()) n_cal = 0;  // RTN / BF16 runs carry no calibration samples (§5)
  std::vector<data::Sample> calibration;
  if (n_cal > 0) {
    // Our corpora's calibration split is finite (data/calibration/): when a setting asks for more
    // samples than it yields, all of them are used, and both numbers are recorded.
    dp.n_calibration = n_cal;
    calibration = data::BuildCalibrationSet(dp, tok, root, /*allow_fewer=*/true).samples;
    if (static_cast<int64_t>(calibration.size()) < n_cal)
      std::cerr << "compress: asked for " << n_cal << " calibration samples; the calibration split of ["
                << dp.calibration_domains << "] yields " << calibration.size() << ", using all of them\n";
  }
  ctx.Metric("calibration_samples_requested", double(n_cal), "samples");
  std::vector<data::SampleSet> validation = data::BuildValidationSets(dp, tok, root);

  PipelineOptions opt;
  opt.group_experts = p_.group_experts;
  opt.token_cap_mul = p_.token_cap_mul;
  opt.true_sequential = p_.true_sequential;
  opt.save_dir = p_.save;

  double sparsity_sum = 0;
  int64_t n_matrices = 0;
  PipelineCallbacks cb;
  cb.on_expert = [&](const ExpertRecord& r) {
    MetricLabels lab;
    lab.layer = LayerName(r.stack, r.block);
    lab.expert = r.expert;
    lab.matrix = r.matrix;
    ctx.Metric("tokens_routed", double(r.routed), "tokens", lab);
    ctx.Metric("calibration_tokens", double(r.calibration_tokens), "tokens", lab);
    ctx.Metric("cap_hit", r.cap_hit ? 1.0 : 0.0, "", lab);
    ctx.Metric("rel_error", r.rel_error, "", lab);
    ctx.Metric("natural_sparsity", r.natural_sparsity, "fraction", lab);
    ctx.Metric("bits_per_weight", r.storage_bits / double(cfg.d_ff * cfg.d_model), "bits", lab);  // wi and wo alike
    ctx.Metric("quant_seconds", r.seconds, "s", lab);
    ctx.Metric("hessian_trace", r.hessian_trace, "", lab);
    for (const auto& [k, v] : r.stats) ctx.Metric(k, v, "", lab);
    sparsity_sum += r.natural_sparsity;
    ++n_matrices;
  };
  cb.on_layer = [&](const LayerRecord& l) {
    MetricLabels lab;
    lab.layer = LayerName(l.stack, l.block);
    ctx.Metric("layer_seconds", l.seconds, "s", lab);
    if (l.sparse) ctx.Metric("layer_compress_seconds", l.compress_seconds, "s", lab);
  };

  PipelineResult res = RunPipeline(model, *overlay, method.get(), method_key, ctx.sections.at("method"),
                                    info.version, calibration, validation, opt, cb);
  // Whole-model accounting: experts at their exact storage, everything else at bf16 (16 bits) as
  // the paper's Table 6 counts it; experts-only accounting beside it.
  int64_t dense_params = 0;
  for (const auto& t : SwitchTensorShapes(cfg))
    if (!t.is_expert) {
      int64_t n = 1;
      for (auto d : t.shape) n *= d;
      dense_params += n;
    }
  const double total_params = double(res.expert_params + dense_params);
  const double model_bits = res.expert_bits + 16.0 * double(dense_params);
  for (const auto& [name, l] : res.loss) {
    MetricLabels lab;
    if (name != "all") lab.domain = name.rfind("validation/", 0) == 0 ? name.substr(11) : name;
    ctx.Metric("loss_nats", l.loss_nats, "nats", lab);
    ctx.Metric("perplexity", std::exp(l.loss_nats), "", lab);
    ctx.Metric("validation_samples", double(l.samples), "samples", lab);
  }
  ctx.Metric("compress_seconds", res.seconds, "s");
  ctx.Metric("calibration_samples", double(calibration.size()), "samples");
  ctx.Metric("calibration_tokens", double(res.calibration_tokens), "tokens");
  ctx.Metric("validation_tokens", double(res.validation_tokens), "tokens");
  ctx.Metric("cholesky_fallbacks", double(res.fallbacks), "matrices");
  ctx.Metric("peak_rss_mib", PeakRssMiB(), "MiB");
  if (res.expert_params > 0) {
    ctx.Metric("bits_per_param_experts", res.expert_bits / double(res.expert_params), "bits");
    ctx.Metric("bits_per_param", model_bits / total_params, "bits");
    ctx.Metric("compressed_gb", model_bits / 8e9, "GB");
    ctx.Metric("natural_sparsity", sparsity_sum / double(std::max<int64_t>(n_matrices, 1)), "fraction");
  }

  std::cout << "\n" << cfg.name << " · " << method_key << " · " << calibration.size() << " calibration samples\n";
  std::cout << std::left << std::setw(14) << "domain" << std::right << std::setw(10) << "loss" << std::setw(12)
            << "perplexity" << std::setw(9) << "samples" << "\n";
  for (const auto& [name, l] : res.loss)
    std::cout << std::left << std::setw(14) << (name.rfind("validation/", 0) == 0 ? name.substr(11) : name)
              << std::right << std::fixed << std::setprecision(4) << std::setw(10) << l.loss_nats << std::setw(12)
              << std::exp(l.loss_nats) << std::setw(9) << l.samples << "\n";
  if (res.expert_params > 0)
    std::cout << "bits/param: experts " << res.expert_bits / double(res.expert_params) << ", whole model "
              << model_bits / total_params << "; compression " << res.seconds << " s\n";
}

}  // namespace qmoe
