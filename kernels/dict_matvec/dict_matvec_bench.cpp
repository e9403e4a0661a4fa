// Benchmark: sub-1-bit fused decode+matvec vs dense GEMV at the paper's six expert shapes and
// batches 1, 2, 4, 8 (single thread). Matrices are i.i.d. ternary at p0 = 0.885 encoded with the
// real dictionary; every iteration uses the next of N copies ("experts"), N chosen so the copies
// of each format exceed 1.25x the last-level cache, so weights stream from DRAM.
// Baselines (own AVX-512 kernels, kernels/common/dense_gemv.h): dense bf16 and fp32 weights with
// fp32 x; the dict kernel takes bf16 x and writes bf16 y (its x conversion is inside its time).
// Counters: bytes/s (stored bytes of W per second), weights/s (h*w per second), and for dict
// vs_bf16 / vs_fp32 = baseline time / dict time (> 1: dict is faster).
// With a GPU: dict CUDA vs cuBLAS bf16 (cublasGemmEx) at the same shapes, cycling over copies
// that exceed 2x the L2 size.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common/bench.h"
#include "kernels/common/cuda_device.h"
#include "kernels/common/dense_gemv.h"
#include "kernels/dict_matvec/dict_matvec.h"
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

struct Shape {
  int64_t h, w;
};
const Shape kShapes[] = {{768, 3072}, {3072, 768}, {1024, 4096},
                         {4096, 1024}, {2080, 6144}, {6144, 2080}};

std::string Key(const char* variant, int64_t h, int64_t w, int64_t k) {
  return std::string(variant) + "/" + std::to_string(h) + "x" + std::to_string(w) + "/k" +
         std::to_string(k);
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
  for (int i = 0; i < d->copies_bf16; ++i)
    for (int64_t e = 0; e < h * w; ++e) d->dense_bf16[i * h * w + e] = FloatToBf16(dense[e]);
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

// One pass of `fn(copy index)` per iteration over the copies; returns seconds per call.
template <class F>
double TimeCopies(int copies, F&& fn) {
  int i = 0;
  return bench::MedianSeconds([&] { fn(i), i = (i + 1) % copies; }, 25);
}

// A dense GEMV baseline over its cycled copies: fp32 (4 bytes/weight) or bf16 (2).
void BM_Dense(benchmark::State& state, Shape s, bool bf16) {
  const int64_t k = state.range(0), n = s.h * s.w;
  ShapeData& d = DataFor(s.h, s.w);
  const auto x = RandomX(k * s.w);
  std::vector<float> y(size_t(k * s.h));
  const int copies = bf16 ? d.copies_bf16 : d.copies_f32;
  int i = 0;
  const double t0 = bench::ThreadCpuSeconds();
  for (auto _ : state) {
    if (bf16) DenseGemvBf16(&d.dense_bf16[i * n], s.h, s.w, x.data(), k, y.data());
    else DenseGemvF32(&d.dense_f32[i * n], s.h, s.w, x.data(), k, y.data());
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % copies;
  }
  bench::BaselineTimes::Get().Record(Key(bf16 ? "bf16" : "f32", s.h, s.w, k), bench::SecondsPerIter(state, t0));
  bench::SetRateCounters(state, (bf16 ? 2.0 : 4.0) * double(n), double(n));
  state.counters["copies"] = copies;
}

void BM_Dict(benchmark::State& state, Shape s) {
  const int64_t k = state.range(0);
  ShapeData& d = DataFor(s.h, s.w);
  const uint32_t* dec = dict_test::DecodeTable().data();
  const auto xf = RandomX(k * s.w);
  std::vector<Bf16> x(xf.size());
  for (size_t e = 0; e < xf.size(); ++e) x[e] = FloatToBf16(xf[e]);
  std::vector<Bf16> y(size_t(k * s.h));
  const int n = int(d.views.size());
  int i = 0;
  const double t0 = bench::ThreadCpuSeconds();
  for (auto _ : state) {
    if (k == 1) DictMatvec(d.views[i], dec, x.data(), y.data());
    else DictMatvecBatch(d.views[i], dec, x.data(), k, y.data());
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % n;
  }
  const double t = bench::SecondsPerIter(state, t0);
  auto& base = bench::BaselineTimes::Get();
  std::vector<float> yd(size_t(k * s.h));
  const double tb = base.Lookup(Key("bf16", s.h, s.w, k), [&] {
    return TimeCopies(d.copies_bf16, [&](int c) {
      DenseGemvBf16(&d.dense_bf16[c * s.h * s.w], s.h, s.w, xf.data(), k, yd.data());
    });
  });
  const double tf = base.Lookup(Key("f32", s.h, s.w, k), [&] {
    return TimeCopies(d.copies_f32, [&](int c) {
      DenseGemvF32(&d.dense_f32[c * s.h * s.w], s.h, s.w, xf.data(), k, yd.data());
    });
  });
  bench::SetRateCounters(state, double(d.dict_bytes), double(s.h * s.w));
  state.counters["vs_bf16"] = tb / t;
  state.counters["vs_fp32"] = tf / t;
  state.counters["copies"] = n;
  state.SetLabel(CpuIsaName(BestCpuIsa()));
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
  for (const Shape& s : kShapes) {
    const std::string shape = std::to_string(s.h) + "x" + std::to_string(s.w);
    // Baselines first: BM_Dict reads their times from BaselineTimes.
    benchmark::RegisterBenchmark(("dense_fp32/" + shape).c_str(), BM_Dense, s, false)
        ->ArgName("k")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("dense_bf16/" + shape).c_str(), BM_Dense, s, true)
        ->ArgName("k")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("dict/" + shape).c_str(), BM_Dict, s)
        ->ArgName("k")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMicrosecond);
    // k = 16: time only (the dense baselines stop at k = 8).
    benchmark::RegisterBenchmark(("dict_k16/" + shape).c_str(), BM_DictK16, s)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("dict_decompress_bf16/" + shape).c_str(), BM_DictDecompress, s)
        ->Unit(benchmark::kMicrosecond);
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
  benchmark::Initialize(&argc, argv);
  qmoe::kernels::RegisterAll();
  benchmark::AddCustomContext("llc_bytes", std::to_string(qmoe::kernels::bench::LastLevelCacheBytes()));
  benchmark::AddCustomContext("cpu_isa", qmoe::kernels::CpuIsaName(qmoe::kernels::BestCpuIsa()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
