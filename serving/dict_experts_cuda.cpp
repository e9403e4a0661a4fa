#include "serving/dict_experts_cuda.h"

#include <ATen/ATen.h>

#include "codecs/dict/dict_codec.h"
#include "codecs/dict/dictionary.h"
#include "framework/core/error.h"
#include "methods/codec/packed_tensors.h"
#include "serving/compressed_model.h"
#include "serving/dict_arena.h"
#include "serving/dict_experts.h"

#if QMOE_HAVE_CUDA
#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"
#include "kernels/dict_matvec/dict_matvec_cuda.h"
#endif

namespace qmoe {
namespace {

namespace kk = qmoe::kernels;

#if QMOE_HAVE_CUDA
const kk::Bf16* Bf16Ptr(const at::Tensor& t) { return reinterpret_cast<const kk::Bf16*>(t.data_ptr<at::BFloat16>()); }
kk::Bf16* Bf16Ptr(at::Tensor& t) { return reinterpret_cast<kk::Bf16*>(t.data_ptr<at::BFloat16>()); }
#endif

}  // namespace

DictExpertsCuda::~DictExpertsCuda() = default;

std::shared_ptr<DictExpertsCuda> DictExpertsCuda::FromCompressed(const CompressedWeights& w, const SwitchConfig& cfg,
                                                                 const DeviceSpec& devices, const GpuOf& gpu_of,
                                                                 DictExpertsCudaOptions opts) {
  QMOE_CHECK(devices.cuda && !devices.ordinals.empty(), "DictExpertsCuda: device=", devices.ToString(),
             " is not a GPU (the CPU serves through DictExperts)");
  QMOE_CHECK(opts.gemm_threshold >= 1, "DictExpertsCuda: gemm_threshold must be >= 1, got ", opts.gemm_threshold);
  QMOE_CHECK(w.method_key() == "dict", w.Describe(), ": compressed with method '", w.method_key(),
             "', but the dict kernels serve only 'dict' models");
#if !QMOE_HAVE_CUDA
  (void)cfg, (void)gpu_of;
  throw Error("DictExpertsCuda: this qmoe was built without the CUDA toolkit (nvcc not found at configure time); "
              "docs/gpu.md");
#else
  std::shared_ptr<DictExpertsCuda> out(new DictExpertsCuda());
  out->devices_ = devices;
  out->opts_ = opts;
  const size_t n_gpus = devices.ordinals.size();
  // Host side: validate and collect every matrix per GPU (the packed tensors stay alive in `keep`).
  std::vector<std::vector<kk::DictView>> mats(n_gpus);
  std::vector<std::vector<std::pair<Key, bool>>> owner(n_gpus);  // (expert, is_wo) per matrix
  std::vector<codecs::PackedTensors> keep;
  DictExperts::ForEachExpertMatrix(cfg, [&](const ExpertId& id, const char* mat, const std::string& name) {
    auto it = w.matrices().find(name);
    QMOE_CHECK(it != w.matrices().end(), w.Describe(), ": expert matrix '", name, "' is not in qmoe.json");
    codecs::TensorViews fields = codecs::ViewTensors(w.Packed(name));
    const kk::DictView v = dict::Unpack(fields.views, name, it->second.rows, it->second.cols);
    keep.push_back(std::move(fields.keep));
    const int g = gpu_of ? gpu_of(id) : 0;
    QMOE_CHECK(g >= 0 && size_t(g) < n_gpus, "DictExpertsCuda: expert ", name, " placed on GPU index ", g, " of ",
               n_gpus);
    mats[size_t(g)].push_back(v);
    owner[size_t(g)].emplace_back(KeyOf(id), std::string(mat) == "wo");
    out->packed_bytes_ += 2 * v.num_codes + 4 * (v.rows + 1) + 4 * v.rows;
  });
  // Device side: one arena and one decode table per GPU, each a single upload.
  const std::vector<uint32_t>& table = dict::DecodeTable();
  dict::ValidateDecodeTable(table.data());
  out->gpus_.resize(n_gpus);
  for (size_t g = 0; g < n_gpus; ++g) {
    const c10::Device dev = devices.Torch(g);
    const ArenaLayout layout = PlanArena(mats[g]);
    at::Tensor host = at::empty({std::max<int64_t>(layout.bytes, 1)},
                                at::TensorOptions().dtype(at::kByte).pinned_memory(true));
    FillArena(mats[g], layout, host.data_ptr<uint8_t>());
    Gpu& gpu = out->gpus_[g];
    gpu.arena = host.to(dev);
    gpu.dec = at::from_blob(const_cast<uint32_t*>(table.data()), {int64_t(table.size())}, at::kInt).to(dev);
    const std::vector<kk::DictView> views = ArenaViews(layout, gpu.arena.data_ptr<uint8_t>());
    for (size_t i = 0; i < views.size(); ++i) {
      Expert& e = out->experts_[owner[g][i].first];
      e.gpu = int(g);
      (owner[g][i].second ? e.wo : e.wi) = views[i];
    }
  }
  return out;
#endif
}

bool DictExpertsCuda::Covers(const ExpertId& id) const {
  auto it = experts_.find(KeyOf(id));
  return it != experts_.end() && it->second.wi.rows > 0 && it->second.wo.rows > 0;
}

int64_t DictExpertsCuda::device_bytes() const {
  int64_t n = 0;
  for (const Gpu& g : gpus_) n += g.arena.defined() ? g.arena.numel() : 0;
  return n;
}

at::Tensor DictExpertsCuda::Forward(const ExpertId& id, const at::Tensor& z) const {
  auto it = experts_.find(KeyOf(id));
  QMOE_CHECK(it != experts_.end(), "DictExpertsCuda: no compressed wi/wo for ", StackName(id.stack), " block ",
             id.block, " expert ", id.expert);
#if !QMOE_HAVE_CUDA
  (void)z;
  throw Error("DictExpertsCuda: built without the CUDA toolkit");
#else
  const Expert& e = it->second;
  const int64_t d = e.wi.cols, f = e.wi.rows, n = z.size(0);
  QMOE_CHECK(z.dim() == 2 && z.size(1) == d, "DictExpertsCuda: z must be [n, ", d, "], got ", z.sizes());
  const Gpu& gpu = gpus_[size_t(e.gpu)];
  const c10::Device dev = devices_.Torch(size_t(e.gpu));
  const int ordinal = devices_.ordinals[size_t(e.gpu)];
  std::lock_guard<std::mutex> lock(mu_);
  CUDA_CHECK(cudaSetDevice(ordinal));  // the kernels and cuBLAS launch on the current device
  if (!gpu.blas) gpu.blas = std::make_shared<kk::CublasBf16Gemv>();
  auto& blas = *static_cast<kk::CublasBf16Gemv*>(gpu.blas.get());
  const auto* dec = reinterpret_cast<const uint32_t*>(gpu.dec.data_ptr<int32_t>());
  const auto bf16 = at::TensorOptions().dtype(at::kBFloat16).device(dev);
  at::Tensor x = z.to(dev, at::kBFloat16).contiguous();
  at::Tensor hid = at::empty({n, f}, bf16), out = at::empty({n, d}, bf16);
  const bool gemm = n > opts_.gemm_threshold;
  at::Tensor scratch = gemm ? at::empty({std::max(f * d, int64_t{1})}, bf16) : at::Tensor();
  kk::Bf16* sp = gemm ? Bf16Ptr(scratch) : nullptr;
  kk::DictMatmulCuda(ordinal, e.wi, dec, Bf16Ptr(x), n, Bf16Ptr(hid), sp, blas, opts_.gemm_threshold);
  hid = at::relu(hid).contiguous();  // exact on bf16 values
  kk::DictMatmulCuda(ordinal, e.wo, dec, Bf16Ptr(hid), n, Bf16Ptr(out), sp, blas, opts_.gemm_threshold);
  return out.to(z.device(), z.scalar_type());
#endif
}

}  // namespace qmoe
