// Benchmark: the dict fused decode+matvec, every CPU path of the kernel ladder (dict_paths.h) this
// CPU supports, against the best dense baselines a user could pick instead, at the paper's six
// expert shapes, batches k = 1, 2, 4, 8 and 1 or 2 threads:
// - openblas_sgemv (k = 1) / openblas_sgemm (k > 1): fp32 OpenBLAS, the library LibTorch loads,
//   with its thread count set per benchmark (kernels/common/openblas.h);
// - bf16_gemv: our memory-bound bf16 GEMV (kernels/common/bf16_gemv.h), with its % of the
//   measured read bandwidth (stream_% column).
// Matrices are i.i.d. ternary at p0 = 0.885 encoded with the real dictionary; every iteration
// uses the next of N copies ("experts"), N chosen so the copies of each format exceed 1.25x the
// last-level cache read from the machine, so weights stream from DRAM.
// Time column: thread CPU time per call for 1 thread, wall clock for 2 (manual time, cpu_time.h).
// Counters: bytes/s (stored bytes of W per second), weights/s (h*w per second); dict rows also
// vs_dense = fastest dense baseline of the same shape, k and threads / this time (> 1: dict is
// faster; the label names that baseline), vs_sgemv or vs_sgemm, vs_bf16.
// The header (stdout, and the JSON context) names the CPU, ISA (and QMOE_CPU_ISA cap), OpenBLAS
// core, LLC and STREAM read bandwidth at 1 and 2 threads.
// With a GPU: dict CUDA vs cuBLAS bf16 (cublasGemmEx) at the same shapes, cycling over copies
// that exceed 2x the L2 size.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common/bench.h"
#include "kernels/common/bf16_gemv.h"
#include "kernels/common/cuda_device.h"
#include "kernels/common/openblas.h"
#include "kernels/common/stream_probe.h"
#include "kernels/dict_matvec/dict_matvec.h"
#include "kernels/dict_matvec/dict_paths.h"
#include "kernels/dict_matvec/dict_test_data.h"

#if QMOE_HAVE_CUDA
#include "kernels/common/cuda_buffer.h"
#include "kernels/dict_matvec/dict_matvec_cuda.h"
#endif

namespace qmoe::kernels {
namespace {

namespace bench = qmoe::kernels::bench;
constexpr double kP0 = 0.885;
constexpr int kUnique = 4;  // distinct encoded experts; copies repeat them at new addresses
const int kThreads[] = {1, 2};
const int64_t kBatches[] = {1, 2, 4, 8};

struct Shape {
  int64_t h, w;
};
const Shape kShapes[] = {{768, 3072}, {3072, 768}, {1024, 4096},
                         {4096, 1024}, {2080, 6144}, {6144, 2080}};

std::string Key(const std::string& variant, int64_t h, int64_t w, int64_t k, int threads) {
  return variant + "/" + std::to_string(h) + "x" + std::to_string(w) + "/k" + std::to_string(k) + "/t" +
         std::to_string(threads);
}

// STREAM read bandwidth (GB/s) per thread count, measured once before the benchmarks.
double& StreamGBs(int threads) {
  static double gbs[3] = {0, 0, 0};
  return gbs[threads];
}

// All copies of one shape, built on first use and kept until the next shape is asked for.
struct ShapeData {
  int64_t h = 0, w = 0;
  std::vector<dict_test::TestMatrix> unique;
  // dict copies: arena per field, views into it.
  std::vector<uint16_t> codes;
  std::vector<int32_t> row_off;
  std::vector<Bf16> minmax;
  std::vector<DictView> views;
  int64_t dict_bytes = 0;  // stored bytes of one matrix: 2*codes + 4*(h+1) + 4*h
  std::vector<Bf16> dense_bf16;
  std::vector<float> dense_f32;
  int copies_bf16 = 0, copies_f32 = 0;
};

ShapeData& DataFor(int64_t h, int64_t w) {
  static std::unique_ptr<ShapeData> d;
  if (d && d->h == h && d->w == w) return *d;
  d.reset();  // free the previous shape first
  d = std::make_unique<ShapeData>();
  d->h = h, d->w = w;
  for (int u = 0; u < kUnique; ++u)
    d->unique.push_back(dict_test::RandomTernary(h, w, kP0, 100 + u, /*adversarial=*/false));
  int64_t max_codes = 0;
  for (auto& m : d->unique) max_codes = std::max<int64_t>(max_codes, int64_t(m.codes.size()));
  d->dict_bytes = 2 * max_codes + 8 * h + 4;
  const int n = bench::CopiesToExceedCache(d->dict_bytes, 1.25);
  d->codes.resize(size_t(n * max_codes));
  d->row_off.resize(size_t(n * (h + 1)));
  d->minmax.resize(size_t(n * 2 * h));
  for (int i = 0; i < n; ++i) {
    const auto& m = d->unique[i % kUnique];
    std::memcpy(&d->codes[i * max_codes], m.codes.data(), m.codes.size() * 2);
    std::memcpy(&d->row_off[i * (h + 1)], m.row_off.data(), size_t(h + 1) * 4);
    std::memcpy(&d->minmax[i * 2 * h], m.minmax.data(), size_t(2 * h) * 2);
    d->views.push_back(DictView{h, w, &d->codes[i * max_codes], int64_t(m.codes.size()),
                                  &d->row_off[i * (h + 1)], &d->minmax[i * 2 * h]});
  }
  std::vector<float> dense(size_t(h * w));
  DictDecompress(d->unique[0].View(), dict_test::DecodeTable().data(), dense.data());
  d->copies_bf16 = bench::CopiesToExceedCache(2 * h * w, 1.25);
  d->copies_f32 = bench::CopiesToExceedCache(4 * h * w, 1.25);
  d->dense_bf16.resize(size_t(d->copies_bf16 * h * w));
  d->dense_f32.resize(size_t(d->copies_f32 * h * w));
  for (int64_t e = 0; e < h * w; ++e) d->dense_bf16[e] = FloatToBf16(dense[e]);
  for (int i = 1; i < d->copies_bf16; ++i)
    std::memcpy(&d->dense_bf16[i * h * w], d->dense_bf16.data(), size_t(h * w) * 2);
  for (int i = 0; i < d->copies_f32; ++i)
    std::memcpy(&d->dense_f32[i * h * w], dense.data(), size_t(h * w) * 4);
  return *d;
}

std::vector<float> RandomX(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  const auto b = dict_test::RandomBf16(n, 7);
  for (int64_t i = 0; i < n; ++i) x[i] = Bf16ToFloat(b[i]);
  return x;
}

// The dense baselines, each over its own ring of copies: call(copy, x, k, y) on `threads` threads.
enum class Dense { kOpenBlas, kBf16 };
const char* DenseName(Dense b, int64_t k) { return b == Dense::kBf16 ? "bf16_gemv" : OpenBlas::KernelName(k); }

void CallDense(Dense b, ShapeData& d, int copy, const float* x, int64_t k, float* y, int threads) {
  const int64_t n = d.h * d.w;
  if (b == Dense::kBf16) return Bf16Gemv(&d.dense_bf16[copy * n], d.h, d.w, x, k, y, threads);
  OpenBlas::Get()->Gemm(&d.dense_f32[copy * n], d.h, d.w, x, k, y);  // threads: set by the caller
}

int DenseCopies(Dense b, const ShapeData& d) { return b == Dense::kBf16 ? d.copies_bf16 : d.copies_f32; }

// Median seconds per call (clock of `threads`, cpu_time.h) of `fn(i)` over consecutive copies i.
template <class F>
double MedianOverCopies(int copies, int threads, F&& fn) {
  int i = 0;
  fn(i), i = (i + 1) % copies;  // warm-up
  std::vector<double> t(25);
  for (auto& s : t) {
    const double a = bench::ClockSeconds(threads);
    fn(i), i = (i + 1) % copies;
    s = bench::ClockSeconds(threads) - a;
  }
  std::nth_element(t.begin(), t.begin() + 12, t.end());
  return t[12];
}

// Seconds per call of baseline `b` recorded by its benchmark in this run, or measured now (when a
// --benchmark_filter left it out).
double DenseSeconds(Dense b, const Shape& s, int64_t k, int threads) {
  return bench::BaselineTimes::Get().Lookup(Key(DenseName(b, k), s.h, s.w, k, threads), [&] {
    ShapeData& d = DataFor(s.h, s.w);
    const auto x = RandomX(k * s.w);
    std::vector<float> y(size_t(k * s.h));
    if (b == Dense::kOpenBlas) OpenBlas::Get()->SetThreads(threads);
    return MedianOverCopies(DenseCopies(b, d), threads,
                            [&](int c) { CallDense(b, d, c, x.data(), k, y.data(), threads); });
  });
}

void BM_Dense(benchmark::State& state, Shape s, Dense b) {
  const int64_t k = state.range(0);
  const int threads = int(state.range(1));
  ShapeData& d = DataFor(s.h, s.w);
  const auto x = RandomX(k * s.w);
  std::vector<float> y(size_t(k * s.h));
  const int copies = DenseCopies(b, d);
  if (b == Dense::kOpenBlas) OpenBlas::Get()->SetThreads(threads);
  int i = 0;
  double total = 0;
  for (auto _ : state) {
    const double t0 = bench::ClockSeconds(threads);
    CallDense(b, d, i, x.data(), k, y.data(), threads);
    benchmark::DoNotOptimize(y.data());
    const double t = bench::ClockSeconds(threads) - t0;
    state.SetIterationTime(t);
    total += t;
    i = (i + 1) % copies;
  }
  const double sec = total / double(std::max<benchmark::IterationCount>(state.iterations(), 1));
  bench::BaselineTimes::Get().Record(Key(DenseName(b, k), s.h, s.w, k, threads), sec);
  const double bytes = (b == Dense::kBf16 ? 2.0 : 4.0) * double(s.h * s.w);
  bench::SetRateCounters(state, bytes, double(s.h * s.w));
  if (b == Dense::kBf16) {
    state.counters["stream_%"] = 100.0 * bytes / sec / 1e9 / StreamGBs(threads);
    state.SetLabel(CpuIsaName(BestCpuIsa()));
  } else {
    state.SetLabel(OpenBlas::Get()->CoreName());
  }
  state.counters["copies"] = copies;
}

// One dict path of the ladder, threads row ranges (DictMatvecBatchWith), y in fp32.
void BM_DictPath(benchmark::State& state, Shape s, const DictPath* p) {
  const int64_t k = state.range(0);
  const int threads = int(state.range(1));
  ShapeData& d = DataFor(s.h, s.w);
  const uint32_t* dec = dict_test::DecodeTable().data();
  const auto xb = dict_test::RandomBf16(k * s.w, 7);
  std::vector<float> y(size_t(k * s.h));
  const int n = int(d.views.size());
  int i = 0;
  double total = 0;
  for (auto _ : state) {
    const double t0 = bench::ClockSeconds(threads);
    DictMatvecBatchWith(*p, d.views[i], dec, xb.data(), k, y.data(), threads);
    benchmark::DoNotOptimize(y.data());
    const double t = bench::ClockSeconds(threads) - t0;
    state.SetIterationTime(t);
    total += t;
    i = (i + 1) % n;
  }
  const double t = total / double(std::max<benchmark::IterationCount>(state.iterations(), 1));
  bench::SetRateCounters(state, double(d.dict_bytes), double(s.h * s.w));
  const double tb = DenseSeconds(Dense::kBf16, s, k, threads);
  std::string best = "bf16_gemv";
  double tbest = tb;
  if (OpenBlas::Get()) {
    const double to = DenseSeconds(Dense::kOpenBlas, s, k, threads);
    state.counters[k == 1 ? "vs_sgemv" : "vs_sgemm"] = to / t;
    if (to < tb) tbest = to, best = OpenBlas::KernelName(k);
  }
  state.counters["vs_bf16"] = tb / t;
  state.counters["vs_dense"] = tbest / t;
  state.counters["copies"] = n;
  state.SetLabel("vs_dense: " + best);
}

void BM_DictK16(benchmark::State& state, Shape s) {
  constexpr int64_t k = 16;
  ShapeData& d = DataFor(s.h, s.w);
  const uint32_t* dec = dict_test::DecodeTable().data();
  const auto x = dict_test::RandomBf16(k * s.w, 7);
  std::vector<Bf16> y(size_t(k * s.h));
  const int n = int(d.views.size());
  int i = 0;
  for (auto _ : state) {
    DictMatvecBatch(d.views[i], dec, x.data(), k, y.data());
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % n;
  }
  bench::SetRateCounters(state, double(d.dict_bytes), double(s.h * s.w));
}

// DictDecompress to dense bf16 (the fixed cost of the decompress-then-GEMM route for large
// batches): compare with dict k=16 to place the batch threshold.
void BM_DictDecompress(benchmark::State& state, Shape s) {
  ShapeData& d = DataFor(s.h, s.w);
  const uint32_t* dec = dict_test::DecodeTable().data();
  std::vector<Bf16> out(size_t(s.h * s.w));
  const int n = int(d.views.size());
  int i = 0;
  for (auto _ : state) {
    DictDecompress(d.views[i], dec, out.data());
    benchmark::DoNotOptimize(out.data());
    i = (i + 1) % n;
  }
  bench::SetRateCounters(state, double(d.dict_bytes), double(s.h * s.w));
}

#if QMOE_HAVE_CUDA
// GPU: dict vs cuBLAS bf16. Each iteration launches on `kLaunches` successive copies and
// synchronises once; manual time is per launch.
constexpr int kLaunches = 16;

struct GpuData {
  int64_t h = 0, w = 0;
  std::vector<DeviceBuffer<uint16_t>> codes;
  std::vector<DeviceBuffer<int32_t>> row_off;
  std::vector<DeviceBuffer<Bf16>> minmax, dense;
  std::vector<DictView> views;
  DeviceBuffer<uint32_t> dec;
};

GpuData& GpuDataFor(int64_t h, int64_t w) {
  static std::unique_ptr<GpuData> g;
  if (g && g->h == h && g->w == w) return *g;
  g.reset();
  g = std::make_unique<GpuData>();
  g->h = h, g->w = w;
  ShapeData& d = DataFor(h, w);
  constexpr int64_t kL2Bytes = int64_t{50} << 20;  // H100 L2; 2x is used below
  const int n = std::max<int>(kLaunches, int(2 * kL2Bytes / d.dict_bytes) + 1);
  for (int i = 0; i < n; ++i) {
    const auto& m = d.unique[i % kUnique];
    g->codes.emplace_back(m.codes);
    g->row_off.emplace_back(m.row_off);
    g->minmax.emplace_back(m.minmax);
    g->views.push_back(DictView{h, w, g->codes.back().data(), int64_t(m.codes.size()),
                                  g->row_off.back().data(), g->minmax.back().data()});
  }
  const int nd = std::max<int>(kLaunches, int(2 * kL2Bytes / (2 * h * w)) + 1);
  const std::vector<Bf16> dense(d.dense_bf16.begin(), d.dense_bf16.begin() + h * w);
  for (int i = 0; i < nd; ++i) g->dense.emplace_back(dense);
  g->dec = DeviceBuffer<uint32_t>(dict_test::DecodeTable());
  return *g;
}

void BM_CudaDict(benchmark::State& state, Shape s) {
  const int64_t k = state.range(0);
  GpuData& g = GpuDataFor(s.h, s.w);
  DeviceBuffer<Bf16> x(dict_test::RandomBf16(k * s.w, 7)), y(size_t(k * s.h));
  int i = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int l = 0; l < kLaunches; ++l, i = (i + 1) % int(g.views.size()))
      DictMatvecCuda(g.views[i], g.dec.data(), x.data(), k, y.data());
    CudaSynchronize();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / kLaunches);
  }
  bench::SetRateCounters(state, double(DataFor(s.h, s.w).dict_bytes), double(s.h * s.w));
}

void BM_CublasBf16(benchmark::State& state, Shape s) {
  const int64_t k = state.range(0);
  GpuData& g = GpuDataFor(s.h, s.w);
  static CublasBf16Gemv cublas;
  DeviceBuffer<Bf16> x(dict_test::RandomBf16(k * s.w, 7)), y(size_t(k * s.h));
  int i = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int l = 0; l < kLaunches; ++l, i = (i + 1) % int(g.dense.size()))
      cublas.Run(g.dense[i].data(), s.h, s.w, x.data(), k, y.data());
    CudaSynchronize();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / kLaunches);
  }
  bench::SetRateCounters(state, 2.0 * s.h * s.w, double(s.h * s.w));
}
#endif

void RegisterAll() {
  const CpuIsa isa = BestCpuIsa();
  for (const Shape& s : kShapes) {
    const std::string shape = std::to_string(s.h) + "x" + std::to_string(s.w);
    auto args = [](benchmark::internal::Benchmark* b, bool k1, bool kmore, int64_t max_k) {
      b->ArgNames({"k", "threads"});
      for (int t : kThreads)
        for (int64_t k : kBatches)
          if (k <= max_k && ((k == 1 && k1) || (k > 1 && kmore))) b->Args({k, t});
      b->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.2);
    };
    // Baselines first: the dict rows read their times from BaselineTimes.
    if (OpenBlas::Get()) {
      args(benchmark::RegisterBenchmark(("openblas_sgemv/" + shape).c_str(), BM_Dense, s, Dense::kOpenBlas),
           true, false, 8);
      args(benchmark::RegisterBenchmark(("openblas_sgemm/" + shape).c_str(), BM_Dense, s, Dense::kOpenBlas),
           false, true, 8);
    }
    args(benchmark::RegisterBenchmark(("bf16_gemv/" + shape).c_str(), BM_Dense, s, Dense::kBf16), true, true, 8);
    for (const DictPath& p : DictPaths())
      if (CpuSupports(p.isa) && p.isa <= isa)
        args(benchmark::RegisterBenchmark(("dict_" + std::string(p.name) + "/" + shape).c_str(), BM_DictPath, s, &p),
             true, true, p.max_k);
    // k = 16: time only (the dense baselines are timed up to k = 8).
    benchmark::RegisterBenchmark(("dict_k16/" + shape).c_str(), BM_DictK16, s)
        ->Unit(benchmark::kMicrosecond)->MinTime(0.2);
    benchmark::RegisterBenchmark(("dict_decompress_bf16/" + shape).c_str(), BM_DictDecompress, s)
        ->Unit(benchmark::kMicrosecond)->MinTime(0.2);
#if QMOE_HAVE_CUDA
    if (CudaDeviceCount() > 0) {
      benchmark::RegisterBenchmark(("cuda_cublas_bf16/" + shape).c_str(), BM_CublasBf16, s)
          ->ArgName("k")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("cuda_dict/" + shape).c_str(), BM_CudaDict, s)
          ->ArgName("k")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
#endif
  }
}

}  // namespace
}  // namespace qmoe::kernels

int main(int argc, char** argv) {
  qmoe::kernels::MaybeReexecForBetterOpenBlasCore(argv);  // as the qmoe CLI does (openblas.h)
  benchmark::Initialize(&argc, argv);
  namespace kk = qmoe::kernels;
  const kk::bench::LlcInfo llc = kk::bench::LastLevelCache();
  const std::string cap = kk::CpuIsaCap();
  const kk::OpenBlas* blas = kk::OpenBlas::Get();
  const std::string core = blas ? blas->CoreName() + " (" + blas->path() + ")" : "none (no OpenBLAS found)";
  for (int t : kk::kThreads) kk::StreamGBs(t) = kk::ReadBandwidthGBs(t, kk::ReadBandwidthBytes());
  std::string paths;
  for (const kk::DictPath& p : kk::DictPaths())
    if (kk::CpuSupports(p.isa) && p.isa <= kk::BestCpuIsa()) paths += (paths.empty() ? "" : ", ") + std::string(p.name);
  std::printf("cpu: %s\nisa: %s%s\nthreads: 1, 2 (time: 1 thread = thread CPU time, 2 = wall clock)\n"
              "openblas core: %s\nllc: %lld MiB (%s); weights cycled past 1.25x of it\n"
              "stream read: %.2f GB/s (1 thread), %.2f GB/s (2 threads)\ndict paths: %s\n\n",
              kk::CpuModelName().c_str(), kk::CpuIsaName(kk::BestCpuIsa()),
              cap.empty() ? "" : (" (QMOE_CPU_ISA=" + cap + ")").c_str(), core.c_str(),
              static_cast<long long>(llc.bytes >> 20), llc.source.c_str(), kk::StreamGBs(1), kk::StreamGBs(2),
              paths.c_str());
  std::fflush(stdout);
  kk::RegisterAll();
  benchmark::AddCustomContext("cpu_model", kk::CpuModelName());
  benchmark::AddCustomContext("cpu_isa", kk::CpuIsaName(kk::BestCpuIsa()));
  benchmark::AddCustomContext("qmoe_cpu_isa_cap", cap);
  benchmark::AddCustomContext("openblas_core", core);
  benchmark::AddCustomContext("llc_bytes", std::to_string(llc.bytes));
  benchmark::AddCustomContext("llc_source", llc.source);
  benchmark::AddCustomContext("stream_gbs_t1", std::to_string(kk::StreamGBs(1)));
  benchmark::AddCustomContext("stream_gbs_t2", std::to_string(kk::StreamGBs(2)));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
