// GPTQ speed (Google Benchmark). Each benchmark measures its baseline in the same run and prints
// the ratio as a counter:
//   BM_BatchedVsLoop/threads: 16 experts [1024 x 256] with H [256, 256], one batched RunGptq vs
//     16 single-expert calls; counter speedup = loop_s / batched_s.
//   BM_OneExpert/rows/cols/threads: one expert at switch-base shapes; counters gptq_s, GFLOP/s
//     achieved (flops = r·c² for the updates + 4/3·c³ for chol, cholesky_inverse, chol) and
//     matmul_gflops of an fp32 [r, c] x [c, c] matmul timed alongside; ratio = gflops / matmul.
// The last argument is at::set_num_threads (OpenBLAS keeps its own 2 threads either way).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <chrono>
#include <functional>

#include "methods/gptq/gptq.h"

namespace qmoe::gptq {
namespace {

double Seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

at::Tensor Hessian(int64_t G, int64_t c) {
  at::Tensor X = at::randn({G, 2 * c, c});
  return at::bmm(X.transpose(1, 2), X);
}

GptqOptions Ternary() {
  GptqOptions o;
  o.grid.kind = grids::GridKind::kTernary;
  return o;
}

void BM_BatchedVsLoop(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  const int64_t G = 16, r = 1024, c = 256;
  at::manual_seed(0);
  at::Tensor W = at::randn({G, r, c}), H = Hessian(G, c);
  double batched = 0, loop = 0;
  for (auto _ : state) {
    batched += Seconds([&] { benchmark::DoNotOptimize(RunGptq(W, H, Ternary()).q.deq); });
    loop += Seconds([&] {
      for (int64_t e = 0; e < G; ++e)
        benchmark::DoNotOptimize(RunGptq(W.narrow(0, e, 1), H.narrow(0, e, 1), Ternary()).q.deq);
    });
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["batched_s"] = batched / n;
  state.counters["loop_s"] = loop / n;
  state.counters["speedup"] = loop / batched;
}
BENCHMARK(BM_BatchedVsLoop)->Arg(1)->Arg(2)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();

void BM_OneExpert(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1);
  at::set_num_threads(static_cast<int>(state.range(2)));
  at::manual_seed(0);
  at::Tensor W = at::randn({1, r, c}), H = Hessian(1, c);
  at::Tensor A = at::randn({r, c}), B = at::randn({c, c});
  double gptq = 0, mm = 0;
  for (auto _ : state) {
    gptq += Seconds([&] { benchmark::DoNotOptimize(RunGptq(W, H, Ternary()).q.deq); });
    mm += Seconds([&] { benchmark::DoNotOptimize(at::mm(A, B)); });
  }
  const double n = static_cast<double>(state.iterations());
  const double flops = double(r) * c * c + 4.0 / 3.0 * double(c) * c * c;
  state.counters["gptq_s"] = gptq / n;
  state.counters["gflops"] = flops * n / gptq / 1e9;
  state.counters["matmul_gflops"] = 2.0 * r * c * c * n / mm / 1e9;
  state.counters["ratio"] = state.counters["gflops"] / state.counters["matmul_gflops"];
}
BENCHMARK(BM_OneExpert)
    ->Args({768, 3072, 1})
    ->Args({768, 3072, 2})
    ->Args({3072, 768, 1})
    ->Args({3072, 768, 2})
    ->Unit(benchmark::kSecond)
    ->Iterations(2)
    ->UseRealTime();

}  // namespace
}  // namespace qmoe::gptq

BENCHMARK_MAIN();
