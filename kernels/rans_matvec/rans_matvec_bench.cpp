// Benchmark: the fused rANS kernel against the dictionary kernel (kernels/dict_matvec, the peer a
// user would otherwise serve from) on the same weights encoded both ways: i.i.d. ternary at
// p0 = 0.885 (dict_test::RandomTernary), the paper's six expert shapes, batches k = 1 and 8, 1 and
// 2 threads. Every iteration uses the next of N copies of each format, N chosen so the copies
// exceed 1.25x the last-level cache, so codes stream from DRAM.
// Clock: process CPU time per call (all threads), as the other kernel benchmarks use CPU time: on a
// shared machine wall time also counts other processes (wall_us is printed beside it). With 2
// threads it is the total work, so weights/s there is per CPU-second, and the ratio compares work.
// Counters: weights/s (G weights per CPU-second), bits/weight (stored bits / weights), cpu_us and
// wall_us (medians per call), and on rans rows rans_per_dict = rans median / dict median (< 1:
// rans is faster), the dict row of the same shape, k and threads running just before it.
// QMOE_RANS_PATH=<name> times that rans path (RansPaths(): scalar, avx2, avx512, avx512_bf16)
// instead of the default; QMOE_CPU_ISA caps the dict kernel's path and the default rans path.
#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common/bench.h"
#include "kernels/dict_matvec/dict_paths.h"
#include "kernels/rans_matvec/rans_matvec.h"
#include "kernels/rans_matvec/rans_test_data.h"

namespace qmoe::kernels {
namespace {

namespace bench = qmoe::kernels::bench;
constexpr double kP0 = 0.885;
constexpr int kUnique = 4;  // distinct matrices; the copies repeat them at new addresses

struct Shape {
  int64_t h, w;
};
const Shape kShapes[] = {{768, 3072}, {3072, 768}, {1024, 4096}, {4096, 1024}, {2080, 6144}, {6144, 2080}};

std::string Key(const Shape& s, int64_t k, int threads) {
  return std::to_string(s.h) + "x" + std::to_string(s.w) + "/k" + std::to_string(k) + "/t" + std::to_string(threads);
}

struct ShapeData {
  int64_t h = 0, w = 0;
  std::vector<dict_test::TestMatrix> dict;  // owning, one per copy
  std::vector<rans::RansMatrix> rans;
  double dict_bits = 0, rans_bits = 0;  // per weight
};

ShapeData& DataFor(const Shape& s) {
  static std::unique_ptr<ShapeData> d;
  if (d && d->h == s.h && d->w == s.w) return *d;
  d.reset();
  d = std::make_unique<ShapeData>();
  d->h = s.h, d->w = s.w;
  std::vector<dict_test::TestMatrix> unique;
  std::vector<rans::RansMatrix> unique_rans;
  for (int u = 0; u < kUnique; ++u) {
    unique.push_back(dict_test::RandomTernary(s.h, s.w, kP0, 100 + u, /*adversarial=*/false));
    unique_rans.push_back(rans_test::ToRans(unique.back()));
  }
  const double n = double(s.h * s.w);
  // dict storage: 16 bits per codeword + 32-bit row offsets + bf16 min and max per row.
  d->dict_bits = (16.0 * double(unique[0].codes.size()) + 32.0 * double(s.h + 1) + 32.0 * double(s.h)) / n;
  d->rans_bits = double(rans::StorageBits(unique_rans[0])) / n;
  const int nd = bench::CopiesToExceedCache(int64_t(d->dict_bits * n / 8), 1.25);
  const int nr = bench::CopiesToExceedCache(int64_t(d->rans_bits * n / 8), 1.25);
  for (int i = 0; i < nd; ++i) {
    dict_test::TestMatrix m;
    const auto& src = unique[size_t(i % kUnique)];
    m.rows = src.rows, m.cols = src.cols, m.codes = src.codes, m.row_off = src.row_off, m.minmax = src.minmax;
    d->dict.push_back(std::move(m));
  }
  for (int i = 0; i < nr; ++i) d->rans.push_back(unique_rans[size_t(i % kUnique)]);
  return *d;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double Median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// Times one call: sets the iteration time to its process CPU seconds, records CPU and wall seconds.
template <class F>
void TimeCall(benchmark::State& state, std::vector<double>& cpu, std::vector<double>& wall, F&& fn) {
  const double c0 = ProcessCpuSeconds(), w0 = WallSeconds();
  fn();
  const double c = ProcessCpuSeconds() - c0, w = WallSeconds() - w0;
  state.SetIterationTime(c);
  cpu.push_back(c), wall.push_back(w);
}

void BM_Dict(benchmark::State& state, Shape s, int64_t k, int threads) {
  ShapeData& d = DataFor(s);
  const uint32_t* dec = dict_test::DecodeTable().data();
  const auto x = dict_test::RandomBf16(k * s.w, 7);
  std::vector<float> y(size_t(k * s.h));
  const DictPath& path = DefaultDictPath(BestCpuIsa(), k);
  std::vector<double> cpu, wall;
  size_t i = 0;
  for (auto _ : state) {
    TimeCall(state, cpu, wall, [&] { DictMatvecBatchWith(path, d.dict[i].View(), dec, x.data(), k, y.data(), threads); });
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % d.dict.size();
  }
  bench::BaselineTimes::Get().Record(Key(s, k, threads), Median(cpu));
  state.counters["cpu_us"] = Median(cpu) * 1e6;
  state.counters["wall_us"] = Median(wall) * 1e6;
  bench::SetRateCounters(state, d.dict_bits * double(s.h * s.w) / 8, double(s.h * s.w));
  state.counters["bits/weight"] = d.dict_bits;
  state.counters["copies"] = double(d.dict.size());
  state.SetLabel(path.name);
}

void BM_Rans(benchmark::State& state, Shape s, int64_t k, int threads) {
  ShapeData& d = DataFor(s);
  const auto x = dict_test::RandomBf16(k * s.w, 7);
  std::vector<float> y(size_t(k * s.h));
  const char* named = std::getenv("QMOE_RANS_PATH");  // any path of the ladder by name, to re-measure a choice
  const RansPath& path = named && *named ? FindRansPath(named) : DefaultRansPath(BestCpuIsa());
  std::vector<double> cpu, wall;
  size_t i = 0;
  for (auto _ : state) {
    TimeCall(state, cpu, wall, [&] { RansMatvecBatchWith(path, d.rans[i], x.data(), k, y.data(), threads); });
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % d.rans.size();
  }
  const double t_rans = Median(cpu);
  state.counters["cpu_us"] = t_rans * 1e6;
  state.counters["wall_us"] = Median(wall) * 1e6;
  const double t_dict = bench::BaselineTimes::Get().Lookup(Key(s, k, threads), [&] { return 0.0; });
  bench::SetRateCounters(state, d.rans_bits * double(s.h * s.w) / 8, double(s.h * s.w));
  state.counters["bits/weight"] = d.rans_bits;
  state.counters["copies"] = double(d.rans.size());
  if (t_dict > 0) state.counters["rans_per_dict"] = t_rans / t_dict;
  state.SetLabel(path.name);
}

void RegisterAll() {
  for (const Shape& s : kShapes)
    for (int64_t k : {1, 8})
      for (int threads : {1, 2}) {
        const std::string key = Key(s, k, threads);
        benchmark::RegisterBenchmark(("dict/" + key).c_str(), BM_Dict, s, k, threads)
            ->UseManualTime()->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("rans/" + key).c_str(), BM_Rans, s, k, threads)
            ->UseManualTime()->Unit(benchmark::kMicrosecond);
      }
}

}  // namespace
}  // namespace qmoe::kernels

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  qmoe::kernels::RegisterAll();
  benchmark::AddCustomContext("llc_bytes", std::to_string(qmoe::kernels::bench::LastLevelCacheBytes()));
  benchmark::AddCustomContext("cpu_isa", qmoe::kernels::CpuIsaName(qmoe::kernels::BestCpuIsa()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
