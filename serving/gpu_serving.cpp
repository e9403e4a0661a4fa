#include "serving/gpu_serving.h"

#include <map>

#include "framework/core/error.h"
#include "framework/model/switch_names.h"
#include "kernels/common/cuda_device.h"
#include "serving/compressed_model.h"

namespace qmoe {
namespace {

std::string LayerName(Stack s, int64_t block) { return StrCat(StackName(s), ".block.", block); }

// Layer name -> its place (copied, so the functions own what they read).
std::map<std::string, LayerPlace> ByName(const Placement& p) {
  std::map<std::string, LayerPlace> m;
  for (const auto& l : p.layers) m[l.name] = l;
  return m;
}

}  // namespace

std::function<int(Stack, int64_t)> BlockGpu(const Placement& p) {
  auto by = ByName(p);
  return [by](Stack s, int64_t block) {
    auto it = by.find(LayerName(s, block));
    QMOE_ASSERT(it != by.end(), "no placement for ", LayerName(s, block));
    return it->second.gpu;
  };
}

std::function<int(const ExpertId&)> ExpertGpu(const Placement& p) {
  auto by = ByName(p);
  return [by](const ExpertId& id) {
    auto it = by.find(LayerName(id.stack, id.block));
    QMOE_ASSERT(it != by.end(), "no placement for ", LayerName(id.stack, id.block));
    for (const ExpertRun& r : it->second.experts)
      if (id.expert >= r.begin && id.expert < r.end) return r.gpu;
    QMOE_ASSERT(false, "expert ", id.expert, " of ", LayerName(id.stack, id.block), " is not placed");
    return 0;
  };
}

ModelOptions PlacedModelOptions(const Placement& p, const DeviceSpec& devices) {
  ModelOptions o;
  auto by = ByName(p);
  auto embed = by.find("embed");
  o.device = devices.Torch(embed != by.end() ? size_t(embed->second.gpu) : 0);
  if (devices.ordinals.size() > 1) {
    auto gpu = BlockGpu(p);
    o.block_device = [gpu, devices](Stack s, int64_t b) { return devices.Torch(size_t(gpu(s, b))); };
  }
  return o;
}

GpuServing ServeOnGpus(const CompressedWeights& w, const SwitchConfig& cfg, const DeviceSpec& devices,
                       int64_t gemm_threshold, int64_t reserve_bytes) {
  QMOE_CHECK(devices.cuda, "ServeOnGpus: device=", devices.ToString(), " is not a GPU");
  std::vector<int64_t> budgets;
  for (const auto& m : kernels::CudaMemoryOf(devices.ordinals)) budgets.push_back(std::max<int64_t>(m.free - reserve_bytes, 1));
  const double expert_bits = w.expert_params() > 0 ? w.expert_bits() / double(w.expert_params()) : 16.0;
  const double dense_bits = cfg.ScalarType() == at::kFloat ? 32.0 : 16.0;  // dense tensors in the compute dtype
  GpuServing s;
  s.placement = PlaceLayers(ModelLayerNeeds(cfg, expert_bits, dense_bits), budgets);
  s.description = DescribePlacement(s.placement);
  s.model_options = PlacedModelOptions(s.placement, devices);
  DictExpertsCudaOptions eo;
  eo.gemm_threshold = gemm_threshold;
  s.experts = DictExpertsCuda::FromCompressed(w, cfg, devices, ExpertGpu(s.placement), eo);
  return s;
}

}  // namespace qmoe
