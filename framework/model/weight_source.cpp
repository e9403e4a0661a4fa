#include "framework/model/weight_source.h"

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/io/checkpoint.h"
#include "framework/io/switch_alias.h"

namespace qmoe {

std::vector<std::string> SwitchNameCandidates(const std::string& name) {
  if (name == "encoder.embed_tokens.weight" || name == "decoder.embed_tokens.weight")
    return {name, "shared.weight"};
  if (name == "shared.weight") return {name, "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"};
  if (name == "lm_head.weight") return {name, "decoder.lm_head.weight"};
  return {name};
}

CheckpointWeights::CheckpointWeights(std::shared_ptr<const Checkpoint> ckpt) : ckpt_(std::move(ckpt)) {
  QMOE_ASSERT(ckpt_ != nullptr);
}

std::shared_ptr<CheckpointWeights> CheckpointWeights::Open(const std::string& dir) {
  return std::make_shared<CheckpointWeights>(std::shared_ptr<const Checkpoint>(Checkpoint::Open(dir)));
}

bool CheckpointWeights::Has(const std::string& name) const {
  for (const std::string& n : SwitchNameCandidates(name))
    if (ckpt_->Has(n)) return true;
  return false;
}

at::Tensor CheckpointWeights::Get(const std::string& name) const {
  return ckpt_->Load(ResolveSwitchAlias(*ckpt_, name));  // throws naming the tensor and the names tried
}

std::string CheckpointWeights::Describe() const { return "checkpoint " + ckpt_->dir().string(); }

bool MapWeights::Has(const std::string& name) const {
  for (const std::string& n : SwitchNameCandidates(name))
    if (tensors_.count(n)) return true;
  return false;
}

at::Tensor MapWeights::Get(const std::string& name) const {
  const auto candidates = SwitchNameCandidates(name);
  for (const std::string& n : candidates) {
    auto it = tensors_.find(n);
    if (it != tensors_.end()) return it->second;
  }
  std::vector<std::string> names;
  for (const auto& kv : tensors_) names.push_back(kv.first);
  throw Error(StrCat("in-memory weights: no tensor \"", name, "\" (tried ", Join(candidates, ", "), ")",
                     DidYouMean(name, names)));
}

bool OverlayWeights::Has(const std::string& name) const { return overrides_.Has(name) || base_->Has(name); }

at::Tensor OverlayWeights::Get(const std::string& name) const {
  if (overrides_.Has(name)) return overrides_.Get(name);
  return base_->Get(name);
}

std::string OverlayWeights::Describe() const {
  return StrCat(base_->Describe(), " with ", overrides_.tensors().size(), " overrides");
}

}  // namespace qmoe
