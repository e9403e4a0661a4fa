// Where a SwitchModel gets its weights, by HF name (docs/switch-semantics.md#checkpoint-files-and-tensor-names). Sources return tensors in their
// stored dtype; SwitchModel casts to the compute dtype when it loads them.
//   CheckpointWeights  lazy reads from a Checkpoint (framework/io), with the Switch aliases (c-2048's shared / lm_head names)
//   MapWeights         an in-memory name -> tensor map (training, tests)
//   OverlayWeights     an override map consulted before a base source (fake-quantized experts)
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace qmoe {

class Checkpoint;

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual bool Has(const std::string& name) const = 0;
  // The tensor stored for `name` (aliases resolved). Throws Error naming the tensor and the source.
  virtual at::Tensor Get(const std::string& name) const = 0;
  // Where the weights come from, for error messages ("checkpoint /x/y", "in-memory weights").
  virtual std::string Describe() const = 0;
};

// Names under which a Switch tensor may be stored, `name` first (docs/switch-semantics.md): the tied embedding
// under shared / encoder / decoder.embed_tokens, c-2048's head as decoder.lm_head.weight.
std::vector<std::string> SwitchNameCandidates(const std::string& name);

class CheckpointWeights : public WeightSource {
 public:
  explicit CheckpointWeights(std::shared_ptr<const Checkpoint> ckpt);
  // Opens `dir` with Checkpoint::Open.
  static std::shared_ptr<CheckpointWeights> Open(const std::string& dir);
  bool Has(const std::string& name) const override;
  at::Tensor Get(const std::string& name) const override;
  std::string Describe() const override;
  const Checkpoint& checkpoint() const { return *ckpt_; }

 private:
  std::shared_ptr<const Checkpoint> ckpt_;
};

class MapWeights : public WeightSource {
 public:
  MapWeights() = default;
  explicit MapWeights(std::map<std::string, at::Tensor> tensors) : tensors_(std::move(tensors)) {}
  bool Has(const std::string& name) const override;
  at::Tensor Get(const std::string& name) const override;  // the stored tensor itself (shares storage)
  std::string Describe() const override { return "in-memory weights"; }
  void Set(const std::string& name, at::Tensor t) { tensors_[name] = std::move(t); }
  bool Erase(const std::string& name) { return tensors_.erase(name) > 0; }
  const std::map<std::string, at::Tensor>& tensors() const { return tensors_; }

 private:
  std::map<std::string, at::Tensor> tensors_;
};

// Overrides first, then `base`. The pipeline substitutes quantized experts here.
class OverlayWeights : public WeightSource {
 public:
  explicit OverlayWeights(std::shared_ptr<const WeightSource> base) : base_(std::move(base)) {}
  bool Has(const std::string& name) const override;
  at::Tensor Get(const std::string& name) const override;
  std::string Describe() const override;
  void Set(const std::string& name, at::Tensor t) { overrides_.Set(name, std::move(t)); }
  bool Erase(const std::string& name) { return overrides_.Erase(name); }
  const MapWeights& overrides() const { return overrides_; }

 private:
  std::shared_ptr<const WeightSource> base_;
  MapWeights overrides_;
};

}  // namespace qmoe
