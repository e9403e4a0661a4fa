#include "serving/model_dir.h"

#include "serving/compressed_model.h"
#include "serving/qmoe_published.h"
#include "framework/core/error.h"

namespace fs = std::filesystem;

namespace qmoe {

const char* ModelDirLayoutName(ModelDirLayout layout) {
  switch (layout) {
    case ModelDirLayout::kHf: return "hf";
    case ModelDirLayout::kQmoe: return "qmoe";
    case ModelDirLayout::kPublished: return "published";
  }
  return "?";
}

ModelDirLayout DetectModelDirLayout(const fs::path& dir) {
  if (fs::exists(dir / "qmoe.json")) return ModelDirLayout::kQmoe;
  if (fs::exists(dir / "noexp.pt") && fs::exists(dir / "exp00.pt")) return ModelDirLayout::kPublished;
  return ModelDirLayout::kHf;
}

bool IsCompressedModelDir(const fs::path& dir) { return DetectModelDirLayout(dir) != ModelDirLayout::kHf; }

std::shared_ptr<const WeightSource> OpenModelDirWeights(const fs::path& dir) {
  switch (DetectModelDirLayout(dir)) {
    case ModelDirLayout::kQmoe: return CompressedWeights::Open(dir);
    case ModelDirLayout::kPublished: return PublishedQmoeWeights::Open(dir);
    case ModelDirLayout::kHf: break;
  }
  return CheckpointWeights::Open(dir.string());
}

std::shared_ptr<DictExperts> OpenPackedExperts(const WeightSource& weights, const SwitchConfig& cfg,
                                               DictExpertsOptions opts) {
  if (const auto* c = dynamic_cast<const CompressedWeights*>(&weights)) return DictExperts::FromCompressed(*c, cfg, opts);
  if (const auto* p = dynamic_cast<const PublishedQmoeWeights*>(&weights)) return p->MakeDictExperts(opts);
  throw Error(StrCat(weights.Describe(), ": not a compressed model directory (no qmoe.json, nor noexp.pt + exp00.pt): ",
                     "its experts have no packed codes to serve"));
}

ServedExperts ServePackedExperts(const WeightSource& weights, const SwitchConfig& cfg, DictExpertsOptions dict_opts,
                                 RansExpertsOptions rans_opts) {
  if (const auto* c = dynamic_cast<const CompressedWeights*>(&weights); c && c->method_key() == "rans") {
    auto r = RansExperts::FromCompressed(*c, cfg, rans_opts);
    return {r, "rans", r->num_experts(), r->packed_bytes()};
  }
  auto d = OpenPackedExperts(weights, cfg, dict_opts);
  return {d, "dict", d->num_experts(), d->packed_bytes()};
}

}  // namespace qmoe
