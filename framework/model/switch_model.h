// SwitchModel: the forward pass of a Switch Transformer with the exact semantics of HF 4.28
// (docs/switch-semantics.md), written in at:: ops only so autograd works (the trainer backpropagates through it).
//
// Two ways to drive it:
//  * whole model: Forward(enc_ids, dec_ids) -> logits, EncoderForward, Generate (greedy, KV cache);
//  * block by block (the sequential pipeline, docs/method.md): RelativeBias, AttentionSublayers, FfNorm,
//    Route, ExpertForward, DenseFf, FinalNorm, LmHead, Release.
// Activations are [B, T, d_model] in the compute dtype (cfg.dtype); block-API functions also take
// one sample as [T, d_model].
//
// Weights come from a WeightSource by HF name and are cast to the compute dtype on first use, then
// cached until Release*. With ModelOptions::stream, Forward/EncoderForward drop each block's weights
// after the block and experts are loaded one at a time and never cached, so peak memory stays near
// one block's non-expert weights plus one expert. The cache holds the casts: after changing weights
// in place with a dtype cast in between, or after swapping a tensor in an OverlayWeights, call
// ReleaseWeight/ReleaseAll.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/model/switch_config.h"
#include "framework/model/weight_source.h"

namespace qmoe {

struct ModelOptions {
  bool stream = false;  // see the file comment
  // Where weights live and the forward computes (docs/gpu.md). Weights are moved there on load,
  // inputs (ids, masks) on use; CPU = the unchanged CPU path (every .to() is then a no-op).
  c10::Device device = c10::Device(c10::kCPU);
  // Several GPUs: the device of each block (unset = `device` for all). Block() moves its inputs
  // there, so activations cross devices once per boundary; embedding and head stay on `device`
  // and on block_device of the last decoder block respectively (serving/placement.h plans it).
  std::function<c10::Device(Stack, int64_t block)> block_device;
};

struct ExpertId {
  Stack stack;
  int64_t block;
  int64_t expert;
};

// Replaces the dense expert matmuls for chosen experts (e.g. a compressed sub-1-bit kernel).
class ExpertOverride {
 public:
  virtual ~ExpertOverride() = default;
  virtual bool Covers(const ExpertId& id) const = 0;
  // z: [n, d_model] in the compute dtype (n >= 1). Returns wo(relu(wi(z))), [n, d_model], same dtype.
  virtual at::Tensor Forward(const ExpertId& id, const at::Tensor& z) const = 0;
};

// Top-1 routing of FF inputs z [..., d_model] (docs/switch-semantics.md, router).
struct RouteResult {
  at::Tensor expert;  // int64 [...]: argmax of probs, first index on ties
  at::Tensor gate;    // float32 [...]: max of probs (exactly the activation-dtype value)
  at::Tensor probs;   // [..., E] activation dtype: fp32 softmax cast to the activation dtype
  at::Tensor kept;    // bool [...]: false where the token exceeded expert_capacity (dropped)
};

// Sees the activations as the model computes them, h [B, T, d_model]: after each residual add,
// (block, sublayer) with the HF layer index (encoder 0 = attention, 1 = FF; decoder 0 = self-
// attention, 1 = cross-attention, 2 = FF), plus (-1, 0) = the embedding output and (N, 0) = the
// final-normed output of EncoderForward/DecoderForward (N = blocks of the stack). For tests,
// activation statistics and debugging.
using BlockObserver = std::function<void(Stack s, int64_t block, int sublayer, const at::Tensor& h)>;

struct RoutingStats {
  int64_t routed = 0;   // tokens routed (padding included)
  int64_t dropped = 0;  // tokens over capacity: they bypass the expert and return gate * z
};

// Per decoder block: self-attention K/V of the tokens so far, cross-attention K/V of enc_out.
struct BlockCache {
  at::Tensor self_k, self_v;    // [B, H, t, d_kv]
  at::Tensor cross_k, cross_v;  // [B, H, S, d_kv], computed once
};

// ids [B, T] int64 right-padded with pad_id; mask [B, T] bool (true = real token).
struct PaddedBatch {
  at::Tensor ids;
  at::Tensor mask;
};
PaddedBatch PadBatch(const std::vector<std::vector<int64_t>>& seqs, int64_t pad_id = 0);

class SwitchModel {
 public:
  SwitchModel(SwitchConfig cfg, std::shared_ptr<const WeightSource> weights, ModelOptions opts = {});
  // Reads `dir`/config.json (ReadHfConfig, quirks applied) and opens the checkpoint in `dir`.
  static std::unique_ptr<SwitchModel> FromDirectory(const std::string& dir, ModelOptions opts = {});

  const SwitchConfig& config() const { return cfg_; }
  at::ScalarType dtype() const { return dtype_; }
  const WeightSource& weights() const { return *weights_; }
  ModelOptions& options() { return opts_; }

  // ---- weights ----
  // The tensor `name` in the compute dtype, checked against the shape the config implies; cached.
  at::Tensor Weight(const std::string& name);
  void ReleaseWeight(const std::string& name);
  void ReleaseBlock(Stack s, int64_t block);  // every cached weight of that block
  void ReleaseAll();
  int64_t CachedBytes() const;
  void SetExpertOverride(std::shared_ptr<const ExpertOverride> o) { override_ = std::move(o); }
  void SetObserver(BlockObserver o) { observer_ = std::move(o); }
  const RoutingStats& routing_stats() const { return stats_; }
  void ResetRoutingStats() { stats_ = {}; }

  // ---- block API ----
  at::Tensor Embed(const at::Tensor& ids);  // ids [B, T] (or [T]) -> [B, T, d] (no scaling)
  // Block 0's relative position bias for query positions q_offset..q_offset+q_len-1 and keys
  // 0..k_len-1: [1, H, q_len, k_len] in the compute dtype.
  at::Tensor RelativeBias(Stack s, int64_t q_len, int64_t k_len, int64_t q_offset = 0);
  // Additive mask [B, 1, q_len, k_len] with the dtype minimum at masked keys: padding (key_mask
  // [B, k_len] bool, undefined = none) and, when causal, keys after the query position.
  at::Tensor AttentionMask(const at::Tensor& key_mask, int64_t q_len, int64_t k_len, bool causal,
                           int64_t q_offset = 0, int64_t batch = 1);
  // The self-attention bias every block of a stack uses: RelativeBias + AttentionMask (causal in
  // the decoder), as HF precomputes it in block 0.
  at::Tensor SelfAttentionBias(Stack s, int64_t q_len, const at::Tensor& key_mask, int64_t batch = 1);
  // Attention sublayer(s) of a block with residuals: self-attention, and for the decoder the
  // cross-attention over enc_out (final-normed encoder output) with cross_mask (additive, from
  // AttentionMask, undefined = none). Returns the FF sublayer's input h. With `cache` (decoder),
  // h holds only the new positions and K/V are appended to / read from the cache.
  at::Tensor AttentionSublayers(Stack s, int64_t block, const at::Tensor& h, const at::Tensor& self_bias,
                                const at::Tensor& enc_out = {}, const at::Tensor& cross_mask = {},
                                BlockCache* cache = nullptr);
  at::Tensor FfNorm(Stack s, int64_t block, const at::Tensor& h);  // z = LN_ff(h)
  // Router of a sparse block. Capacity counts per sample along dim -2 of z ([T, d] = one sample).
  RouteResult Route(Stack s, int64_t block, const at::Tensor& z);
  at::Tensor ExpertForward(Stack s, int64_t block, int64_t expert, const at::Tensor& z);  // wo(relu(wi z))
  at::Tensor MoeFf(Stack s, int64_t block, const at::Tensor& z);   // gate * expert(z) (dropped: gate * z)
  at::Tensor DenseFf(Stack s, int64_t block, const at::Tensor& z); // wo(relu(wi z))
  at::Tensor FfSublayer(Stack s, int64_t block, const at::Tensor& h);  // h + FF(LN_ff(h))
  at::Tensor Block(Stack s, int64_t block, const at::Tensor& h, const at::Tensor& self_bias,
                   const at::Tensor& enc_out = {}, const at::Tensor& cross_mask = {}, BlockCache* cache = nullptr);
  at::Tensor FinalNorm(Stack s, const at::Tensor& h);
  at::Tensor LmHead(const at::Tensor& h);  // tied: (h * d^-0.5) E^T; untied: lm_head, no scaling

  // ---- whole model ----
  // Final-normed encoder output [B, T, d]. enc_mask [B, T] bool or undefined (no padding).
  at::Tensor EncoderForward(const at::Tensor& enc_ids, const at::Tensor& enc_mask = {});
  // Final-normed decoder output [B, Td, d] (teacher forcing).
  at::Tensor DecoderForward(const at::Tensor& dec_ids, const at::Tensor& enc_out, const at::Tensor& enc_mask = {},
                            const at::Tensor& dec_mask = {});
  at::Tensor Forward(const at::Tensor& enc_ids, const at::Tensor& dec_ids, const at::Tensor& enc_mask = {},
                     const at::Tensor& dec_mask = {});  // logits [B, Td, V]
  // Greedy decoding from the decoder start (pad_token_id) with a KV cache. Returns [B, 1 + n]
  // including the start token. eos_id >= 0: a row that emitted it continues with pad_token_id and
  // decoding stops when every row has; eos_id < 0: exactly max_new_tokens (the paper's timing).
  // Weights stay cached (streaming is not applied).
  at::Tensor Generate(const at::Tensor& enc_ids, int64_t max_new_tokens, const at::Tensor& enc_mask = {},
                      int64_t eos_id = -1);

 private:
  at::Tensor Load(const std::string& name, bool cache);
  c10::Device DeviceOf(const std::string& weight_name) const;  // ModelOptions::device / block_device
  at::Tensor RmsNorm(const at::Tensor& h, const at::Tensor& weight) const;
  at::Tensor Attention(Stack s, int64_t block, int sublayer, const at::Tensor& x, const at::Tensor& kv_in,
                       const at::Tensor& bias, at::Tensor* k_cache, at::Tensor* v_cache, bool append);
  void CheckBlock(Stack s, int64_t block) const;

  SwitchConfig cfg_;
  at::ScalarType dtype_;
  std::shared_ptr<const WeightSource> weights_;
  ModelOptions opts_;
  std::map<std::string, std::vector<int64_t>> shapes_;  // expected shape per HF name
  std::map<std::string, at::Tensor> cache_;
  std::shared_ptr<const ExpertOverride> override_;
  RoutingStats stats_;
  BlockObserver observer_;
};

}  // namespace qmoe
