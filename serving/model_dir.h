// What a model directory holds, decided in one place for every experiment that takes `model.path`
// (or a compressed directory):
//   hf          a Hugging Face checkpoint: config.json + safetensors / pytorch_model*.bin
//   qmoe        a qmoe compressed model directory (qmoe.json, compressed_model.h)
//   published   the QMoE authors' released compressed checkpoints: config.json, noexp.pt,
//               exp00.pt ... (one per MoE layer), optional sizes.pt (qmoe_published.h)
// The two compressed layouts evaluate through the same forward pass (experts decoded), are not
// compressed again, and serve their experts from the packed codes in the runtime experiment.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "serving/dict_experts.h"
#include "serving/rans_experts.h"
#include "framework/model/switch_config.h"
#include "framework/model/weight_source.h"

namespace qmoe {

enum class ModelDirLayout { kHf, kQmoe, kPublished };
const char* ModelDirLayoutName(ModelDirLayout layout);  // "hf", "qmoe", "published"

// By the files present: qmoe.json -> qmoe; noexp.pt and exp00.pt -> published; otherwise hf.
ModelDirLayout DetectModelDirLayout(const std::filesystem::path& dir);
// qmoe or published: already compressed.
bool IsCompressedModelDir(const std::filesystem::path& dir);

// The weights of any layout (compressed experts decoded to dense on Get).
std::shared_ptr<const WeightSource> OpenModelDirWeights(const std::filesystem::path& dir);

// Every expert of a compressed model served from its packed codes. `weights` must come from
// OpenModelDirWeights of a compressed directory (an Error names it otherwise).
std::shared_ptr<DictExperts> OpenPackedExperts(const WeightSource& weights, const SwitchConfig& cfg,
                                               DictExpertsOptions opts = {});

// Every expert of a compressed model served from its packed codes by its codec's kernel: DictExperts
// for `dict` (and published) models, RansExperts for `rans` models; any other method is an Error.
struct ServedExperts {
  std::shared_ptr<ExpertOverride> experts;
  std::string codec;  // "dict" or "rans"
  int64_t num_experts = 0, packed_bytes = 0;
};
ServedExperts ServePackedExperts(const WeightSource& weights, const SwitchConfig& cfg, DictExpertsOptions dict_opts = {},
                                 RansExpertsOptions rans_opts = {});

}  // namespace qmoe
