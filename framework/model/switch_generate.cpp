// Greedy generation with a KV cache (docs/switch-semantics.md, generation timing): the encoder runs once, each decoder block keeps
// its self-attention K/V and computes the cross-attention K/V of enc_out once.
#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/model/switch_model.h"

namespace qmoe {

at::Tensor SwitchModel::Generate(const at::Tensor& enc_ids_in, int64_t max_new_tokens, const at::Tensor& enc_mask,
                                 int64_t eos_id) {
  QMOE_CHECK(max_new_tokens >= 0, "Generate: max_new_tokens must be >= 0, got ", max_new_tokens);
  const at::Tensor enc_ids = enc_ids_in.dim() == 1 ? enc_ids_in.unsqueeze(0) : enc_ids_in;
  const bool stream = opts_.stream;
  opts_.stream = false;  // every step reuses every weight
  at::Tensor enc_out = EncoderForward(enc_ids, enc_mask);
  const int64_t B = enc_ids.size(0);
  at::Tensor cross = enc_mask.defined() ? AttentionMask(enc_mask, 1, enc_out.size(1), false, 0, B) : at::Tensor();
  std::vector<BlockCache> caches(cfg_.num_decoder_layers);
  // Tokens live where the head computes (argmax output), so each step's concatenation stays there.
  const c10::Device dev = enc_out.device();
  at::Tensor tokens = at::full({B, 1}, cfg_.pad_token_id, at::TensorOptions().dtype(at::kLong).device(dev));
  at::Tensor done = at::zeros({B, 1}, at::TensorOptions().dtype(at::kBool).device(dev));
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    at::Tensor h = Embed(tokens.narrow(1, step, 1));
    // The new query sits at position `step`; keys 0..step are all visible (no causal mask needed).
    at::Tensor bias = RelativeBias(Stack::kDecoder, 1, step + 1, step);
    for (int64_t b = 0; b < cfg_.num_decoder_layers; ++b) h = Block(Stack::kDecoder, b, h, bias, enc_out, cross, &caches[b]);
    at::Tensor next = LmHead(FinalNorm(Stack::kDecoder, h)).argmax(-1);  // [B, 1]
    if (eos_id >= 0) {
      next = at::where(done, at::full_like(next, cfg_.pad_token_id), next);
      done = done | (next == eos_id);
    }
    tokens = at::cat({tokens, next.to(dev)}, 1);
    if (eos_id >= 0 && done.all().item<bool>()) break;
  }
  opts_.stream = stream;
  return tokens;
}

}  // namespace qmoe
