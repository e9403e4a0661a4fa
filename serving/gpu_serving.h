// Serving a `dict`-compressed model on one or several GPUs (device=cuda, cuda:N, cuda:0,1,2,3):
// the layers placed under each GPU's free memory (placement.h), the model options that put every
// block where it was placed, and the packed experts uploaded to their GPUs (dict_experts_cuda.h).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "framework/device/device.h"
#include "framework/model/switch_model.h"
#include "serving/dict_experts_cuda.h"
#include "serving/placement.h"

namespace qmoe {

class CompressedWeights;

// Pure: the listed-GPU index (into DeviceSpec::ordinals) of each block's dense part, and of each
// expert, as `p` placed them. Blocks and experts are looked up by the names ModelLayerNeeds gives.
std::function<int(Stack, int64_t block)> BlockGpu(const Placement& p);
std::function<int(const ExpertId&)> ExpertGpu(const Placement& p);

// Model options that put weights and blocks where `p` placed them on `devices`.
ModelOptions PlacedModelOptions(const Placement& p, const DeviceSpec& devices);

struct GpuServing {
  std::shared_ptr<DictExpertsCuda> experts;
  ModelOptions model_options;
  Placement placement;
  std::string description;  // DescribePlacement, for the log
};

// Places `cfg` (experts at the directory's exact stored rate, dense tensors in the model dtype)
// on the listed GPUs' free memory less `reserve_bytes` each (activations, KV caches, cuBLAS
// workspace), then uploads the experts. One Error when the model does not fit.
GpuServing ServeOnGpus(const CompressedWeights& w, const SwitchConfig& cfg, const DeviceSpec& devices,
                       int64_t gemm_threshold, int64_t reserve_bytes = int64_t{2} << 30);

}  // namespace qmoe
