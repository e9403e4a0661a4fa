// See switch_reference.h. Deliberately naive: one sample, no batching, no tensors beyond loading.
#include "framework/model/switch_reference.h"

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "framework/core/error.h"
#include "framework/model/relative_position.h"
#include "framework/model/switch_names.h"

namespace qmoe {
namespace {

constexpr double kU32 = 1.0 / (1 << 24);  // fp32 unit roundoff (2^-24)

double RoundF32(double x) { return static_cast<double>(static_cast<float>(x)); }
double RoundBf16(double x) { return static_cast<float>(c10::BFloat16(static_cast<float>(x))); }

struct Act : RefTensor {
  Act() = default;
  Act(int64_t t, int64_t d) { T = t, D = d, v.assign(t * d, 0.0), e.assign(t * d, 0.0); }
  explicit Act(const RefTensor& r) : RefTensor(r) {}
  double& V(int64_t t, int64_t d) { return v[t * D + d]; }
  double& E(int64_t t, int64_t d) { return e[t * D + d]; }
};

struct Mat {  // [R, C], row-major
  int64_t R = 0, C = 0;
  std::vector<double> w;
  double at(int64_t r, int64_t c) const { return w[r * C + c]; }
};

class Reference {
 public:
  Reference(const SwitchConfig& c, const WeightSource& ws) : c_(c), ws_(ws), dt_(c.ScalarType()) {}

  Act Embed(const std::vector<int64_t>& ids) {
    Mat emb = M("shared.weight");
    Act a(static_cast<int64_t>(ids.size()), c_.d_model);
    for (int64_t t = 0; t < a.T; ++t)
      for (int64_t d = 0; d < a.D; ++d) a.V(t, d) = emb.at(ids[t], d);
    return a;
  }

  Act Sublayer(Stack s, int64_t block, int sub, Act h, const Act* enc_out) {
    const std::string pre = StrCat(BlockPrefix(s, block), "layer.", sub, ".");
    Act x = Norm(h, M(pre + "layer_norm.weight"));
    const int ff = s == Stack::kEncoder ? 1 : 2;
    if (sub == 0) {
      AddResidual(h, Attention(s, block, 0, x, x, true));
    } else if (sub < ff) {
      AddResidual(h, Attention(s, block, 1, x, *enc_out, false));
    } else {
      AddResidual(h, c_.IsSparse(s, block) ? Moe(s, block, x) : Ffn(x, pre + "mlp.wi.weight", pre + "mlp.wo.weight"));
    }
    return h;
  }

  Act Final(Stack s, const Act& h) { return Norm(h, M(StrCat(StackName(s), ".final_layer_norm.weight"))); }

  Act Head(Act h) {
    if (c_.tie_word_embeddings) {
      const double sc = RoundF32(std::pow(static_cast<double>(c_.d_model), -0.5));  // an fp32 scalar in the op
      for (size_t i = 0; i < h.v.size(); ++i) RoundActAt(h.v[i] * sc, h.e[i] * sc, h.v[i], h.e[i]);
      return Linear(h, M("shared.weight"), true);
    }
    return Linear(h, M("lm_head.weight"), true);
  }

  RefStats stats;

 private:
  Mat M(const std::string& name) {
    at::Tensor t = ws_.Get(name).to(dt_).to(at::kDouble).contiguous();
    Mat m;
    m.R = t.dim() == 2 ? t.size(0) : 1;
    m.C = t.dim() == 2 ? t.size(1) : t.size(0);
    m.w.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    return m;
  }

  // The model's value is within e of v before rounding; rounding is monotonic.
  static void RoundAt(double (*rnd)(double), double v, double e, double& out_v, double& out_e) {
    const double r = rnd(v);
    out_v = r;
    out_e = std::max(std::fabs(rnd(v - e) - r), std::fabs(rnd(v + e) - r));
  }
  void RoundActAt(double v, double e, double& out_v, double& out_e) const {
    RoundAt(dt_ == at::kBFloat16 ? RoundBf16 : RoundF32, v, e, out_v, out_e);
  }

  // y = x W^T with fp32 accumulation, rounded to the activation dtype (or fp32 when !to_act).
  Act Linear(Act& x, const Mat& W, bool to_act) {
    QMOE_ASSERT(W.C == x.D);
    Act y(x.T, W.R);
    for (int64_t t = 0; t < x.T; ++t) {
      for (int64_t j = 0; j < W.R; ++j) {
        double s = 0, prop = 0, mag = 0;
        for (int64_t k = 0; k < W.C; ++k) {
          s += W.at(j, k) * x.V(t, k);
          prop += std::fabs(W.at(j, k)) * x.E(t, k);
          mag += std::fabs(W.at(j, k) * x.V(t, k));
        }
        const double e = prop + W.C * kU32 * mag;
        if (to_act) RoundActAt(s, e, y.V(t, j), y.E(t, j));
        else RoundAt(RoundF32, s, e, y.V(t, j), y.E(t, j));
      }
    }
    return y;
  }

  // RMS norm: fp32 y = x * rsqrt(mean x^2 + eps), cast to the activation dtype, times g (rounded).
  Act Norm(const Act& x_in, const Mat& g) {
    Act x = x_in, y(x.T, x.D);
    const double n = static_cast<double>(x.D);
    for (int64_t t = 0; t < x.T; ++t) {
      double ss = 0, xe = 0;
      for (int64_t d = 0; d < x.D; ++d) ss += x.V(t, d) * x.V(t, d), xe += std::fabs(x.V(t, d)) * x.E(t, d);
      const double s = ss / n + c_.layer_norm_epsilon, r = 1.0 / std::sqrt(s);
      for (int64_t d = 0; d < x.D; ++d) {
        const double val = x.V(t, d) * r;
        const double e = r * (x.E(t, d) + std::fabs(x.V(t, d)) * xe / (n * s)) + (n / 2 + 4) * kU32 * std::fabs(val);
        double yv, ye;
        RoundAt(RoundF32, val, e, yv, ye);
        RoundActAt(yv, ye, yv, ye);
        RoundActAt(g.w[d] * yv, std::fabs(g.w[d]) * ye, y.V(t, d), y.E(t, d));
      }
    }
    return y;
  }

  // fp32 softmax of s (with bounds es), rounded to fp32 and then to the activation dtype when to_act.
  void Softmax(std::vector<double>& s, std::vector<double>& es, bool to_act) {
    const double m = *std::max_element(s.begin(), s.end());
    double z = 0;
    for (double x : s) z += std::exp(x - m);
    std::vector<double> p(s.size());
    double pe = 0;
    for (size_t j = 0; j < s.size(); ++j) p[j] = std::exp(s[j] - m) / z, pe += p[j] * es[j];
    const double local = (static_cast<double>(s.size()) + 4) * kU32;
    for (size_t j = 0; j < s.size(); ++j) {
      RoundAt(RoundF32, p[j], p[j] * (es[j] + pe) + local * p[j], s[j], es[j]);
      if (to_act) RoundActAt(s[j], es[j], s[j], es[j]);
    }
  }

  // One attention: self uses block 0's relative bias (and is causal in the decoder); cross has none.
  Act Attention(Stack s, int64_t block, int sub, Act& x, const Act& kv_in, bool self) {
    Act kv = kv_in;
    auto W = [&](const char* p) { return M(AttentionWeightName(s, block, sub, p)); };
    Act q = Linear(x, W("q"), true), k = Linear(kv, W("k"), true), v = Linear(kv, W("v"), true);
    const int64_t H = c_.num_heads, dk = c_.d_kv;
    Mat table;
    if (self) table = M(RelativeBiasWeightName(s));  // block 0's table, shared by every block
    Act ctx(x.T, H * dk);
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < x.T; ++i) {
        const int64_t S = (self && s == Stack::kDecoder) ? i + 1 : kv.T;  // causal: keys 0..i
        std::vector<double> sc(S), es(S);
        for (int64_t j = 0; j < S; ++j) {
          double dot = 0, prop = 0, mag = 0;
          for (int64_t a = 0; a < dk; ++a) {
            const double qa = q.V(i, h * dk + a), ka = k.V(j, h * dk + a);
            dot += qa * ka;
            prop += std::fabs(qa) * k.E(j, h * dk + a) + q.E(i, h * dk + a) * std::fabs(ka);
            mag += std::fabs(qa * ka);
          }
          RoundActAt(dot, prop + dk * kU32 * mag, sc[j], es[j]);  // no 1/sqrt(d_kv) in T5 attention
          if (self) {
            const int64_t bucket = RelativePositionBucketRef(j - i, s == Stack::kEncoder,
                                                             c_.relative_attention_num_buckets,
                                                             c_.relative_attention_max_distance);
            RoundActAt(sc[j] + table.at(bucket, h), es[j], sc[j], es[j]);
          }
        }
        Softmax(sc, es, true);
        for (int64_t a = 0; a < dk; ++a) {
          double o = 0, prop = 0, mag = 0;
          for (int64_t j = 0; j < S; ++j) {
            const double vj = v.V(j, h * dk + a);
            o += sc[j] * vj;
            prop += es[j] * std::fabs(vj) + sc[j] * v.E(j, h * dk + a);
            mag += std::fabs(sc[j] * vj);
          }
          RoundActAt(o, prop + S * kU32 * mag, ctx.V(i, h * dk + a), ctx.E(i, h * dk + a));
        }
      }
    }
    return Linear(ctx, W("o"), true);
  }

  void AddResidual(Act& h, const Act& a) {
    for (size_t i = 0; i < h.v.size(); ++i) RoundActAt(h.v[i] + a.v[i], h.e[i] + a.e[i], h.v[i], h.e[i]);
  }

  Act Ffn(Act& z, const std::string& wi, const std::string& wo) {
    Act a = Linear(z, M(wi), true);
    for (double& v : a.v) v = std::max(v, 0.0);  // relu is 1-Lipschitz: bounds pass through
    return Linear(a, M(wo), true);
  }

  Act Moe(Stack s, int64_t block, Act& z) {
    const int64_t E = c_.num_experts, D = z.D;
    Act logits = Linear(z, M(RouterWeightName(s, block)), false);  // fp32 router on fp32-cast z
    Act out(z.T, D);
    std::vector<int64_t> count(E, 0);
    for (int64_t t = 0; t < z.T; ++t) {
      std::vector<double> p(logits.v.begin() + t * E, logits.v.begin() + (t + 1) * E);
      std::vector<double> ep(logits.e.begin() + t * E, logits.e.begin() + (t + 1) * E);
      Softmax(p, ep, true);  // probabilities cast to the activation dtype; argmax on those
      const int64_t top = std::max_element(p.begin(), p.end()) - p.begin();  // first maximum
      std::vector<int64_t> cand;
      for (int64_t j = 0; j < E; ++j) {
        const bool decided = ep[j] == 0 && ep[top] == 0;  // exact values: the first maximum wins
        if (j == top || (!decided && p[j] + ep[j] >= p[top] - ep[top])) cand.push_back(j);
      }
      ++stats.routes;
      if (cand.size() > 1) ++stats.ambiguous_routes;
      Act zt(1, D);
      for (int64_t d = 0; d < D; ++d) zt.V(0, d) = z.V(t, d), zt.E(0, d) = z.E(t, d);
      const bool dropped = c_.expert_capacity > 0 && ++count[top] > c_.expert_capacity;
      stats.dropped += dropped;
      // m_j = round(p_j * y_j) for each candidate j; the value is m_top, the bound the envelope
      // max_j (|m_j - m_top| + e(m_j)): the model's result is within e(m_j) of one of them.
      std::vector<std::vector<double>> m(cand.size(), std::vector<double>(D)), em = m;
      size_t top_i = 0;
      for (size_t ci = 0; ci < cand.size(); ++ci) {
        const int64_t j = cand[ci];
        if (j == top) top_i = ci;
        Act y = dropped ? zt : Ffn(zt, ExpertWeightName(s, block, j, "wi"), ExpertWeightName(s, block, j, "wo"));
        for (int64_t d = 0; d < D; ++d)  // fp32 gate x expert output, rounded once
          RoundActAt(p[j] * y.V(0, d), ep[j] * std::fabs(y.V(0, d)) + p[j] * y.E(0, d), m[ci][d], em[ci][d]);
      }
      for (int64_t d = 0; d < D; ++d) {
        double b = 0;
        for (size_t ci = 0; ci < cand.size(); ++ci) b = std::max(b, std::fabs(m[ci][d] - m[top_i][d]) + em[ci][d]);
        out.V(t, d) = m[top_i][d];
        out.E(t, d) = b;
      }
    }
    return out;
  }

  const SwitchConfig& c_;
  const WeightSource& ws_;
  at::ScalarType dt_;
};

}  // namespace

RefTensor RefFromTensor(const at::Tensor& t) {
  QMOE_ASSERT(t.dim() == 2);
  at::Tensor d = t.to(at::kDouble).contiguous();
  RefTensor r;
  r.T = d.size(0), r.D = d.size(1);
  r.v.assign(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
  r.e.assign(r.v.size(), 0.0);
  return r;
}

class SwitchReference::Impl : public Reference {
 public:
  using Reference::Reference;
};

SwitchReference::SwitchReference(const SwitchConfig& cfg, const WeightSource& w) : impl_(new Impl(cfg, w)) {}
SwitchReference::~SwitchReference() { delete impl_; }
RefTensor SwitchReference::Embed(const std::vector<int64_t>& ids) { return impl_->Embed(ids); }
RefTensor SwitchReference::Sublayer(Stack s, int64_t block, int sublayer, const RefTensor& h,
                                     const RefTensor* enc_out) {
  Act e = enc_out ? Act(*enc_out) : Act();
  return impl_->Sublayer(s, block, sublayer, Act(h), enc_out ? &e : nullptr);
}
RefTensor SwitchReference::FinalNorm(Stack s, const RefTensor& h) { return impl_->Final(s, Act(h)); }
RefTensor SwitchReference::LmHead(const RefTensor& h) { return impl_->Head(Act(h)); }
const RefStats& SwitchReference::stats() const { return impl_->stats; }

}  // namespace qmoe
