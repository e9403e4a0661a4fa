#include "framework/model/switch_names.h"

#include "framework/core/error.h"

namespace qmoe {

std::string BlockPrefix(Stack s, int64_t block) { return StrCat(StackName(s), ".block.", block, "."); }

std::string FfPrefix(Stack s, int64_t block) {
  return StrCat(BlockPrefix(s, block), "layer.", s == Stack::kEncoder ? 1 : 2, ".");
}

std::string ExpertWeightName(Stack s, int64_t block, int64_t expert, const std::string& matrix) {
  return StrCat(FfPrefix(s, block), "mlp.experts.expert_", expert, ".", matrix, ".weight");
}

std::string RouterWeightName(Stack s, int64_t block) { return FfPrefix(s, block) + "mlp.router.classifier.weight"; }

std::string AttentionWeightName(Stack s, int64_t block, int sublayer, const std::string& proj) {
  QMOE_ASSERT(sublayer == 0 || (sublayer == 1 && s == Stack::kDecoder));
  return StrCat(BlockPrefix(s, block), "layer.", sublayer, sublayer == 0 ? ".SelfAttention." : ".EncDecAttention.",
                proj, ".weight");
}

std::string RelativeBiasWeightName(Stack s) {
  return BlockPrefix(s, 0) + "layer.0.SelfAttention.relative_attention_bias.weight";
}

std::vector<TensorShape> SwitchTensorShapes(const SwitchConfig& c) {
  const int64_t d = c.d_model, inner = c.InnerDim();
  std::vector<TensorShape> out;
  out.push_back({"shared.weight", {c.vocab_size, d}});
  for (Stack s : {Stack::kEncoder, Stack::kDecoder}) {
    for (int64_t b = 0; b < c.NumBlocks(s); ++b) {
      const int attn_layers = s == Stack::kEncoder ? 1 : 2;
      for (int l = 0; l < attn_layers; ++l) {
        for (const char* p : {"q", "k", "v"}) out.push_back({AttentionWeightName(s, b, l, p), {inner, d}});
        out.push_back({AttentionWeightName(s, b, l, "o"), {d, inner}});
        if (l == 0 && b == 0)
          out.push_back({RelativeBiasWeightName(s), {c.relative_attention_num_buckets, c.num_heads}});
        out.push_back({StrCat(BlockPrefix(s, b), "layer.", l, ".layer_norm.weight"), {d}});
      }
      const std::string ff = FfPrefix(s, b);
      out.push_back({ff + "layer_norm.weight", {d}});
      if (c.IsSparse(s, b)) {
        out.push_back({RouterWeightName(s, b), {c.num_experts, d}});
        for (int64_t e = 0; e < c.num_experts; ++e) {
          out.push_back({ExpertWeightName(s, b, e, "wi"), {c.d_ff, d}, true});
          out.push_back({ExpertWeightName(s, b, e, "wo"), {d, c.d_ff}, true});
        }
      } else {
        out.push_back({ff + "mlp.wi.weight", {c.d_ff, d}});
        out.push_back({ff + "mlp.wo.weight", {d, c.d_ff}});
      }
    }
    out.push_back({StrCat(StackName(s), ".final_layer_norm.weight"), {d}});
  }
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, d}});
  return out;
}

}  // namespace qmoe
