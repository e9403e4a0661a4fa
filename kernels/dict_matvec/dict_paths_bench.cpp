// Benchmark of the kernel ladder alone (dict_paths.h): every path this CPU supports, at the paper's
// six expert shapes, batch k in {1, 2, 4, 8, 16} and 1 or 2 threads, weights streamed from DRAM
// (N copies of each matrix, N chosen so they exceed 1.25x the last-level cache; each iteration
// takes the next copy). Wall time per call (the threads run concurrently), so run it on an idle
// machine. Counter weights/s = rows*cols per second (per call, not per token).
// For the comparison against OpenBLAS and the dense baselines use dict_matvec_bench.
//   dict_paths_bench --benchmark_filter='avx2_pairs/2080x6144/k1/t1' --benchmark_min_time=0.3
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common/bench.h"
#include "kernels/dict_matvec/dict_paths.h"
#include "kernels/dict_matvec/dict_test_data.h"

namespace qmoe::kernels {
namespace {

constexpr double kP0 = 0.885;
constexpr int kUnique = 4;

struct Shape {
  int64_t h, w;
};
const Shape kShapes[] = {{768, 3072}, {3072, 768}, {1024, 4096}, {4096, 1024}, {2080, 6144}, {6144, 2080}};

struct Copies {
  int64_t h = 0, w = 0;
  std::vector<uint16_t> codes;
  std::vector<int32_t> row_off;
  std::vector<Bf16> minmax;
  std::vector<DictView> views;
};

Copies& CopiesFor(int64_t h, int64_t w) {
  static std::unique_ptr<Copies> d;
  if (d && d->h == h && d->w == w) return *d;
  d.reset();
  d = std::make_unique<Copies>();
  d->h = h, d->w = w;
  std::vector<dict_test::TestMatrix> unique;
  int64_t max_codes = 0;
  for (int u = 0; u < kUnique; ++u) {
    unique.push_back(dict_test::RandomTernary(h, w, kP0, 100 + u, /*adversarial=*/false));
    max_codes = std::max<int64_t>(max_codes, int64_t(unique.back().codes.size()));
  }
  const int n = bench::CopiesToExceedCache(2 * max_codes + 8 * h + 4, 1.25);
  d->codes.resize(size_t(n * max_codes));
  d->row_off.resize(size_t(n * (h + 1)));
  d->minmax.resize(size_t(n * 2 * h));
  for (int i = 0; i < n; ++i) {
    const auto& m = unique[size_t(i % kUnique)];
    std::memcpy(&d->codes[size_t(i * max_codes)], m.codes.data(), m.codes.size() * 2);
    std::memcpy(&d->row_off[size_t(i * (h + 1))], m.row_off.data(), size_t(h + 1) * 4);
    std::memcpy(&d->minmax[size_t(i * 2 * h)], m.minmax.data(), size_t(2 * h) * 2);
    d->views.push_back(DictView{h, w, &d->codes[size_t(i * max_codes)], int64_t(m.codes.size()),
                                &d->row_off[size_t(i * (h + 1))], &d->minmax[size_t(i * 2 * h)]});
  }
  return *d;
}

void BM_Path(benchmark::State& state, const DictPath* p, Shape s, int64_t k, int threads) {
  Copies& d = CopiesFor(s.h, s.w);
  const uint32_t* dec = dict_test::DecodeTable().data();
  const std::vector<Bf16> x = dict_test::RandomBf16(k * s.w, 7);
  std::vector<float> y(size_t(k * s.h));
  size_t i = 0;
  for (auto _ : state) {
    DictMatvecBatchWith(*p, d.views[i], dec, x.data(), k, y.data(), threads);
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % d.views.size();
  }
  bench::SetRateCounters(state, 0.0, double(s.h * s.w));
  state.counters["copies"] = double(d.views.size());
}

const bool registered = [] {
  for (const Shape& s : kShapes)
    for (const DictPath& p : DictPaths()) {
      if (!CpuSupports(p.isa)) continue;
      for (int64_t k : {1, 2, 4, 8, 16})
        for (int t : {1, 2}) {
          const std::string name = std::string(p.name) + "/" + std::to_string(s.h) + "x" + std::to_string(s.w) +
                                   "/k" + std::to_string(k) + "/t" + std::to_string(t);
          benchmark::RegisterBenchmark(name.c_str(), BM_Path, &p, s, k, t)->UseRealTime()->Unit(benchmark::kMicrosecond);
        }
    }
  return true;
}();

}  // namespace
}  // namespace qmoe::kernels

BENCHMARK_MAIN();
