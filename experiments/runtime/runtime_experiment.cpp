#include "experiments/runtime/runtime_experiment.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>

#include "experiments/compress/compress_experiment.h"
#include "experiments/run_device.h"
#include "serving/compressed_model.h"
#include "serving/gpu_serving.h"
#include "serving/model_dir.h"
#include "serving/dict_experts.h"
#include "framework/core/repo_path.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/data/samples.h"
#include "framework/model/model_tokenizer.h"
#include "framework/model/switch_model.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

// The paper's idealised baseline (Figure 5): every expert of a layer is one shared dense expert
// with zero weights, so the non-expert work and the dense expert matmuls are those of a bf16
// model without its memory.
class SharedZeroExpert : public ExpertOverride {
 public:
  SharedZeroExpert(const SwitchConfig& cfg, at::ScalarType dtype, const ModelOptions& mo = {}) {
    for (Stack s : {Stack::kEncoder, Stack::kDecoder})
      for (int64_t b = 0; b < cfg.NumBlocks(s); ++b)
        if (cfg.IsSparse(s, b)) {
          const auto o = at::TensorOptions().dtype(dtype).device(mo.block_device ? mo.block_device(s, b) : mo.device);
          layers_[{int(s), b}] = {at::zeros({cfg.d_ff, cfg.d_model}, o), at::zeros({cfg.d_model, cfg.d_ff}, o)};
        }
  }
  bool Covers(const ExpertId& id) const override { return layers_.count({int(id.stack), id.block}) > 0; }
  at::Tensor Forward(const ExpertId& id, const at::Tensor& z) const override {
    const auto& [wi, wo] = layers_.at({int(id.stack), id.block});
    return at::linear(at::relu(at::linear(z, wi)), wo);
  }

 private:
  std::map<std::pair<int, int64_t>, std::pair<at::Tensor, at::Tensor>> layers_;
};

double Seconds(const std::function<void()>& fn) {
  const auto a = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
}

}  // namespace

void RuntimeExperiment::Run(RunContext& ctx) {
  SwitchConfig yaml_cfg = FromParamMap<SwitchConfig>(ctx.sections.at("model"));
  // A compressed model.path (e.g. a published QMoE checkpoint) serves when experiment.compressed is empty.
  const bool from_model =
      p_.compressed.empty() && !yaml_cfg.path.empty() && IsCompressedModelDir(ResolveRepoPath(yaml_cfg.path));
  QMOE_CHECK(from_model || !p_.compressed.empty(), "experiment.compressed is empty: give the directory written by ",
             "qmoe run experiment=compress method=dict experiment.save=DIR (or a compressed model.path)");
  const std::string cdir = ResolveRepoPath(from_model ? yaml_cfg.path : p_.compressed);
  QMOE_CHECK(IsCompressedModelDir(cdir), "experiment.compressed '", p_.compressed, "': neither qmoe.json nor ",
             "noexp.pt + exp00.pt in '", cdir, "' (not a complete compressed model directory)");
  std::shared_ptr<const WeightSource> cw = OpenModelDirWeights(cdir);
  SwitchConfig cfg = ReadHfConfig(fs::path(cdir) / "config.json");
  cfg.dtype = yaml_cfg.dtype;
  cfg.expert_capacity = yaml_cfg.expert_capacity;
  cfg.name = yaml_cfg.name;
  cfg.tokenizer = yaml_cfg.tokenizer;

  DictExpertsOptions so;
  so.gemm_threshold = p_.gemm_threshold;
  // device=cuda...: experts on the GPU(s) by the CUDA kernel, every model placed alike (docs/gpu.md).
  const DeviceSpec device = RunDevice(ctx);
  std::shared_ptr<ExpertOverride> experts;
  int64_t packed_bytes = 0;
  int expert_threads = 0;  // CPU kernels' threads (0 on a GPU)
  ModelOptions mo;
  if (device.cuda) {
    QMOE_CHECK(p_.kernel_path.empty(), "experiment.kernel_path='", p_.kernel_path,
               "' names a CPU kernel; device=", device.ToString(), " serves the experts with the CUDA kernel");
    const auto* c = dynamic_cast<const CompressedWeights*>(cw.get());
    QMOE_CHECK(c, "device=", device.ToString(), ": the GPU path serves qmoe's own compressed directories (qmoe.json); '",
               cdir, "' is not one");
    GpuServing gs = ServeOnGpus(*c, cfg, device, p_.gemm_threshold);
    std::cout << "runtime: placement " << gs.description << "\n";
    experts = gs.experts, packed_bytes = gs.experts->packed_bytes(), mo = gs.model_options;
  } else {
    so.threads = int(p_.threads);
    so.kernel_path = p_.kernel_path;
    RansExpertsOptions ro;
    ro.gemm_threshold = p_.gemm_threshold;
    ro.threads = p_.threads > 0 ? int(p_.threads) : at::get_num_threads();
    const ServedExperts served = ServePackedExperts(*cw, cfg, so, ro);  // dict or rans kernels, by the method
    experts = served.experts, packed_bytes = served.packed_bytes;
    if (auto d = std::dynamic_pointer_cast<DictExperts>(experts)) expert_threads = d->threads();
    else expert_threads = ro.threads;
    QMOE_CHECK(p_.kernel_path.empty() || std::dynamic_pointer_cast<DictExperts>(experts),
               "experiment.kernel_path='", p_.kernel_path, "' names a dict kernel, but '", cdir,
               "' is not a dict model (its experts are served by the rans kernel)");
  }
  SwitchModel comp(cfg, cw, mo);
  comp.SetExpertOverride(experts);

  std::shared_ptr<const WeightSource> base_weights = cw;  // shared: the compressed dir's dense tensors
  if (p_.baseline == "dense") {
    QMOE_CHECK(!yaml_cfg.path.empty() && !from_model, "experiment.baseline=dense needs model.path (the uncompressed ",
               "model", from_model ? "; model.path is the compressed one" : "", "); or use experiment.baseline=shared");
    const std::string mdir = ResolveRepoPath(yaml_cfg.path);
    SwitchConfig disk = ReadHfConfig(fs::path(mdir) / "config.json");
    QMOE_CHECK(disk.d_model == cfg.d_model && disk.d_ff == cfg.d_ff && disk.num_experts == cfg.num_experts &&
                   disk.num_layers == cfg.num_layers && disk.num_decoder_layers == cfg.num_decoder_layers &&
                   disk.vocab_size == cfg.vocab_size,
               "model.path '", yaml_cfg.path, "' is not the architecture of the compressed model in '", cdir, "'");
    base_weights = CheckpointWeights::Open(mdir);
  }
  SwitchModel base(cfg, base_weights, mo);
  if (p_.baseline == "shared") base.SetExpertOverride(std::make_shared<SharedZeroExpert>(cfg, cfg.ScalarType(), mo));

  // Prompts: the encoder side of the first validation samples, domains in order.
  data::DataParams dp = FromParamMap<data::DataParams>(ctx.sections.at("data"));
  dp.n_validation_per_domain = p_.samples;
  const std::string root = RepoRootFor("data/tokenizer");
  data::Tokenizer tok = LoadModelTokenizer(dp, root, cfg);
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& set : data::BuildValidationSets(dp, tok, root))
    for (const auto& s : set.samples)
      if (int64_t(prompts.size()) < p_.samples) prompts.push_back(s.encoder);
  QMOE_CHECK(int64_t(prompts.size()) == p_.samples, "experiment.samples=", p_.samples, " but the validation ",
             "domains hold only ", prompts.size(), " samples");

  // The same compressed model with simulated (dequantized) experts: its greedy tokens must match
  // the kernels' (checked on the first timed prompt, untimed), whatever the quantization did.
  SwitchModel sim(cfg, cw, mo);
  double sim_agreement = -1;
  double t_comp = 0, t_base = 0, prompt_tokens = 0;
  std::vector<double> all_comp, all_base;
  int64_t agree = 0, compared = 0;
  for (int64_t i = 0; i < p_.samples; ++i) {
    at::Tensor enc = at::tensor(std::vector<int64_t>(prompts[size_t(i)].begin(), prompts[size_t(i)].end()),
                                at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
    at::Tensor out_b, out_c;
    // Alternate the order so slow drift on a shared machine hits both sides alike.
    double tb = 0, tc = 0;
    if (i % 2 == 0) {
      tb = Seconds([&] { out_b = base.Generate(enc, p_.tokens, {}, -1).to(at::kCPU); });  // .to: waits for a GPU
      tc = Seconds([&] { out_c = comp.Generate(enc, p_.tokens, {}, -1).to(at::kCPU); });
    } else {
      tc = Seconds([&] { out_c = comp.Generate(enc, p_.tokens, {}, -1).to(at::kCPU); });
      tb = Seconds([&] { out_b = base.Generate(enc, p_.tokens, {}, -1).to(at::kCPU); });
    }
    QMOE_ASSERT(out_c.size(1) == 1 + p_.tokens && out_b.size(1) == 1 + p_.tokens);
    if (i == 0) continue;  // warm-up
    t_comp += tc, t_base += tb, prompt_tokens += double(enc.size(1));
    all_comp.push_back(tc), all_base.push_back(tb);
    agree += (out_b.narrow(1, 1, p_.tokens) == out_c.narrow(1, 1, p_.tokens)).sum().item<int64_t>();
    compared += p_.tokens;
    std::cout << "runtime sample " << i << ": baseline " << tb << " s, compressed " << tc << " s";
    if (i == 1) {
      at::Tensor out_s = sim.Generate(enc, p_.tokens, {}, -1).to(at::kCPU);
      sim_agreement = double((out_s == out_c).narrow(1, 1, p_.tokens).sum().item<int64_t>()) / double(p_.tokens);
      sim.ReleaseAll();
      // The first tokens, to eyeball what is generated.
      const int64_t show = std::min<int64_t>(p_.tokens, 8);
      auto ids = [&](const at::Tensor& t) {
        std::string s;
        for (int64_t i = 1; i <= show; ++i) s += StrCat(i > 1 ? " " : "", t[0][i].item<int64_t>());
        return s;
      };
      std::cout << "; first tokens baseline [" << ids(out_b) << "] compressed [" << ids(out_c) << "]";
    }
    std::cout << "\n";
  }
  const double n = double(p_.samples - 1);
  t_comp /= n, t_base /= n;
  ctx.Metric("generate_seconds_compressed", t_comp, "s");
  ctx.Metric("generate_seconds_baseline", t_base, "s");
  ctx.Metric("runtime_overhead", t_comp / t_base - 1.0, "fraction");
  ctx.Metric("tokens_per_second_compressed", double(p_.tokens) / t_comp, "tokens/s");
  ctx.Metric("tokens_per_second_baseline", double(p_.tokens) / t_base, "tokens/s");
  // Medians beside the paper's means: robust to a stall on a shared machine.
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  const double m_comp = median(all_comp), m_base = median(all_base);
  ctx.Metric("generate_seconds_compressed_median", m_comp, "s");
  ctx.Metric("generate_seconds_baseline_median", m_base, "s");
  ctx.Metric("runtime_overhead_median", m_comp / m_base - 1.0, "fraction");
  ctx.Metric("timed_samples", n, "samples");
  ctx.Metric("mean_prompt_tokens", prompt_tokens / n, "tokens");
  ctx.Metric("expert_packed_bytes", double(packed_bytes), "bytes");
  ctx.Metric("simulated_token_agreement", sim_agreement, "fraction");
  ctx.Metric("expert_threads", double(expert_threads), "threads");
  ctx.Metric("torch_threads", double(at::get_num_threads()), "threads");
  if (p_.baseline == "dense") ctx.Metric("generated_token_agreement", double(agree) / double(compared), "fraction");
  std::cout << "runtime: baseline (" << p_.baseline << ") " << t_base << " s, compressed " << t_comp
            << " s per " << p_.tokens << " tokens: overhead " << 100.0 * (t_comp / t_base - 1.0) << " % (median "
            << 100.0 * (m_comp / m_base - 1.0) << " %)\n";
}

}  // namespace qmoe
