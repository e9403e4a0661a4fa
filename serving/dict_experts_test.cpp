// DictExperts: the fast expert forward against its plain twin with a computed bound, both kernel
// paths (batch kernel and decompress + GEMM), and a whole tiny model served from packed codes
// against the same model with simulated (dequantized) weights.
#include "serving/dict_experts.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "framework/core/error.h"
#include "framework/model/random_weights.h"
#include "framework/model/switch_names.h"
#include "codecs/dict/dict_codec.h"
#include "methods/codec/packed_tensors.h"

namespace qmoe {
namespace {

// d_model 16, d_ff 27 (odd: wo rows end in a lone column), 2+2 blocks (1 MoE block each), 4 experts.
SwitchConfig Tiny() {
  SwitchConfig c;
  c.name = "tiny";
  c.d_model = 16, c.d_ff = 27, c.num_heads = 2, c.d_kv = 6, c.num_layers = 2, c.num_decoder_layers = 2;
  c.num_experts = 4, c.vocab_size = 50, c.dtype = "float32";
  return c;
}

// Ternary RTN on the ternary grid (levels {lo, 0, hi} per row, strict thresholds at lo/2, hi/2),
// with lo/hi rounded to bf16 first so the matrix is exactly what the symbol layer encodes.
at::Tensor TernaryRtn(const at::Tensor& w) {
  at::Tensor lo = at::clamp_max(std::get<0>(w.min(1, true)), 0).to(at::kBFloat16).to(at::kFloat);
  at::Tensor hi = at::clamp_min(std::get<0>(w.max(1, true)), 0).to(at::kBFloat16).to(at::kFloat);
  at::Tensor q = at::where(w > hi / 2, hi, at::where(w < lo / 2, lo, at::zeros_like(w)));
  return q.contiguous();
}

struct Built {
  SwitchConfig cfg = Tiny();
  std::shared_ptr<DictExperts> experts;
  std::shared_ptr<MapWeights> simulated;  // experts replaced by their dequantized (decoded) values
};

Built Build(int64_t gemm_threshold, int64_t d_model = 16, int64_t d_ff = 27, int threads = 0,
            const std::string& kernel_path = "") {
  Built b;
  b.cfg.d_model = d_model, b.cfg.d_ff = d_ff;
  auto w = RandomSwitchWeights(b.cfg, 7, at::kFloat, 4.0);
  b.experts = std::make_shared<DictExperts>(DictExpertsOptions{gemm_threshold, threads, kernel_path});
  for (Stack s : {Stack::kEncoder, Stack::kDecoder})
    for (int64_t blk = 0; blk < b.cfg.NumBlocks(s); ++blk) {
      if (!b.cfg.IsSparse(s, blk)) continue;
      for (int64_t e = 0; e < b.cfg.num_experts; ++e)
        for (const char* m : {"wi", "wo"}) {
          const std::string name = ExpertWeightName(s, blk, e, m);
          at::Tensor q = TernaryRtn(w.at(name));
          dict::EncodedMatrix enc =
              dict::Encode(ternary::SymbolsFromTernary(q.data_ptr<float>(), q.size(0), q.size(1), ternary::SymbolMode::kReference));
          b.experts->Add(ExpertId{s, blk, e}, m, codecs::ToTensors(dict::Pack(enc)), enc.rows, enc.cols, name);
          w[name] = at::from_blob(dict::Decode(enc).data(), {enc.rows, enc.cols}, at::kFloat).clone();
        }
    }
  b.simulated = std::make_shared<MapWeights>(w);
  return b;
}

// Per-element bound on |Forward - ForwardRef| (both see the same bf16 x):
//  hidden: fp32 accumulation of d terms differs from the exact sum by at most A = γ_d·Σ|Wi||x|
//          (γ_n = n·u/(1-n·u), u = 2^-24); both sides then round to bf16, which can land one bf16
//          ulp apart (≤ 2^-7·|v| for a value of magnitude ≤ v), so |Δh| ≤ A + 2^-7·(|h| + A).
//  output: Σ_j |Wo_rj|·|Δh_j| plus the fp32 accumulation error γ_f·Σ|Wo||h| of the second product.
at::Tensor ForwardBound(const DictExperts& ex, const ExpertId& id, const at::Tensor& z) {
  const double u = std::ldexp(1.0, -24);
  auto gamma = [&](int64_t n) { return double(n) * u / (1 - double(n) * u); };
  at::Tensor wi = ex.Dequantized(id, "wi").to(at::kDouble), wo = ex.Dequantized(id, "wo").to(at::kDouble);
  at::Tensor x = z.to(at::kBFloat16).to(at::kDouble);
  at::Tensor h = at::relu(at::matmul(x, wi.t()));
  at::Tensor A = gamma(wi.size(1)) * at::matmul(x.abs(), wi.abs().t());
  at::Tensor dh = A + std::ldexp(1.0, -7) * (h + A);
  return at::matmul(dh, wo.abs().t()) + gamma(wo.size(1)) * at::matmul(h + dh, wo.abs().t());
}

class DictExpertsShapes : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(DictExpertsShapes, ForwardMatchesRefWithinComputedBoundOnBothPaths) {
  Built b = Build(/*gemm_threshold=*/20, GetParam().first, GetParam().second);
  at::manual_seed(3);
  for (int64_t n : {1, 3, 16, 17, 20, 21, 64}) {  // 17, 20: two batch-kernel groups; 21, 64: GEMM path
    for (int64_t e = 0; e < b.cfg.num_experts; ++e) {
      const ExpertId id{Stack::kDecoder, 1, e};
      ASSERT_TRUE(b.experts->Covers(id));
      at::Tensor z = at::randn({n, b.cfg.d_model}) * 2;
      at::Tensor fast = b.experts->Forward(id, z).to(at::kDouble);
      at::Tensor ref = b.experts->ForwardRef(id, z).to(at::kDouble);
      at::Tensor bound = ForwardBound(*b.experts, id, z);
      EXPECT_TRUE(((fast - ref).abs() <= bound).all().item<bool>())
          << "n=" << n << " expert " << e << " worst excess " << ((fast - ref).abs() - bound).max().item<double>();
      EXPECT_GT(ref.abs().max().item<double>(), 0.0);  // the experts are not all zero
    }
  }
  EXPECT_FALSE(b.experts->Covers(ExpertId{Stack::kEncoder, 0, 0}));  // dense block
}
// The test model's shapes (odd d_ff) and switch-tiny-8's (128 x 192).
INSTANTIATE_TEST_SUITE_P(Shapes, DictExpertsShapes,
                         ::testing::Values(std::pair<int64_t, int64_t>{16, 27}, std::pair<int64_t, int64_t>{128, 192}));

// Rows are split across threads, never the sums inside a row: any thread count gives the same bits.
TEST(DictExperts, ThreadCountDoesNotChangeTheResult) {
  Built one = Build(/*gemm_threshold=*/1000, 128, 192, /*threads=*/1);
  Built three = Build(/*gemm_threshold=*/1000, 128, 192, /*threads=*/3);
  EXPECT_EQ(one.experts->threads(), 1);
  EXPECT_EQ(three.experts->threads(), 3);
  EXPECT_GE(Build(1000).experts->threads(), 1);  // 0 = torch's intra-op threads
  at::manual_seed(5);
  for (int64_t n : {1, 5, 16, 40}) {
    at::Tensor z = at::randn({n, 128}) * 2;
    const ExpertId id{Stack::kDecoder, 1, 1};
    at::Tensor a = one.experts->Forward(id, z), c = three.experts->Forward(id, z);
    EXPECT_TRUE(at::equal(a, c)) << "n=" << n;
    EXPECT_GT(a.abs().max().item<double>(), 0.0);
  }
  EXPECT_THROW(DictExperts(DictExpertsOptions{128, -1}), Error);
}

// Every kernel path this CPU runs, named through DictExpertsOptions::kernel_path, serves the experts
// within the same bound (no product here is near the subnormal range that avx512_bf16dot flushes).
TEST(DictExperts, EveryNamedKernelPathMatchesTheRef) {
  int served = 0;
  for (const kernels::DictPath& p : kernels::DictPaths()) {
    if (!kernels::CpuSupports(p.isa)) continue;
    Built b = Build(/*gemm_threshold=*/1000, 128, 192, /*threads=*/1, p.name);
    at::manual_seed(11);
    for (int64_t n : {1, 5, 16}) {
      const ExpertId id{Stack::kDecoder, 1, 2};
      at::Tensor z = at::randn({n, 128}) * 2;
      at::Tensor fast = b.experts->Forward(id, z).to(at::kDouble);
      at::Tensor ref = b.experts->ForwardRef(id, z).to(at::kDouble);
      EXPECT_TRUE(((fast - ref).abs() <= ForwardBound(*b.experts, id, z)).all().item<bool>()) << p.name << " n=" << n;
      EXPECT_GT(ref.abs().max().item<double>(), 0.0);
    }
    ++served;
  }
  EXPECT_GE(served, 1);  // scalar runs everywhere
  // The name is what runs: the scalar kernel sums a row in another order than the SIMD default, so
  // their fp32 results differ in the last bits (on a CPU whose default is scalar they agree).
  const bool simd = kernels::BestCpuIsa() != kernels::CpuIsa::kScalar;
  Built scalar = Build(1000, 128, 192, 1, "scalar"), fallback = Build(1000, 128, 192, 1);
  at::manual_seed(12);
  at::Tensor z = at::randn({16, 128}) * 2;
  const ExpertId id{Stack::kDecoder, 1, 2};
  EXPECT_EQ(at::equal(scalar.experts->Forward(id, z), fallback.experts->Forward(id, z)), !simd);
  try {
    DictExperts(DictExpertsOptions{128, 1, "avx3_pairs"});
    FAIL() << "an unknown kernel path was accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("avx3_pairs"), std::string::npos) << err.what();
  }
}

TEST(DictExperts, BadPackedInputIsOneClearError) {
  Built b = Build(16);
  dict::EncodedMatrix enc;
  enc.rows = 2, enc.cols = 4, enc.codes = {0, 0}, enc.row_off = {0, 1, 2}, enc.minmax_bf16 = {0xbf80, 0x3f80, 0xbf80, 0x3f80};
  auto packed = codecs::ToTensors(dict::Pack(enc));
  packed["row_off"] = at::tensor({0, 2, 1}, at::kInt);  // not monotone
  try {
    b.experts->Add(ExpertId{Stack::kEncoder, 1, 0}, "wi", packed, 2, 4, "enc.x.wi");
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("enc.x.wi"), std::string::npos) << err.what();
  }
  packed.erase("ter_minmax");
  EXPECT_THROW(b.experts->Add(ExpertId{Stack::kEncoder, 1, 0}, "wi", packed, 2, 4, "enc.x.wi"), Error);
}

// Span-corruption style loss of teacher-forced logits (mean CE over the decoder targets).
double Loss(SwitchModel& m, const at::Tensor& enc, const at::Tensor& dec) {
  at::Tensor logits = m.Forward(enc, dec).to(at::kDouble);
  at::Tensor lp = at::log_softmax(logits.narrow(1, 0, dec.size(1) - 1), -1);
  return -lp.gather(-1, dec.narrow(1, 1, dec.size(1) - 1).unsqueeze(-1)).mean().item<double>();
}

TEST(DictExperts, CompressedModelMatchesSimulatedModel) {
  for (int64_t threshold : {1, 1000}) {  // every call through GEMM / every call through the batch kernel
    Built b = Build(threshold);
    at::Tensor enc = at::randint(2, b.cfg.vocab_size, {3, 19}, at::TensorOptions().dtype(at::kLong));
    at::Tensor dec = at::randint(2, b.cfg.vocab_size, {3, 11}, at::TensorOptions().dtype(at::kLong));
    dec.select(1, 0).fill_(0);
    SwitchModel sim(b.cfg, b.simulated);
    SwitchModel comp(b.cfg, b.simulated);  // same dense weights; experts from the packed codes
    comp.SetExpertOverride(b.experts);
    struct RefOverride : ExpertOverride {
      std::shared_ptr<DictExperts> ex;
      bool Covers(const ExpertId& id) const override { return ex->Covers(id); }
      at::Tensor Forward(const ExpertId& id, const at::Tensor& z) const override { return ex->ForwardRef(id, z); }
    };
    auto ref_override = std::make_shared<RefOverride>();
    ref_override->ex = b.experts;
    SwitchModel ref(b.cfg, b.simulated);
    ref.SetExpertOverride(ref_override);

    at::Tensor lc = comp.Forward(enc, dec), lr = ref.Forward(enc, dec), ls = sim.Forward(enc, dec);
    // (2) Against the simulated fp32 model. The compressed experts see bf16 inputs and a bf16
    // hidden layer (weights exact): each expert output is perturbed by at most ~2·2^-9 of itself
    // (two roundings of relative size ≤ 2^-9; relu and the linear maps keep the relative size).
    // To first order the logits then move by at most 2·2^-9 of how far they move when the expert
    // outputs are removed entirely (a perturbation of relative size 1): D = max|logits(no experts)
    // − logits(sim)|. We allow 2× that for second-order terms: tol = 2·2·2^-9·D = 2^-7·D. The
    // cross-entropy is 2-Lipschitz in the max-norm of the logits (logsumexp and the target logit
    // are each 1-Lipschitz), so the loss moves by at most 2·tol.
    struct ZeroOverride : ExpertOverride {
      bool Covers(const ExpertId&) const override { return true; }
      at::Tensor Forward(const ExpertId&, const at::Tensor& z) const override { return at::zeros_like(z); }
    };
    SwitchModel zero(b.cfg, b.simulated);
    zero.SetExpertOverride(std::make_shared<ZeroOverride>());
    const double D = (zero.Forward(enc, dec) - ls).abs().max().item<double>();
    ASSERT_GT(D, 0.1);  // the experts matter in this model, so the tolerance below is meaningful
    const double tol = std::ldexp(D, -7);
    // (1) Against the plain twin with the same bf16 roundings: only fp32-vs-fp64 accumulation
    // (relative ~d·2^-24) and rare one-ulp bf16 flips of single hidden units (≤ 2^-7 of that unit)
    // differ, each a relative perturbation of the expert output far below 2^-7; by the same
    // first-order argument as (2) the logits move by less than 2^-7·D.
    EXPECT_LE((lc - lr).abs().max().item<double>(), tol) << "threshold " << threshold;
    const double l_comp = Loss(comp, enc, dec), l_sim = Loss(sim, enc, dec);
    EXPECT_LE((lc - ls).abs().max().item<double>(), tol) << "threshold " << threshold;
    EXPECT_LE(std::abs(l_comp - l_sim), 2 * tol) << "loss " << l_comp << " vs simulated " << l_sim;
    std::printf("threshold %ld: max|logit diff| vs ref %.3g, vs sim %.3g (tol %.3g); loss %.6f vs %.6f\n",
                long(threshold), (lc - lr).abs().max().item<double>(), (lc - ls).abs().max().item<double>(), tol,
                l_comp, l_sim);
  }
}

}  // namespace
}  // namespace qmoe
