// RansExperts: a tiny `rans`-compressed model written to a compressed directory, opened as a model
// directory and served by ServePackedExperts (the runtime experiment's path): the fast expert
// forward against its plain twin with a computed bound on both paths (fused kernel, decode + GEMM),
// and the logits of the model served from the packed streams against the same directory's
// dequantized weights.
#include "serving/rans_experts.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/core/error.h"
#include "framework/model/random_weights.h"
#include "framework/model/switch_names.h"
#include "methods/codec/codec_method.h"
#include "methods/codec/packed_tensors.h"
#include "serving/compressed_model.h"
#include "serving/model_dir.h"

namespace qmoe {
namespace {
namespace fs = std::filesystem;

struct TmpDir {
  fs::path p = fs::temp_directory_path() / ("qmoe_rans_experts_test_" + std::to_string(getpid()));
  TmpDir() { fs::create_directories(p); }
  ~TmpDir() { fs::remove_all(p); }
};

// d_model 16, d_ff 27 (odd: wo rows end in a lone column), 2+2 blocks (1 MoE block each), 4 experts.
SwitchConfig Tiny(int64_t d_model, int64_t d_ff) {
  SwitchConfig c;
  c.name = "tiny";
  c.d_model = d_model, c.d_ff = d_ff, c.num_heads = 2, c.d_kv = 6, c.num_layers = 2, c.num_decoder_layers = 2;
  c.num_experts = 4, c.vocab_size = 50, c.dtype = "float32";
  return c;
}

// Ternary RTN (levels {lo, 0, hi} per row, lo/hi rounded to bf16 first), as in dict_experts_test.
at::Tensor TernaryRtn(const at::Tensor& w) {
  at::Tensor lo = at::clamp_max(std::get<0>(w.min(1, true)), 0).to(at::kBFloat16).to(at::kFloat);
  at::Tensor hi = at::clamp_min(std::get<0>(w.max(1, true)), 0).to(at::kBFloat16).to(at::kFloat);
  return at::where(w > hi / 2, hi, at::where(w < lo / 2, lo, at::zeros_like(w))).contiguous();
}

// A rans-compressed directory of a random tiny model: small chunks (several per matrix, so the
// kernel's threads split them) and 16 streams (the AVX-512 decode steps).
void WriteRansModel(const SwitchConfig& cfg, const fs::path& dir) {
  WriteHfConfig(cfg, dir / "src");
  std::ifstream f(dir / "src" / "config.json");
  std::stringstream text;
  text << f.rdbuf();
  auto w = RandomSwitchWeights(cfg, 7, at::kFloat, 4.0);
  CompressedModelWriter writer(dir / "comp", "rans", ToParamMap(codecs::InnerParams{}), 2, text.str());
  for (Stack s : {Stack::kEncoder, Stack::kDecoder})
    for (int64_t b = 0; b < cfg.NumBlocks(s); ++b) {
      if (!cfg.IsSparse(s, b)) continue;
      std::vector<MatrixResult> results;
      std::vector<std::string> names;
      std::vector<std::pair<int64_t, int64_t>> shapes;
      for (int64_t e = 0; e < cfg.num_experts; ++e)
        for (const char* m : {"wi", "wo"}) {
          const std::string name = ExpertWeightName(s, b, e, m);
          at::Tensor q = TernaryRtn(w.at(name));
          const rans::RansMatrix enc = rans::Encode(
              ternary::SymbolsFromTernary(q.data_ptr<float>(), q.size(0), q.size(1), ternary::SymbolMode::kReference),
              /*chunk_weights=*/200, /*streams=*/16);
          MatrixResult r;
          r.packed = codecs::ToTensors(rans::Pack(enc));
          r.storage_bits = double(rans::StorageBits(enc));
          results.push_back(std::move(r));
          names.push_back(name);
          shapes.emplace_back(enc.rows, enc.cols);
        }
      std::vector<std::pair<std::string, const MatrixResult*>> mats;
      for (size_t i = 0; i < results.size(); ++i) mats.emplace_back(names[i], &results[i]);
      writer.WriteExpertBlock(StrCat(StackName(s), "-", b), mats, shapes);
    }
  std::vector<std::pair<std::string, at::Tensor>> dense;
  for (const auto& t : SwitchTensorShapes(cfg))
    if (!t.is_expert) dense.emplace_back(t.name, w.at(t.name));
  writer.Finish(dense);
}

struct Served {
  SwitchConfig cfg;
  std::shared_ptr<const WeightSource> weights;  // experts dequantized on Get
  std::shared_ptr<RansExperts> experts;
};

Served Open(const fs::path& dir, const SwitchConfig& cfg, int64_t gemm_threshold, int threads) {
  Served s{cfg, OpenModelDirWeights(dir / "comp"), nullptr};
  RansExpertsOptions o;
  o.gemm_threshold = gemm_threshold, o.threads = threads;
  const ServedExperts se = ServePackedExperts(*s.weights, cfg, {}, o);
  EXPECT_EQ(se.codec, "rans");
  EXPECT_EQ(se.num_experts, 2 * cfg.num_experts);  // one MoE block per stack
  s.experts = std::dynamic_pointer_cast<RansExperts>(se.experts);
  EXPECT_TRUE(s.experts != nullptr);
  EXPECT_EQ(se.packed_bytes, s.experts->packed_bytes());
  return s;
}

// Per-element bound on |Forward − ForwardRef| (both see the same bf16 x), derived as in
// dict_experts_test:
//  hidden: fp32 accumulation of d exact bf16·bf16 products differs from the exact sum by at most
//          A = γ_d·Σ|Wi||x| (γ_n = n·u/(1−n·u), u = 2^-24); both sides then round to bf16, which can
//          land one bf16 ulp apart (≤ 2^-7·|v| for a value of magnitude ≤ v), so |Δh| ≤ A + 2^-7·(|h| + A).
//  output: Σ_j |Wo_rj|·|Δh_j| plus the fp32 accumulation error γ_f·Σ|Wo||h| of the second product.
//  Both products may run on the avx512_bf16 kernel path, which also flushes values below 2^-126
//  (rans_matvec.h): + 2^-126·(Σ|W_r| + Σ|x| + n) on each product.
at::Tensor ForwardBound(const RansExperts& ex, const ExpertId& id, const at::Tensor& z) {
  const double u = std::ldexp(1.0, -24);
  auto gamma = [&](int64_t n) { return double(n) * u / (1 - double(n) * u); };
  at::Tensor wi = ex.Dequantized(id, "wi").to(at::kDouble), wo = ex.Dequantized(id, "wo").to(at::kDouble);
  at::Tensor x = z.to(at::kBFloat16).to(at::kDouble);
  at::Tensor h = at::relu(at::matmul(x, wi.t()));
  auto flush = [](const at::Tensor& w, const at::Tensor& v) {  // [n, rows]
    return std::ldexp(1.0, -126) * (w.abs().sum(1).unsqueeze(0) + v.abs().sum(1, true) + double(w.size(1)));
  };
  at::Tensor A = gamma(wi.size(1)) * at::matmul(x.abs(), wi.abs().t()) + flush(wi, x);
  at::Tensor dh = A + std::ldexp(1.0, -7) * (h + A);
  return at::matmul(dh, wo.abs().t()) + gamma(wo.size(1)) * at::matmul(h + dh, wo.abs().t()) + flush(wo, h + dh);
}

class RansExpertsShapes : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(RansExpertsShapes, ForwardMatchesRefWithinComputedBoundOnBothPaths) {
  TmpDir tmp;
  const SwitchConfig cfg = Tiny(GetParam().first, GetParam().second);
  WriteRansModel(cfg, tmp.p);
  for (int threads : {1, 2}) {
    Served b = Open(tmp.p, cfg, /*gemm_threshold=*/20, threads);
    at::manual_seed(3);
    for (int64_t n : {1, 3, 16, 17, 20, 21, 64}) {  // 17, 20: two kernel groups; 21, 64: decode + GEMM
      for (int64_t e = 0; e < cfg.num_experts; ++e) {
        const ExpertId id{Stack::kDecoder, 1, e};
        ASSERT_TRUE(b.experts->Covers(id));
        at::Tensor z = at::randn({n, cfg.d_model}) * 2;
        at::Tensor fast = b.experts->Forward(id, z).to(at::kDouble);
        at::Tensor ref = b.experts->ForwardRef(id, z).to(at::kDouble);
        at::Tensor bound = ForwardBound(*b.experts, id, z);
        EXPECT_TRUE(((fast - ref).abs() <= bound).all().item<bool>())
            << "n=" << n << " expert " << e << " threads " << threads << " worst excess "
            << ((fast - ref).abs() - bound).max().item<double>();
        EXPECT_GT(ref.abs().max().item<double>(), 0.0);  // the experts are not all zero
      }
    }
    EXPECT_FALSE(b.experts->Covers(ExpertId{Stack::kEncoder, 0, 0}));  // dense block
  }
}
// The test model's shapes (odd d_ff) and switch-tiny-8's (128 x 192).
INSTANTIATE_TEST_SUITE_P(Shapes, RansExpertsShapes,
                         ::testing::Values(std::pair<int64_t, int64_t>{16, 27}, std::pair<int64_t, int64_t>{128, 192}));

// Span-corruption style loss of teacher-forced logits (mean CE over the decoder targets).
double Loss(SwitchModel& m, const at::Tensor& enc, const at::Tensor& dec) {
  at::Tensor logits = m.Forward(enc, dec).to(at::kDouble);
  at::Tensor lp = at::log_softmax(logits.narrow(1, 0, dec.size(1) - 1), -1);
  return -lp.gather(-1, dec.narrow(1, 1, dec.size(1) - 1).unsqueeze(-1)).mean().item<double>();
}

TEST(RansExperts, ServedModelMatchesItsDequantizedWeights) {
  TmpDir tmp;
  const SwitchConfig cfg = Tiny(16, 27);
  WriteRansModel(cfg, tmp.p);
  for (int64_t threshold : {1, 1000}) {  // every call through decode + GEMM / every call through the kernel
    Served b = Open(tmp.p, cfg, threshold, 2);
    at::manual_seed(11);
    at::Tensor enc = at::randint(2, cfg.vocab_size, {3, 19}, at::TensorOptions().dtype(at::kLong));
    at::Tensor dec = at::randint(2, cfg.vocab_size, {3, 11}, at::TensorOptions().dtype(at::kLong));
    dec.select(1, 0).fill_(0);
    SwitchModel sim(cfg, b.weights);  // experts: the directory's dequantized weights
    SwitchModel comp(cfg, b.weights);
    comp.SetExpertOverride(b.experts);
    struct RefOverride : ExpertOverride {
      std::shared_ptr<RansExperts> ex;
      bool Covers(const ExpertId& id) const override { return ex->Covers(id); }
      at::Tensor Forward(const ExpertId& id, const at::Tensor& z) const override { return ex->ForwardRef(id, z); }
    };
    auto ref_override = std::make_shared<RefOverride>();
    ref_override->ex = b.experts;
    SwitchModel ref(cfg, b.weights);
    ref.SetExpertOverride(ref_override);
    struct ZeroOverride : ExpertOverride {
      bool Covers(const ExpertId&) const override { return true; }
      at::Tensor Forward(const ExpertId&, const at::Tensor& z) const override { return at::zeros_like(z); }
    };
    SwitchModel zero(cfg, b.weights);
    zero.SetExpertOverride(std::make_shared<ZeroOverride>());

    at::Tensor lc = comp.Forward(enc, dec), lr = ref.Forward(enc, dec), ls = sim.Forward(enc, dec);
    // Tolerance (the derivation of dict_experts_test): the served experts see bf16 inputs and a
    // bf16 hidden layer (weights exact), so each expert output is perturbed by at most ~2·2^-9 of
    // itself (two roundings of relative size <= 2^-9; relu and the linear maps keep the relative
    // size). To first order the logits move by at most 2·2^-9 of how far they move when the expert
    // outputs are removed entirely (relative perturbation 1): D = max|logits(no experts) −
    // logits(sim)|. 2x that for second-order terms: tol = 2·2·2^-9·D = 2^-7·D. Cross-entropy is
    // 2-Lipschitz in the max-norm of the logits, so the loss moves by at most 2·tol.
    const double D = (zero.Forward(enc, dec) - ls).abs().max().item<double>();
    ASSERT_GT(D, 0.1);  // the experts matter in this model, so the tolerance is meaningful
    const double tol = std::ldexp(D, -7);
    EXPECT_LE((lc - lr).abs().max().item<double>(), tol) << "threshold " << threshold;
    EXPECT_LE((lc - ls).abs().max().item<double>(), tol) << "threshold " << threshold;
    const double l_comp = Loss(comp, enc, dec), l_sim = Loss(sim, enc, dec);
    EXPECT_LE(std::abs(l_comp - l_sim), 2 * tol) << "loss " << l_comp << " vs dequantized " << l_sim;
    std::printf("threshold %ld: max|logit diff| vs ref %.3g, vs dequantized %.3g (tol %.3g); loss %.6f vs %.6f\n",
                long(threshold), (lc - lr).abs().max().item<double>(), (lc - ls).abs().max().item<double>(), tol,
                l_comp, l_sim);
  }
}

TEST(RansExperts, BadPackedInputIsOneClearError) {
  RansExperts ex;
  ternary::TernarySymbols s;
  s.rows = 2, s.cols = 4, s.sym = {0, 1, 2, 0, 1, 1, 0, 2}, s.minmax_bf16 = {0xbf80, 0x3f80, 0xbf80, 0x3f80};
  auto packed = codecs::ToTensors(rans::Pack(rans::Encode(s)));
  EXPECT_NO_THROW(ex.Add(ExpertId{Stack::kEncoder, 1, 0}, "wi", packed, 2, 4, "enc.x.wi"));
  auto bad = packed;
  bad["chunk_off"] = at::tensor({0, 1}, at::kInt);  // ends before the words do
  try {
    ex.Add(ExpertId{Stack::kEncoder, 1, 0}, "wi", bad, 2, 4, "enc.x.wi");
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("enc.x.wi"), std::string::npos) << err.what();
  }
  EXPECT_THROW(ex.Add(ExpertId{Stack::kEncoder, 1, 0}, "wi", packed, 4, 2, "enc.x.wi"), Error);  // shape
  bad = packed;
  bad.erase("freq");
  EXPECT_THROW(ex.Add(ExpertId{Stack::kEncoder, 1, 0}, "wi", bad, 2, 4, "enc.x.wi"), Error);
}

}  // namespace
}  // namespace qmoe
