#include "framework/model/switch_model.h"

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>

#include <cmath>
#include <limits>

#include "framework/core/error.h"
#include "framework/io/checkpoint.h"
#include "framework/model/relative_position.h"
#include "framework/model/switch_names.h"

namespace qmoe {
namespace {

// A product of two activations (attention scores, probabilities x values) accumulated in fp32 and
// rounded once to the activation dtype, on every CPU, as the reference (and a GPU) computes it.
// LibTorch 1.13's bf16 matmul does that only on its oneDNN path (CPUs with AVX-512, m*n*k > 16^3);
// its fallback accumulates in bf16 whenever the right operand is row-major, as `v` is in p x v: an
// error bound of S * 2^-8 * sum|p v| instead of S * 2^-24 * sum|p v|, so results depended on the CPU.
// (at::linear(x, W) with a row-major W runs as dot products that accumulate in fp32 on every path.)
at::Tensor ActivationMatmul(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat) return at::matmul(a, b);
  return at::matmul(a.to(at::kFloat), b.to(at::kFloat)).to(a.scalar_type());
}

}  // namespace

PaddedBatch PadBatch(const std::vector<std::vector<int64_t>>& seqs, int64_t pad_id) {
  QMOE_CHECK(!seqs.empty(), "PadBatch: no sequences");
  size_t len = 0;
  for (const auto& s : seqs) len = std::max(len, s.size());
  QMOE_CHECK(len > 0, "PadBatch: every sequence is empty");
  const int64_t B = static_cast<int64_t>(seqs.size()), T = static_cast<int64_t>(len);
  at::Tensor ids = at::full({B, T}, pad_id, at::TensorOptions().dtype(at::kLong));
  at::Tensor mask = at::zeros({B, T}, at::TensorOptions().dtype(at::kBool));
  auto ia = ids.accessor<int64_t, 2>();
  auto ma = mask.accessor<bool, 2>();
  for (int64_t b = 0; b < B; ++b) {
    for (size_t t = 0; t < seqs[b].size(); ++t) ia[b][t] = seqs[b][t], ma[b][t] = true;
  }
  return {ids, mask};
}

SwitchModel::SwitchModel(SwitchConfig cfg, std::shared_ptr<const WeightSource> weights, ModelOptions opts)
    : cfg_(std::move(cfg)), weights_(std::move(weights)), opts_(opts) {
  cfg_.Validate(StrCat("model '", cfg_.name, "'"));
  QMOE_CHECK(weights_ != nullptr, "model '", cfg_.name, "': no weight source");
  dtype_ = cfg_.ScalarType();
  for (const TensorShape& ts : SwitchTensorShapes(cfg_)) shapes_[ts.name] = ts.shape;
  shapes_["lm_head.weight"] = {cfg_.vocab_size, cfg_.d_model};
}

std::unique_ptr<SwitchModel> SwitchModel::FromDirectory(const std::string& dir, ModelOptions opts) {
  SwitchConfig cfg = ReadHfConfig(dir);
  return std::make_unique<SwitchModel>(cfg, CheckpointWeights::Open(dir), opts);
}

// ---------------------------------------------------------------------------------------------
// Weights

at::Tensor SwitchModel::Load(const std::string& name, bool cache) {
  auto it = cache_.find(name);
  if (it != cache_.end()) return it->second;
  at::Tensor t = weights_->Get(name);
  auto want = shapes_.find(name);
  QMOE_ASSERT(want != shapes_.end(), "no expected shape for ", name);
  QMOE_CHECK(t.sizes().vec() == want->second, weights_->Describe(), ": tensor \"", name, "\" has shape ", t.sizes(),
             ", expected ", at::IntArrayRef(want->second), " for model '", cfg_.name, "' (d_model ", cfg_.d_model,
             ", d_ff ", cfg_.d_ff, ", ", cfg_.num_heads, "x", cfg_.d_kv, " heads, ", cfg_.num_experts, " experts)");
  QMOE_CHECK(t.is_floating_point(), weights_->Describe(), ": tensor \"", name, "\" has dtype ", t.scalar_type(),
             ", expected a floating-point type");
  t = t.to(DeviceOf(name), dtype_);  // no copy when both match (keeps autograd leaves intact)
  if (cache) cache_.emplace(name, t);
  return t;
}

c10::Device SwitchModel::DeviceOf(const std::string& name) const {
  if (!opts_.block_device) return opts_.device;
  for (Stack s : {Stack::kEncoder, Stack::kDecoder}) {
    const std::string pre = StrCat(StackName(s), ".block.");
    if (name.rfind(pre, 0) == 0) return opts_.block_device(s, std::stoll(name.substr(pre.size())));
  }
  // The decoder's final norm and an untied head sit with the last decoder block; the embedding
  // and the encoder's final norm with the first GPU (the tied head reads the embedding there).
  if (name == "lm_head.weight" || name.rfind("decoder.final_layer_norm", 0) == 0)
    return opts_.block_device(Stack::kDecoder, cfg_.num_decoder_layers - 1);
  if (name.rfind("encoder.final_layer_norm", 0) == 0) return opts_.block_device(Stack::kEncoder, cfg_.num_layers - 1);
  return opts_.device;
}

at::Tensor SwitchModel::Weight(const std::string& name) { return Load(name, true); }

void SwitchModel::ReleaseWeight(const std::string& name) { cache_.erase(name); }

void SwitchModel::ReleaseBlock(Stack s, int64_t block) {
  const std::string prefix = BlockPrefix(s, block);
  for (auto it = cache_.begin(); it != cache_.end();)
    it = it->first.rfind(prefix, 0) == 0 ? cache_.erase(it) : std::next(it);
}

void SwitchModel::ReleaseAll() { cache_.clear(); }

int64_t SwitchModel::CachedBytes() const {
  int64_t n = 0;
  for (const auto& kv : cache_) n += kv.second.numel() * static_cast<int64_t>(kv.second.element_size());
  return n;
}

void SwitchModel::CheckBlock(Stack s, int64_t block) const {
  QMOE_CHECK(block >= 0 && block < cfg_.NumBlocks(s), "model '", cfg_.name, "': ", StackName(s), " block ", block,
             " out of range (the ", StackName(s), " has ", cfg_.NumBlocks(s), " blocks)");
}

// ---------------------------------------------------------------------------------------------
// Sublayers

at::Tensor SwitchModel::Embed(const at::Tensor& ids) {
  QMOE_CHECK(ids.scalar_type() == at::kLong, "Embed: token ids must be int64, got ", ids.scalar_type());
  if (ids.numel() > 0) {
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    QMOE_CHECK(lo >= 0 && hi < cfg_.vocab_size, "Embed: token id ", lo < 0 ? lo : hi, " outside [0, ",
               cfg_.vocab_size, ") of model '", cfg_.name, "'");
  }
  at::Tensor w = Load("shared.weight", !opts_.stream);
  return at::embedding(w, (ids.dim() == 1 ? ids.unsqueeze(0) : ids).to(w.device()));
}

// RMS norm (docs/switch-semantics.md): fp32 statistics, cast to the weight dtype when that is bf16/fp16, then the weight multiply.
at::Tensor SwitchModel::RmsNorm(const at::Tensor& h, const at::Tensor& weight) const {
  at::Tensor var = h.to(at::kFloat).pow(2).mean(-1, /*keepdim=*/true);
  at::Tensor y = h * at::rsqrt(var + cfg_.layer_norm_epsilon);  // promotes to fp32
  if (weight.scalar_type() == at::kBFloat16 || weight.scalar_type() == at::kHalf) y = y.to(weight.scalar_type());
  return weight * y;
}

at::Tensor SwitchModel::RelativeBias(Stack s, int64_t q_len, int64_t k_len, int64_t q_offset) {
  at::Tensor buckets = RelativePositionBuckets(q_len, k_len, s == Stack::kEncoder, cfg_.relative_attention_num_buckets,
                                               cfg_.relative_attention_max_distance, q_offset);
  at::Tensor table = Weight(RelativeBiasWeightName(s));  // [buckets, H], tiny: always cached
  return at::embedding(table, buckets.to(table.device())).permute({2, 0, 1}).unsqueeze(0);  // [1, H, q, k]
}

at::Tensor SwitchModel::AttentionMask(const at::Tensor& key_mask, int64_t q_len, int64_t k_len, bool causal,
                                      int64_t q_offset, int64_t batch) {
  const c10::Device dev = opts_.device;
  const auto b_opts = at::TensorOptions().dtype(at::kBool).device(dev);
  at::Tensor allowed = at::ones({batch, 1, q_len, k_len}, b_opts);
  if (key_mask.defined()) {
    QMOE_CHECK(key_mask.dim() == 2 && key_mask.size(1) == k_len, "attention mask: expected [B, ", k_len,
               "] (one flag per key), got ", key_mask.sizes());
    allowed = allowed & key_mask.to(dev, at::kBool).view({key_mask.size(0), 1, 1, k_len});
  }
  if (causal) {
    const auto i64 = at::TensorOptions().dtype(at::kLong).device(dev);
    at::Tensor q = at::arange(q_offset, q_offset + q_len, i64).unsqueeze(1);
    at::Tensor k = at::arange(k_len, i64).unsqueeze(0);
    allowed = allowed & (k <= q).view({1, 1, q_len, k_len});
  }
  // HF: (1 - mask) * finfo(dtype).min; the allowed entries are exactly zero.
  at::Tensor zero = at::zeros({}, at::TensorOptions().dtype(dtype_).device(dev));
  const double lowest_value = dtype_ == at::kBFloat16
                                  ? static_cast<double>(static_cast<float>(std::numeric_limits<c10::BFloat16>::lowest()))
                                  : static_cast<double>(std::numeric_limits<float>::lowest());
  at::Tensor lowest = at::full({}, lowest_value, at::TensorOptions().dtype(dtype_).device(dev));
  return at::where(allowed, zero, lowest);
}

at::Tensor SwitchModel::SelfAttentionBias(Stack s, int64_t q_len, const at::Tensor& key_mask, int64_t batch) {
  at::Tensor bias = RelativeBias(s, q_len, q_len);
  const bool causal = s == Stack::kDecoder;
  if (!key_mask.defined() && !causal) return bias;
  return bias + AttentionMask(key_mask, q_len, q_len, causal, 0, batch);
}

// One attention (docs/switch-semantics.md): no 1/sqrt(d_kv) scaling, softmax in fp32 cast back. x [B, T, d] is the
// normed query input; kv_in the normed key/value input (x itself, or enc_out). With a cache, K/V
// are read from it (cross, once filled) or appended to it (self).
at::Tensor SwitchModel::Attention(Stack s, int64_t block, int sublayer, const at::Tensor& x, const at::Tensor& kv_in,
                                  const at::Tensor& bias, at::Tensor* k_cache, at::Tensor* v_cache, bool append) {
  const int64_t B = x.size(0), T = x.size(1), H = cfg_.num_heads, dk = cfg_.d_kv;
  auto heads = [&](const at::Tensor& y) { return y.view({y.size(0), y.size(1), H, dk}).transpose(1, 2); };
  auto w = [&](const char* p) { return Weight(AttentionWeightName(s, block, sublayer, p)); };
  at::Tensor q = heads(at::linear(x, w("q")));
  at::Tensor k, v;
  if (k_cache && !append && k_cache->defined()) {
    k = *k_cache, v = *v_cache;
  } else {
    k = heads(at::linear(kv_in, w("k")));
    v = heads(at::linear(kv_in, w("v")));
    if (k_cache) {
      if (append && k_cache->defined()) k = at::cat({*k_cache, k}, 2), v = at::cat({*v_cache, v}, 2);
      *k_cache = k, *v_cache = v;
    }
  }
  at::Tensor scores = ActivationMatmul(q, k.transpose(-1, -2));  // [B, H, T, S]
  if (bias.defined()) scores = scores + bias;
  at::Tensor p = at::softmax(scores.to(at::kFloat), -1).to(scores.scalar_type());
  at::Tensor ctx = ActivationMatmul(p, v).transpose(1, 2).reshape({B, T, H * dk});
  return at::linear(ctx, w("o"));
}

at::Tensor SwitchModel::AttentionSublayers(Stack s, int64_t block, const at::Tensor& h_in, const at::Tensor& self_bias,
                                           const at::Tensor& enc_out_in, const at::Tensor& cross_mask,
                                           BlockCache* cache) {
  CheckBlock(s, block);
  const bool one = h_in.dim() == 2;
  QMOE_CHECK(h_in.dim() == 2 || h_in.dim() == 3, "AttentionSublayers: h must be [T, d] or [B, T, d], got ",
             h_in.sizes());
  QMOE_CHECK(h_in.size(-1) == cfg_.d_model, "AttentionSublayers: h has width ", h_in.size(-1), ", expected d_model ",
             cfg_.d_model);
  at::Tensor h = one ? h_in.unsqueeze(0) : h_in;
  const std::string pre = BlockPrefix(s, block);
  at::Tensor x = RmsNorm(h, Weight(pre + "layer.0.layer_norm.weight"));
  h = h + Attention(s, block, 0, x, x, self_bias, cache ? &cache->self_k : nullptr, cache ? &cache->self_v : nullptr,
                    /*append=*/true);
  if (observer_) observer_(s, block, 0, h);
  if (s == Stack::kDecoder) {
    QMOE_CHECK(enc_out_in.defined() || (cache && cache->cross_k.defined()),
               "AttentionSublayers: decoder block ", block, " needs the encoder output");
    at::Tensor enc_out = enc_out_in.defined() && enc_out_in.dim() == 2 ? enc_out_in.unsqueeze(0) : enc_out_in;
    x = RmsNorm(h, Weight(pre + "layer.1.layer_norm.weight"));
    h = h + Attention(s, block, 1, x, enc_out, cross_mask, cache ? &cache->cross_k : nullptr,
                      cache ? &cache->cross_v : nullptr, /*append=*/false);
    if (observer_) observer_(s, block, 1, h);
  }
  return one ? h.squeeze(0) : h;
}

at::Tensor SwitchModel::FfNorm(Stack s, int64_t block, const at::Tensor& h) {
  CheckBlock(s, block);
  return RmsNorm(h, Weight(FfPrefix(s, block) + "layer_norm.weight"));
}

RouteResult SwitchModel::Route(Stack s, int64_t block, const at::Tensor& z) {
  CheckBlock(s, block);
  QMOE_CHECK(cfg_.IsSparse(s, block), "Route: ", StackName(s), " block ", block, " of model '", cfg_.name,
             "' is dense (no router)");
  QMOE_CHECK(z.dim() >= 1 && z.size(-1) == cfg_.d_model, "Route: z must be [..., d_model=", cfg_.d_model, "], got ",
             z.sizes());
  // Router (docs/switch-semantics.md): the classifier runs in fp32 on fp32 inputs (HF casts both); its values are the
  // compute-dtype weights, as HF loads the model in that dtype first.
  at::Tensor w = Weight(RouterWeightName(s, block)).to(at::kFloat);
  at::Tensor probs = at::softmax(at::linear(z.to(at::kFloat), w), -1).to(z.scalar_type());
  RouteResult r;
  r.probs = probs;
  r.expert = probs.argmax(-1);  // first maximal index on ties
  r.gate = std::get<0>(probs.max(-1)).to(at::kFloat);
  if (cfg_.expert_capacity > 0 && z.dim() >= 2) {
    // Per sample, count tokens per expert in sequence order; over capacity = dropped.
    at::Tensor onehot = at::one_hot(r.expert, cfg_.num_experts);
    at::Tensor priority = onehot.cumsum(-2).gather(-1, r.expert.unsqueeze(-1)).squeeze(-1);
    r.kept = priority <= cfg_.expert_capacity;
  } else {
    r.kept = at::ones_like(r.expert, at::TensorOptions().dtype(at::kBool));
  }
  stats_.routed += r.expert.numel();
  if (cfg_.expert_capacity > 0) stats_.dropped += r.kept.logical_not().sum().item<int64_t>();
  return r;
}

at::Tensor SwitchModel::ExpertForward(Stack s, int64_t block, int64_t expert, const at::Tensor& z) {
  CheckBlock(s, block);
  QMOE_CHECK(cfg_.IsSparse(s, block), "ExpertForward: ", StackName(s), " block ", block, " is dense");
  QMOE_CHECK(expert >= 0 && expert < cfg_.num_experts, "ExpertForward: expert ", expert, " outside [0, ",
             cfg_.num_experts, ")");
  const ExpertId id{s, block, expert};
  if (override_ && override_->Covers(id)) {
    at::Tensor out = override_->Forward(id, z);
    QMOE_CHECK(out.sizes() == z.sizes() && out.scalar_type() == z.scalar_type(), "expert override for ",
               StackName(s), " block ", block, " expert ", expert, " returned ", out.sizes(), " ", out.scalar_type(),
               ", expected ", z.sizes(), " ", z.scalar_type());
    return out;
  }
  const bool cache = !opts_.stream;
  at::Tensor wi = Load(ExpertWeightName(s, block, expert, "wi"), cache);
  at::Tensor wo = Load(ExpertWeightName(s, block, expert, "wo"), cache);
  return at::linear(at::relu(at::linear(z, wi)), wo);
}

at::Tensor SwitchModel::MoeFf(Stack s, int64_t block, const at::Tensor& z) {
  RouteResult r = Route(s, block, z);
  const int64_t d = cfg_.d_model, E = cfg_.num_experts;
  at::Tensor zf = z.reshape({-1, d});
  // Group kept tokens by expert (stable, so each expert sees its tokens in order); dropped tokens
  // get key E and keep z (HF returns gate * z for them).
  at::Tensor key = at::where(r.kept.reshape(-1), r.expert.reshape(-1), at::full({}, E, r.expert.options()));
  at::Tensor order = std::get<1>(at::sort(key, /*stable=*/true, 0, false));
  at::Tensor counts = at::bincount(key, {}, E + 1).to(at::kCPU);  // read on the host
  const int64_t* c = counts.data_ptr<int64_t>();
  std::vector<at::Tensor> outs;
  int64_t off = 0;
  for (int64_t e = 0; e < E; ++e) {
    if (c[e] == 0) continue;
    at::Tensor idx = order.narrow(0, off, c[e]);
    outs.push_back(ExpertForward(s, block, e, zf.index_select(0, idx)));
    off += c[e];
  }
  at::Tensor next = zf;
  if (!outs.empty()) next = zf.index_copy(0, order.narrow(0, 0, off), at::cat(outs, 0));
  // MoE feed-forward: fp32 gate times the expert output, rounded once to the activation dtype.
  at::Tensor out = (r.gate.reshape({-1, 1}) * next).to(z.scalar_type());
  return out.view(z.sizes());
}

at::Tensor SwitchModel::DenseFf(Stack s, int64_t block, const at::Tensor& z) {
  CheckBlock(s, block);
  QMOE_CHECK(!cfg_.IsSparse(s, block), "DenseFf: ", StackName(s), " block ", block, " is sparse");
  const std::string ff = FfPrefix(s, block);
  return at::linear(at::relu(at::linear(z, Weight(ff + "mlp.wi.weight"))), Weight(ff + "mlp.wo.weight"));
}

at::Tensor SwitchModel::FfSublayer(Stack s, int64_t block, const at::Tensor& h) {
  at::Tensor z = FfNorm(s, block, h);
  at::Tensor out = h + (cfg_.IsSparse(s, block) ? MoeFf(s, block, z) : DenseFf(s, block, z));
  if (observer_) observer_(s, block, s == Stack::kEncoder ? 1 : 2, out);
  return out;
}

at::Tensor SwitchModel::Block(Stack s, int64_t block, const at::Tensor& h, const at::Tensor& self_bias,
                              const at::Tensor& enc_out, const at::Tensor& cross_mask, BlockCache* cache) {
  if (opts_.block_device) {  // several devices: this block's inputs move to its device (no-op when there)
    const c10::Device dev = opts_.block_device(s, block);
    auto on = [&](const at::Tensor& t) { return t.defined() ? t.to(dev) : t; };
    const bool need_enc = !cache || !cache->cross_k.defined();  // cached cross K/V already live there
    return FfSublayer(s, block, AttentionSublayers(s, block, on(h), on(self_bias), need_enc ? on(enc_out) : enc_out,
                                                   on(cross_mask), cache));
  }
  return FfSublayer(s, block, AttentionSublayers(s, block, h, self_bias, enc_out, cross_mask, cache));
}

at::Tensor SwitchModel::FinalNorm(Stack s, const at::Tensor& h) {
  at::Tensor w = Weight(StrCat(StackName(s), ".final_layer_norm.weight"));
  return RmsNorm(h.to(w.device()), w);
}

at::Tensor SwitchModel::LmHead(const at::Tensor& h) {
  if (cfg_.tie_word_embeddings) {
    at::Tensor e = Load("shared.weight", !opts_.stream);
    return at::linear(h.to(e.device()) * std::pow(static_cast<double>(cfg_.d_model), -0.5), e);
  }
  at::Tensor w = Load("lm_head.weight", !opts_.stream);
  return at::linear(h.to(w.device()), w);
}

// ---------------------------------------------------------------------------------------------
// Whole model

at::Tensor SwitchModel::EncoderForward(const at::Tensor& enc_ids, const at::Tensor& enc_mask) {
  at::Tensor h = Embed(enc_ids);
  if (observer_) observer_(Stack::kEncoder, -1, 0, h);
  at::Tensor bias = SelfAttentionBias(Stack::kEncoder, h.size(1), enc_mask, h.size(0));
  for (int64_t b = 0; b < cfg_.num_layers; ++b) {
    h = Block(Stack::kEncoder, b, h, bias);
    if (opts_.stream) ReleaseBlock(Stack::kEncoder, b);
  }
  h = FinalNorm(Stack::kEncoder, h);
  if (observer_) observer_(Stack::kEncoder, cfg_.num_layers, 0, h);
  return h;
}

at::Tensor SwitchModel::DecoderForward(const at::Tensor& dec_ids, const at::Tensor& enc_out,
                                       const at::Tensor& enc_mask, const at::Tensor& dec_mask) {
  at::Tensor h = Embed(dec_ids);
  const int64_t B = h.size(0);
  QMOE_CHECK(enc_out.dim() == 3 && enc_out.size(0) == B, "DecoderForward: enc_out must be [", B, ", S, d], got ",
             enc_out.sizes());
  at::Tensor bias = SelfAttentionBias(Stack::kDecoder, h.size(1), dec_mask, B);
  at::Tensor cross = enc_mask.defined() ? AttentionMask(enc_mask, 1, enc_out.size(1), false, 0, B) : at::Tensor();
  if (observer_) observer_(Stack::kDecoder, -1, 0, h);
  for (int64_t b = 0; b < cfg_.num_decoder_layers; ++b) {
    h = Block(Stack::kDecoder, b, h, bias, enc_out, cross);
    if (opts_.stream) ReleaseBlock(Stack::kDecoder, b);
  }
  h = FinalNorm(Stack::kDecoder, h);
  if (observer_) observer_(Stack::kDecoder, cfg_.num_decoder_layers, 0, h);
  return h;
}

at::Tensor SwitchModel::Forward(const at::Tensor& enc_ids, const at::Tensor& dec_ids, const at::Tensor& enc_mask,
                                const at::Tensor& dec_mask) {
  at::Tensor enc_out = EncoderForward(enc_ids, enc_mask);
  return LmHead(DecoderForward(dec_ids, enc_out, enc_mask, dec_mask));
}

}  // namespace qmoe
