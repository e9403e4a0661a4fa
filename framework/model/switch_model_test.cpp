// SwitchModel against the plain-loop reference (switch_reference.cpp) on tiny random models, plus
// routing ties, capacity drops, KV-cache generation, autograd, aliases, expert overrides, the
// block API, streaming and loading through framework/io.
#include "framework/model/switch_model.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <tuple>

#include "framework/core/error.h"
#include "framework/io/checkpoint.h"
#include "framework/model/random_weights.h"
#include "framework/model/switch_names.h"
#include "framework/model/switch_reference.h"

namespace qmoe {
namespace {
namespace fs = std::filesystem;

// d_model 16, d_ff 24, 2 heads x d_kv 6 (inner 12 != d_model, as in c-2048), 2+2 blocks, 4 experts.
SwitchConfig Tiny(const std::string& dtype, bool tied, bool full_sparse = false) {
  SwitchConfig c;
  c.name = "tiny";
  c.d_model = 16, c.d_ff = 24, c.num_heads = 2, c.d_kv = 6, c.num_layers = 2, c.num_decoder_layers = 2;
  c.num_experts = 4, c.vocab_size = 50, c.dtype = dtype, c.tie_word_embeddings = tied;
  c.is_full_sparse = full_sparse;
  return c;
}

std::shared_ptr<MapWeights> TinyWeights(const SwitchConfig& c, uint64_t seed, double router_scale = 1.0) {
  return std::make_shared<MapWeights>(RandomSwitchWeights(c, seed, at::kFloat, router_scale));
}

std::vector<int64_t> Ids(int64_t n, int64_t seed, int64_t vocab) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = (seed * 7919 + i * 104729 + i * i * 31) % vocab;
  return v;
}

struct Comparison {
  int64_t checked = 0;     // values compared
  int64_t outside = 0;     // values farther from the reference than the tolerance
  double worst_ratio = 0;  // max |model - ref| / tol
  std::vector<double> tol_rel;  // per stage and sample: max tol / max |ref| (how tight the test is)
  RefStats stats;
  double MedianTolRel() const {
    std::vector<double> t = tol_rel;
    std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
    return t[t.size() / 2];
  }
};

void CompareRows(const at::Tensor& model, const RefTensor& ref, Comparison& r) {
  at::Tensor m = model.to(at::kDouble).contiguous();
  const double* p = m.data_ptr<double>();
  double max_ref = 0, max_tol = 0;
  for (size_t i = 0; i < ref.v.size(); ++i) {
    // Tolerance = 2 x the reference's first-order bound: the bound covers every rounding the model
    // performs in this stage (switch_reference.h); the factor 2 covers the second-order terms a
    // first-order analysis drops, smaller than the first-order ones while bounds are << 1.
    const double tol = 2 * ref.e[i], diff = std::fabs(p[i] - ref.v[i]);
    r.outside += diff > tol;
    r.worst_ratio = std::max(r.worst_ratio, tol > 0 ? diff / tol : (diff > 0 ? INFINITY : 0.0));
    max_ref = std::max(max_ref, std::fabs(ref.v[i])), max_tol = std::max(max_tol, tol);
  }
  r.checked += static_cast<int64_t>(ref.v.size());
  r.tol_rel.push_back(max_tol / max_ref);
}

// Runs Forward on a padded batch, capturing every stage's activations, then checks each sample's
// valid rows stage by stage: the reference recomputes the embedding, every sublayer, both final
// norms and the head from the model's own input to that stage (see switch_reference.h for why).
Comparison CompareWithReference(const SwitchConfig& c, std::shared_ptr<const WeightSource> model_weights,
                                 const WeightSource& ref_weights, const std::vector<std::vector<int64_t>>& enc,
                                 const std::vector<std::vector<int64_t>>& dec) {
  SwitchModel model(c, std::move(model_weights));
  std::map<std::tuple<int, int64_t, int>, at::Tensor> seen;
  model.SetObserver([&](Stack s, int64_t block, int sub, const at::Tensor& h) { seen[{int(s), block, sub}] = h; });
  PaddedBatch e = PadBatch(enc), d = PadBatch(dec);
  at::Tensor logits = model.Forward(e.ids, d.ids, e.mask, d.mask);
  Comparison r;
  for (size_t b = 0; b < enc.size(); ++b) {
    SwitchReference ref(c, ref_weights);
    auto rows = [&](Stack s, int64_t block, int sub) {
      const int64_t len = static_cast<int64_t>((s == Stack::kEncoder ? enc : dec)[b].size());
      return seen.at({int(s), block, sub})[b].narrow(0, 0, len);
    };
    RefTensor enc_out;
    for (Stack s : {Stack::kEncoder, Stack::kDecoder}) {
      const int64_t n = c.NumBlocks(s);
      const int subs = s == Stack::kEncoder ? 2 : 3;
      CompareRows(rows(s, -1, 0), ref.Embed((s == Stack::kEncoder ? enc : dec)[b]), r);
      at::Tensor in = rows(s, -1, 0);
      for (int64_t i = 0; i < n; ++i) {
        for (int sub = 0; sub < subs; ++sub) {
          CompareRows(rows(s, i, sub), ref.Sublayer(s, i, sub, RefFromTensor(in), &enc_out), r);
          in = rows(s, i, sub);
        }
      }
      CompareRows(rows(s, n, 0), ref.FinalNorm(s, RefFromTensor(in)), r);
      if (s == Stack::kEncoder) enc_out = RefFromTensor(rows(s, n, 0));
    }
    const int64_t len = static_cast<int64_t>(dec[b].size());
    CompareRows(logits[b].narrow(0, 0, len), ref.LmHead(RefFromTensor(rows(Stack::kDecoder, c.num_decoder_layers, 0))), r);
    r.stats.routes += ref.stats().routes, r.stats.ambiguous_routes += ref.stats().ambiguous_routes;
    r.stats.dropped += ref.stats().dropped;
  }
  return r;
}

// Two samples of different lengths (padding in both stacks). The encoder reaches |rel| = 19 and
// the decoder n = 17, so both log-bucket regions are used.
const std::vector<std::vector<int64_t>> kEnc = {Ids(20, 1, 50), Ids(11, 2, 50)};
const std::vector<std::vector<int64_t>> kDec = {Ids(18, 3, 50), Ids(6, 4, 50)};

TEST(SwitchModel, Fp32ForwardMatchesReference) {
  SwitchConfig c = Tiny("float32", /*tied=*/true);
  auto w = TinyWeights(c, 1, /*router_scale=*/4.0);
  Comparison r = CompareWithReference(c, w, *w, kEnc, kDec);
  EXPECT_EQ(r.outside, 0) << "worst |diff|/tol = " << r.worst_ratio;
  EXPECT_LE(r.stats.ambiguous_routes * 20, r.stats.routes);  // nearly every route is decided (checked)
  EXPECT_GT(r.stats.routes, 0);
  // The test has power: in a typical stage the tolerance is far below the values (a wrong op or a
  // 1% weight change shows, see below).
  EXPECT_LT(r.MedianTolRel(), 1e-3);
  EXPECT_LT(*std::max_element(r.tol_rel.begin(), r.tol_rel.end()), 1e-3);
  std::cout << "fp32: " << r.checked << " values, worst |diff|/tol " << r.worst_ratio
            << ", median stage tol/max|ref| " << r.MedianTolRel() << "\n";
}

TEST(SwitchModel, ComparisonDetectsAOnePercentWeightChange) {
  // The same comparison must fail when the model's weights differ slightly from the reference's.
  SwitchConfig c = Tiny("float32", true);
  auto w = TinyWeights(c, 1, 4.0);
  auto changed = std::make_shared<OverlayWeights>(w);
  const std::string name = AttentionWeightName(Stack::kDecoder, 1, 1, "v");  // cross-attention values
  changed->Set(name, w->Get(name) * 1.01);
  Comparison r = CompareWithReference(c, changed, *w, kEnc, kDec);
  EXPECT_GT(r.outside, 0) << r.worst_ratio;
}

// LibTorch runs bf16 matmuls through oneDNN only on CPUs with AVX-512 (and for m*n*k > 16^3); on
// others (AMD Zen 3, older Intel) it takes its own fallback. Turning oneDNN off here runs that
// fallback on any CPU, so both paths are tested on every machine.
class OneDnnOff {
 public:
  OneDnnOff() : was_(at::globalContext().userEnabledMkldnn()) { at::globalContext().setUserEnabledMkldnn(false); }
  ~OneDnnOff() { at::globalContext().setUserEnabledMkldnn(was_); }

 private:
  bool was_;
};

void CheckBf16AgainstReference(const char* path) {
  // c-2048-like: untied head without scaling, every block sparse, inner size != d_model, bf16.
  SwitchConfig c = Tiny("bfloat16", /*tied=*/false, /*full_sparse=*/true);
  auto w = TinyWeights(c, 2, /*router_scale=*/4.0);
  Comparison r = CompareWithReference(c, w, *w, kEnc, kDec);
  EXPECT_EQ(r.outside, 0) << path << ": worst |diff|/tol = " << r.worst_ratio;
  EXPECT_GT(r.stats.routes, 0);
  EXPECT_LT(r.MedianTolRel(), 0.05);
  std::cout << "bf16 (" << path << "): " << r.checked << " values, worst |diff|/tol " << r.worst_ratio
            << ", median stage tol/max|ref| " << r.MedianTolRel()
            << ", ambiguous routes " << r.stats.ambiguous_routes << "/" << r.stats.routes << "\n";
}

TEST(SwitchModel, Bf16UntiedAllSparseMatchesReference) { CheckBf16AgainstReference("LibTorch default"); }

// The same bound holds on LibTorch's non-oneDNN bf16 path: the model accumulates every product in
// fp32 itself (switch_model.cpp, ActivationMatmul), so the result does not depend on the CPU.
TEST(SwitchModel, Bf16MatchesReferenceWithoutOneDnn) {
  OneDnnOff off;
  CheckBf16AgainstReference("LibTorch fallback, no oneDNN");
}

// The model relies on at::linear(x, W) with a row-major W [out, in] accumulating in fp32 on both
// LibTorch paths. 256 + 256 ones: an fp32 sum is 512; a bf16 running sum sticks at 256 (ulp 2).
TEST(SwitchModel, Bf16LinearAccumulatesInFp32OnBothLibTorchPaths) {
  for (bool onednn : {true, false}) {
    std::unique_ptr<OneDnnOff> off = onednn ? nullptr : std::make_unique<OneDnnOff>();
    for (int64_t T : {1, 4, 32}) {
      for (int64_t N : {1, 8, 64}) {
        at::Tensor x = at::ones({T, 257});
        x.select(1, 0).fill_(256);
        at::Tensor y = at::linear(x.to(at::kBFloat16), at::ones({N, 257}).to(at::kBFloat16));
        EXPECT_EQ(y[0][0].item<float>(), 512.0f) << "oneDNN " << onednn << ", T " << T << ", N " << N;
      }
    }
  }
}

TEST(SwitchModel, CapacityDropsMatchReference) {
  SwitchConfig c = Tiny("float32", true);
  c.expert_capacity = 3;
  auto w = TinyWeights(c, 3);
  Comparison r = CompareWithReference(c, w, *w, kEnc, kDec);
  ASSERT_EQ(r.stats.ambiguous_routes, 0);  // drops depend on the exact routing, so it must be decided
  EXPECT_GT(r.stats.dropped, 0);
  EXPECT_EQ(r.outside, 0) << "worst |diff|/tol = " << r.worst_ratio;
}

// Router weights that send every token with positive z to expert `winner`.
at::Tensor RouterFavoring(int64_t E, int64_t d, int64_t winner) {
  at::Tensor w = -at::ones({E, d});
  w[winner] = 1;
  return w;
}

TEST(SwitchModel, CapacityDropReturnsGateTimesZ) {
  SwitchConfig c = Tiny("float32", true);
  c.expert_capacity = 2;
  auto w = TinyWeights(c, 4);
  w->Set(RouterWeightName(Stack::kEncoder, 1), RouterFavoring(4, 16, 2));
  SwitchModel m(c, w);
  at::Tensor z = at::rand({2, 5, 16}) + 0.1;  // positive: expert 2 for every token
  RouteResult r = m.Route(Stack::kEncoder, 1, z);
  EXPECT_TRUE(at::equal(r.expert, at::full({2, 5}, 2, at::kLong)));
  at::Tensor kept_want = (at::arange(5) < 2).expand({2, 5});  // per sample
  EXPECT_TRUE(at::equal(r.kept, kept_want));
  EXPECT_EQ(m.routing_stats().dropped, 6);
  at::Tensor out = m.MoeFf(Stack::kEncoder, 1, z);
  at::Tensor gate = r.gate.unsqueeze(-1);
  at::Tensor expert = m.ExpertForward(Stack::kEncoder, 1, 2, z.reshape({-1, 16})).view({2, 5, 16});
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t t = 0; t < 5; ++t) {
      at::Tensor want = t < 2 ? gate[b][t] * expert[b][t] : gate[b][t] * z[b][t];
      EXPECT_TRUE(at::allclose(out[b][t], want, 0, 0)) << b << "," << t;  // same ops: exact
    }
  }
  // One sample as [T, d] counts the same way.
  EXPECT_TRUE(at::equal(m.Route(Stack::kEncoder, 1, z[0]).kept, kept_want[0]));
}

TEST(SwitchModel, RouterTiesPickFirstIndexOnCastProbabilities) {
  for (const char* dtype : {"float32", "bfloat16"}) {
    SwitchConfig c = Tiny(dtype, true);
    auto w = TinyWeights(c, 5);
    // Experts 1 and 3 have identical rows (an exact tie), expert 0 and 2 are far behind.
    at::Tensor r = at::zeros({4, 16});
    r[1] = 0.5, r[3] = 0.5, r[0] = -0.5, r[2] = -0.5;
    w->Set(RouterWeightName(Stack::kEncoder, 1), r);
    SwitchModel m(c, w);
    at::Tensor z = (at::rand({6, 16}) + 0.1).to(c.ScalarType());
    RouteResult rr = m.Route(Stack::kEncoder, 1, z);
    EXPECT_TRUE(at::equal(rr.expert, at::full({6}, 1, at::kLong))) << dtype;
    EXPECT_TRUE(at::equal(rr.gate, rr.probs.select(-1, 1).to(at::kFloat))) << dtype;
  }
  // bf16: expert 3's fp32 probability is slightly larger, but both cast to the same bf16 value,
  // and the argmax runs on the cast values (as HF): expert 1 wins.
  SwitchConfig c = Tiny("bfloat16", true);
  auto w = TinyWeights(c, 5);
  at::Tensor r = at::zeros({4, 16});
  r[1][0] = 1.0, r[3][0] = 1.0 + 1e-4, r[0][0] = -1, r[2][0] = -1;
  w->Set(RouterWeightName(Stack::kEncoder, 1), r);
  SwitchModel m(c, w);
  at::Tensor z = at::zeros({1, 16});
  z[0][0] = 1;
  z = z.to(at::kBFloat16);
  at::Tensor p32 = at::softmax(at::linear(z.to(at::kFloat), r), -1);
  ASSERT_GT(p32[0][3].item<float>(), p32[0][1].item<float>());  // fp32 would pick 3
  RouteResult rr = m.Route(Stack::kEncoder, 1, z);
  ASSERT_EQ(rr.probs[0][1].item<float>(), rr.probs[0][3].item<float>());
  EXPECT_EQ(rr.expert[0].item<int64_t>(), 1);
}

TEST(SwitchModel, GenerateWithCacheEqualsRepeatedForward) {
  for (const char* dtype : {"float32", "bfloat16"}) {
    SwitchConfig c = Tiny(dtype, false);
    auto w = TinyWeights(c, 6, 4.0);
    SwitchModel m(c, w);
    PaddedBatch e = PadBatch(kEnc);
    const int64_t n = 12;
    at::Tensor gen = m.Generate(e.ids, n, e.mask);
    ASSERT_EQ(gen.sizes(), (at::IntArrayRef{2, n + 1}));
    // Greedy by repeated full forwards (no cache).
    at::Tensor seq = at::zeros({2, 1}, at::kLong);
    for (int64_t s = 0; s < n; ++s) {
      at::Tensor logits = m.Forward(e.ids, seq, e.mask);
      seq = at::cat({seq, logits.select(1, s).argmax(-1, true)}, 1);
    }
    EXPECT_TRUE(at::equal(gen, seq)) << dtype << "\ncache:\n" << gen << "\nfull:\n" << seq;
    EXPECT_GE(std::get<0>(at::_unique(gen.narrow(1, 1, n))).numel(), 2) << "degenerate generation";
  }
}

TEST(SwitchModel, GenerateStopsAtEos) {
  SwitchConfig c = Tiny("float32", true);
  SwitchModel m(c, TinyWeights(c, 6));
  PaddedBatch e = PadBatch(kEnc);
  at::Tensor free_run = m.Generate(e.ids, 8, e.mask);
  const int64_t eos = free_run[0][3].item<int64_t>();  // row 0's third generated token
  at::Tensor stopped = m.Generate(e.ids, 8, e.mask, eos);
  for (int64_t b = 0; b < 2; ++b) {
    bool seen = false;
    for (int64_t t = 1; t < stopped.size(1); ++t) {
      if (seen) EXPECT_EQ(stopped[b][t].item<int64_t>(), c.pad_token_id);
      else EXPECT_EQ(stopped[b][t].item<int64_t>(), free_run[b][t].item<int64_t>());
      seen = seen || stopped[b][t].item<int64_t>() == eos;
    }
  }
}

TEST(SwitchModel, AutogradGivesFiniteNonzeroGrads) {
  SwitchConfig c = Tiny("float32", true);
  auto w = TinyWeights(c, 7);
  for (auto& kv : w->tensors()) const_cast<at::Tensor&>(kv.second).requires_grad_(true);
  SwitchModel m(c, w);
  PaddedBatch e = PadBatch(kEnc), d = PadBatch(kDec);
  at::Tensor logits = m.Forward(e.ids, d.ids, e.mask, d.mask);
  at::Tensor target = d.ids.roll(-1, 1);
  at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, c.vocab_size}), target.reshape(-1));
  loss.backward();
  int64_t experts_with_grad = 0;
  for (const auto& [name, t] : w->tensors()) {
    const bool is_expert = name.find(".experts.") != std::string::npos;
    if (!t.grad().defined()) {
      EXPECT_TRUE(is_expert) << name;  // only experts that received no token are outside the graph
      continue;
    }
    EXPECT_TRUE(at::isfinite(t.grad()).all().item<bool>()) << name;
    const bool nonzero = t.grad().abs().sum().item<double>() > 0;
    if (is_expert) experts_with_grad += nonzero;
    else EXPECT_TRUE(nonzero) << name;  // every non-expert weight influences the loss
  }
  EXPECT_GT(experts_with_grad, 2 * 4);  // routed experts get gradients (unrouted ones cannot)
}

TEST(SwitchModel, C2048AliasesGiveTheSameForward) {
  // c-2048 stores the head as decoder.lm_head.weight and the embedding only as shared.weight.
  SwitchConfig c = Tiny("bfloat16", false, true);
  auto w = TinyWeights(c, 8, 4.0);
  auto aliased = std::make_shared<MapWeights>(w->tensors());
  aliased->Set("decoder.lm_head.weight", w->Get("lm_head.weight"));
  ASSERT_TRUE(aliased->Erase("lm_head.weight"));
  PaddedBatch e = PadBatch(kEnc), d = PadBatch(kDec);
  SwitchModel a(c, w), b(c, aliased);
  EXPECT_TRUE(at::equal(a.Forward(e.ids, d.ids, e.mask, d.mask), b.Forward(e.ids, d.ids, e.mask, d.mask)));
  // Tied models ignore any lm_head tensor.
  SwitchConfig t = Tiny("float32", true);
  auto tw = TinyWeights(t, 9);
  SwitchModel tied(t, tw);
  at::Tensor before = tied.Forward(e.ids, d.ids, e.mask, d.mask);
  tw->Set("lm_head.weight", at::zeros({50, 16}));
  tied.ReleaseAll();
  EXPECT_TRUE(at::equal(before, tied.Forward(e.ids, d.ids, e.mask, d.mask)));
}

// Replaces one expert by zeros; must equal a model whose expert weights are zero.
class ZeroExpert : public ExpertOverride {
 public:
  explicit ZeroExpert(ExpertId id) : id_(id) {}
  bool Covers(const ExpertId& id) const override {
    return id.stack == id_.stack && id.block == id_.block && id.expert == id_.expert;
  }
  at::Tensor Forward(const ExpertId&, const at::Tensor& z) const override {
    ++calls;
    return at::zeros_like(z);
  }
  mutable int calls = 0;

 private:
  ExpertId id_;
};

TEST(SwitchModel, ExpertOverrideReplacesExpertMatmuls) {
  SwitchConfig c = Tiny("float32", true);
  auto w = TinyWeights(c, 10);
  PaddedBatch e = PadBatch(kEnc), d = PadBatch(kDec);
  // The expert that sample 0's first decoder token goes to in decoder block 1 (routed from that
  // block's own FF input, so it receives tokens in the forward below by construction).
  SwitchModel probe(c, w);
  at::Tensor ff_in;
  probe.SetObserver([&](Stack s, int64_t block, int sub, const at::Tensor& h) {
    if (s == Stack::kDecoder && block == 1 && sub == 1) ff_in = h;
  });
  probe.Forward(e.ids, d.ids, e.mask, d.mask);
  RouteResult r = probe.Route(Stack::kDecoder, 1, probe.FfNorm(Stack::kDecoder, 1, ff_in));
  const int64_t expert = r.expert[0][0].item<int64_t>();
  auto zeroed = std::make_shared<OverlayWeights>(w);
  zeroed->Set(ExpertWeightName(Stack::kDecoder, 1, expert, "wo"), at::zeros({16, 24}));
  SwitchModel with_override(c, w), with_zero(c, zeroed), plain(c, w);
  auto ov = std::make_shared<ZeroExpert>(ExpertId{Stack::kDecoder, 1, expert});
  with_override.SetExpertOverride(ov);
  at::Tensor a = with_override.Forward(e.ids, d.ids, e.mask, d.mask);
  at::Tensor b = with_zero.Forward(e.ids, d.ids, e.mask, d.mask);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_GT(ov->calls, 0);
  EXPECT_FALSE(at::equal(a, plain.Forward(e.ids, d.ids, e.mask, d.mask)));
}

TEST(SwitchModel, BlockApiPipelineEqualsForward) {
  // The compression pipeline's order of operations, one sample at a time, on the public block API.
  SwitchConfig c = Tiny("bfloat16", true);
  auto w = TinyWeights(c, 11, 4.0);
  SwitchModel m(c, w);
  const std::vector<int64_t>& enc = kEnc[0];
  const std::vector<int64_t>& dec = kDec[0];
  at::Tensor enc_ids = at::tensor(enc, at::kLong), dec_ids = at::tensor(dec, at::kLong);
  auto run_stack = [&](Stack s, at::Tensor x, const at::Tensor& enc_out) {
    at::Tensor bias = m.SelfAttentionBias(s, x.size(0), {});  // block 0's table for every block
    for (int64_t b = 0; b < c.NumBlocks(s); ++b) {
      x = m.AttentionSublayers(s, b, x, bias, enc_out);
      at::Tensor z = m.FfNorm(s, b, x);
      if (!c.IsSparse(s, b)) {
        x = x + m.DenseFf(s, b, z);
        continue;
      }
      RouteResult r = m.Route(s, b, z);
      at::Tensor update = at::zeros_like(x);
      for (int64_t e = 0; e < c.num_experts; ++e) {
        at::Tensor pos = (r.expert == e).nonzero().squeeze(1);
        if (pos.numel() == 0) continue;
        at::Tensor y = m.ExpertForward(s, b, e, z.index_select(0, pos));
        update.index_copy_(0, pos, (r.gate.index_select(0, pos).unsqueeze(1) * y).to(x.scalar_type()));
      }
      x = x + update;
    }
    return m.FinalNorm(s, x);
  };
  at::Tensor enc_out = run_stack(Stack::kEncoder, m.Embed(enc_ids)[0], {});
  at::Tensor logits = m.LmHead(run_stack(Stack::kDecoder, m.Embed(dec_ids)[0], enc_out));
  at::Tensor want = m.Forward(enc_ids.unsqueeze(0), dec_ids.unsqueeze(0))[0];
  EXPECT_TRUE(at::equal(logits, want)) << (logits - want).abs().max();
}

TEST(SwitchModel, BadWeightsGiveOneClearError) {
  SwitchConfig c = Tiny("float32", true);
  auto w = TinyWeights(c, 12);
  const std::string name = AttentionWeightName(Stack::kEncoder, 1, 0, "q");
  w->Set(name, at::zeros({16, 16}));
  SwitchModel m(c, w);
  PaddedBatch e = PadBatch(kEnc);
  try {
    m.EncoderForward(e.ids, e.mask);
    FAIL() << "expected an error";
  } catch (const Error& err) {
    const std::string msg = err.what();
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    EXPECT_NE(msg.find("[16, 16]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected [12, 16]"), std::string::npos) << msg;
  }
  w->Erase(name);
  try {
    SwitchModel(c, w).EncoderForward(e.ids, e.mask);
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find(name), std::string::npos) << err.what();
  }
  EXPECT_THROW(m.Embed(at::tensor({3, 50}, at::kLong)), Error);  // id 50 >= vocab 50
}

fs::path TempDir(const std::string& tag) {
  fs::path p = fs::temp_directory_path() / StrCat("qmoe_model_test_", ::getpid(), "_", tag);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TEST(SwitchModel, CheckpointRoundTripAndStreaming) {
  // Written with the io writer (sharded safetensors, bf16 storage), read lazily through the
  // Checkpoint: identical to the in-memory weights. Streaming gives identical logits and keeps
  // nothing but tiny tables cached.
  SwitchConfig c = Tiny("float32", true);
  auto w = TinyWeights(c, 13);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [n, t] : w->tensors()) tensors.emplace_back(n, t.to(at::kBFloat16));
  for (auto layout : {CheckpointLayout::kSafetensorsSharded, CheckpointLayout::kTorchBin}) {
    fs::path dir = TempDir("ckpt");
    WriteCheckpoint(dir, tensors, layout, /*max_shard_bytes=*/4096);
    WriteHfConfig(c, dir);
    auto mem = std::make_shared<MapWeights>();
    for (const auto& [n, t] : tensors) mem->Set(n, t);
    PaddedBatch e = PadBatch(kEnc), d = PadBatch(kDec);
    SwitchModel in_memory(c, mem);
    at::Tensor want = in_memory.Forward(e.ids, d.ids, e.mask, d.mask);
    auto loaded = SwitchModel::FromDirectory(dir.string());
    EXPECT_EQ(loaded->config().d_kv, 6);
    EXPECT_TRUE(at::equal(loaded->Forward(e.ids, d.ids, e.mask, d.mask), want));
    auto streamed = SwitchModel::FromDirectory(dir.string(), ModelOptions{.stream = true});
    EXPECT_TRUE(at::equal(streamed->Forward(e.ids, d.ids, e.mask, d.mask), want));
    // Left cached: the two final norms only (block weights, experts and embeddings were dropped).
    EXPECT_EQ(streamed->CachedBytes(), 2 * 16 * 4);
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace qmoe
