// Hugging Face tensor names of a Switch model (docs/switch-semantics.md) and the full list of tensors a config
// implies, with shapes. The names reach disk: never change them.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "framework/model/switch_config.h"

namespace qmoe {

// "encoder.block.3."
std::string BlockPrefix(Stack s, int64_t block);
// The feed-forward sublayer of a block: "encoder.block.3.layer.1." / "decoder.block.3.layer.2."
std::string FfPrefix(Stack s, int64_t block);
// "<ff>.mlp.experts.expert_<j>.<matrix>.weight", matrix = "wi" | "wo"
std::string ExpertWeightName(Stack s, int64_t block, int64_t expert, const std::string& matrix);
// "<ff>.mlp.router.classifier.weight"
std::string RouterWeightName(Stack s, int64_t block);
// Attention projection: sublayer 0 = SelfAttention, 1 = EncDecAttention (decoder); proj = q|k|v|o.
std::string AttentionWeightName(Stack s, int64_t block, int sublayer, const std::string& proj);
std::string RelativeBiasWeightName(Stack s);  // "<s>.block.0.layer.0.SelfAttention.relative_attention_bias.weight"

struct TensorShape {
  std::string name;
  std::vector<int64_t> shape;
  bool is_expert = false;  // a MoE expert matrix (the only tensors QMoE compresses)
};
// Every tensor the config implies, in HF layout: shared.weight (once), lm_head.weight when untied,
// encoder blocks, decoder blocks, final norms.
std::vector<TensorShape> SwitchTensorShapes(const SwitchConfig& cfg);

}  // namespace qmoe
