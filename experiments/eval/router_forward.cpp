#include "experiments/eval/router_forward.h"

#include <ATen/ATen.h>

#include <cmath>

#include "framework/model/switch_names.h"

namespace qmoe {
namespace {

void AddRouterAux(SwitchModel& m, Stack s, int64_t b, const at::Tensor& z, const at::Tensor& mask, RouterAux& aux) {
  const int64_t E = m.config().num_experts;
  at::Tensor w = m.Weight(RouterWeightName(s, b)).to(at::kFloat);
  at::Tensor logits = at::linear(z.to(at::kFloat), w).reshape({-1, E});
  at::Tensor valid = mask.defined() ? mask.reshape({-1}).to(logits.device(), at::kFloat)
                                    : at::ones({logits.size(0)}, logits.options());
  const at::Tensor n = valid.sum().clamp_min(1);
  at::Tensor probs = at::softmax(logits, -1);
  at::Tensor top = probs.argmax(-1);
  at::Tensor onehot = at::one_hot(top, E).to(at::kFloat) * valid.unsqueeze(1);
  at::Tensor f = onehot.sum(0) / n;                                  // no gradient (argmax)
  at::Tensor p = (probs * valid.unsqueeze(1)).sum(0) / n;
  at::Tensor balance = (f.detach() * p).sum() * double(E);
  at::Tensor zl = (at::logsumexp(logits, -1).pow(2) * valid).sum() / n;
  aux.balance = aux.balance.defined() ? aux.balance + balance : balance;
  aux.z = aux.z.defined() ? aux.z + zl : zl;
  aux.num_layers++;
  aux.layers.push_back(BlockPrefix(s, b).substr(0, BlockPrefix(s, b).size() - 1));
  at::Tensor c = onehot.sum(0).to(at::kCPU, at::kLong).contiguous();  // read on the host
  aux.counts.emplace_back(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + E);
}

at::Tensor RunStack(SwitchModel& m, Stack s, at::Tensor h, const at::Tensor& self_bias, const at::Tensor& mask,
                    const at::Tensor& enc_out, const at::Tensor& cross, RouterAux* aux) {
  for (int64_t b = 0; b < m.config().NumBlocks(s); ++b) {
    h = m.AttentionSublayers(s, b, h, self_bias, enc_out, cross);
    if (m.config().IsSparse(s, b)) {
      at::Tensor z = m.FfNorm(s, b, h);
      if (aux) AddRouterAux(m, s, b, z, mask, *aux);
      h = h + m.MoeFf(s, b, z);
    } else {
      h = m.FfSublayer(s, b, h);
    }
  }
  return m.FinalNorm(s, h);
}

}  // namespace

BatchTensors MakeBatchTensors(const std::vector<std::vector<int64_t>>& enc,
                              const std::vector<std::vector<int64_t>>& dec, int64_t pad_id) {
  BatchTensors t;
  PaddedBatch pe = PadBatch(enc, pad_id);
  std::vector<std::vector<int64_t>> din, tgt;
  for (const auto& d : dec) {
    din.emplace_back(d.begin(), d.end() - 1);
    tgt.emplace_back(d.begin() + 1, d.end());
    t.num_targets += static_cast<int64_t>(d.size()) - 1;
  }
  PaddedBatch pd = PadBatch(din, pad_id);
  PaddedBatch pt = PadBatch(tgt, -100);
  t.enc_ids = pe.ids, t.enc_mask = pe.mask, t.dec_in = pd.ids, t.dec_mask = pd.mask, t.targets = pt.ids;
  return t;
}

at::Tensor TrainForward(SwitchModel& m, const at::Tensor& enc_ids, const at::Tensor& enc_mask,
                        const at::Tensor& dec_ids, const at::Tensor& dec_mask, RouterAux* aux) {
  at::Tensor h = m.Embed(enc_ids);
  const int64_t B = h.size(0);
  at::Tensor bias = m.SelfAttentionBias(Stack::kEncoder, h.size(1), enc_mask, B);
  at::Tensor enc_out = RunStack(m, Stack::kEncoder, h, bias, enc_mask, {}, {}, aux);
  at::Tensor hd = m.Embed(dec_ids);
  at::Tensor dbias = m.SelfAttentionBias(Stack::kDecoder, hd.size(1), dec_mask, B);
  at::Tensor cross = enc_mask.defined() ? m.AttentionMask(enc_mask, 1, enc_out.size(1), false, 0, B) : at::Tensor();
  at::Tensor dec_out = RunStack(m, Stack::kDecoder, hd, dbias, dec_mask, enc_out, cross, aux);
  return m.LmHead(dec_out);
}

double RoutingEntropy(const std::vector<int64_t>& counts) {
  double n = 0, h = 0;
  for (int64_t c : counts) n += double(c);
  if (n <= 0) return 0;
  for (int64_t c : counts)
    if (c > 0) h -= double(c) / n * std::log(double(c) / n);
  return h;
}

}  // namespace qmoe
