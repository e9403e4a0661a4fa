// One expert forward wo(relu(wi z)) at switch-base shapes (d_model 768, d_ff 3072) for n routed
// tokens: DictExperts (packed codes, CPU kernels; batch kernel up to the GEMM threshold, then
// decompress + GEMM) against the dense fp32 expert (at::linear, what the uncompressed model runs
// on CPU) in the same process. Experts are cycled past the last-level cache, as in a MoE layer.
// Counter `speedup_vs_dense_f32` = dense time / DictExperts time (> 1 = faster).
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <vector>

#include "serving/dict_experts.h"
#include "kernels/common/bench.h"
#include "codecs/dict/dict_codec.h"
#include "methods/codec/packed_tensors.h"
#include "codecs/ternary/iid_ternary.h"

namespace qmoe {
namespace {

namespace kb = qmoe::kernels::bench;
constexpr int64_t kD = 768, kF = 3072;

struct Layer {
  std::shared_ptr<DictExperts> dict;
  std::vector<std::pair<at::Tensor, at::Tensor>> dense;  // fp32 wi, wo per copy
  int64_t dict_copies = 0;
};

const Layer& GetLayer() {
  static const Layer layer = [] {
    Layer l;
    auto enc_of = [](int64_t r, int64_t c, uint64_t seed) {
      const auto w = ternary::RandomTernaryMatrix(r, c, 0.885, seed);
      return dict::Encode(ternary::SymbolsFromTernary(w.data(), r, c, ternary::SymbolMode::kReference));
    };
    const dict::EncodedMatrix wi = enc_of(kF, kD, 1), wo = enc_of(kD, kF, 2);
    const int64_t packed = dict::ExactBytes(wi) + dict::ExactBytes(wo);
    l.dict = std::make_shared<DictExperts>();
    l.dict_copies = kb::CopiesToExceedCache(packed);
    for (int64_t e = 0; e < l.dict_copies; ++e) {  // clones: every copy has its own memory
      auto pi = codecs::ToTensors(dict::Pack(wi)), po = codecs::ToTensors(dict::Pack(wo));
      for (auto* p : {&pi, &po})
        for (auto& [k, t] : *p) t = t.clone();
      l.dict->Add(ExpertId{Stack::kEncoder, 1, e}, "wi", pi, kF, kD, "wi");
      l.dict->Add(ExpertId{Stack::kEncoder, 1, e}, "wo", po, kD, kF, "wo");
    }
    at::Tensor dwi = at::from_blob(dict::Decode(wi).data(), {kF, kD}, at::kFloat).clone();
    at::Tensor dwo = at::from_blob(dict::Decode(wo).data(), {kD, kF}, at::kFloat).clone();
    const int64_t n_dense = kb::CopiesToExceedCache(int64_t(4) * 2 * kD * kF);
    for (int64_t e = 0; e < n_dense; ++e) l.dense.emplace_back(dwi.clone(), dwo.clone());
    return l;
  }();
  return layer;
}

void BM_DenseExpertF32(benchmark::State& state) {
  const Layer& l = GetLayer();
  at::Tensor z = at::randn({state.range(0), kD});
  size_t i = 0;
  const double t0 = kb::ThreadCpuSeconds();
  for (auto _ : state) {
    const auto& [wi, wo] = l.dense[i++ % l.dense.size()];
    benchmark::DoNotOptimize(at::linear(at::relu(at::linear(z, wi)), wo));
  }
  kb::BaselineTimes::Get().Record("dense/" + std::to_string(state.range(0)), kb::SecondsPerIter(state, t0));
}

void BM_DictExpert(benchmark::State& state) {
  const Layer& l = GetLayer();
  at::Tensor z = at::randn({state.range(0), kD});
  int64_t i = 0;
  const double t0 = kb::ThreadCpuSeconds();
  for (auto _ : state)
    benchmark::DoNotOptimize(l.dict->Forward(ExpertId{Stack::kEncoder, 1, i++ % l.dict_copies}, z));
  const double t = kb::SecondsPerIter(state, t0);
  const double base = kb::BaselineTimes::Get().Lookup("dense/" + std::to_string(state.range(0)), [] { return 0.0; });
  if (base > 0) state.counters["speedup_vs_dense_f32"] = base / t;
}

BENCHMARK(BM_DenseExpertF32)->Arg(1)->Arg(4)->Arg(16)->Arg(64)->Arg(256);
BENCHMARK(BM_DictExpert)->Arg(1)->Arg(4)->Arg(16)->Arg(64)->Arg(256);

}  // namespace
}  // namespace qmoe

BENCHMARK_MAIN();
