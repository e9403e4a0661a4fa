// SwitchModel CPU benchmarks.
//  BM_Forward/<model>/<threads>: teacher-forced Forward tokens/s (encoder + decoder tokens) for a
//    tiny model (0) and a switch-base-8-shaped stack of 2+2 blocks (1), random fp32 weights, with
//    at::set_num_threads 1 and 2; the 1-thread run is the baseline and main() prints the ratio.
//  BM_StreamingPeakRss: writes a synthetic base-shaped checkpoint of ~2.5 GB (64 experts) to /tmp,
//    streams a forward block by block and reports the VmHWM growth against the largest block's
//    non-expert weights + one expert (the streaming target) and the checkpoint size; deletes it.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "framework/io/checkpoint.h"
#include "framework/model/random_weights.h"
#include "framework/model/switch_model.h"
#include "framework/model/switch_names.h"

namespace qmoe {
namespace {

SwitchConfig BenchConfig(int kind) {
  SwitchConfig c;  // switch-base-8 shape
  c.num_layers = 2, c.num_decoder_layers = 2;
  if (kind == 0) {
    c.name = "tiny", c.d_model = 64, c.d_ff = 128, c.num_heads = 4, c.d_kv = 16, c.num_experts = 8, c.vocab_size = 512;
  } else {
    c.name = "base8-2+2";
  }
  return c;
}

std::map<std::string, double> g_rate;  // "model/threads" -> tokens/s

void BM_Forward(benchmark::State& state) {
  const int kind = static_cast<int>(state.range(0)), threads = static_cast<int>(state.range(1));
  SwitchConfig c = BenchConfig(kind);
  SwitchModel m(c, std::make_shared<MapWeights>(RandomSwitchWeights(c, 0, at::kFloat)));
  const int64_t te = 128, td = 32;
  at::Tensor enc = at::randint(2, c.vocab_size, {1, te}, at::kLong), dec = at::randint(2, c.vocab_size, {1, td}, at::kLong);
  const int saved = at::get_num_threads();
  at::set_num_threads(threads);
  m.Forward(enc, dec);  // warm-up (weight casts cached)
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(m.Forward(enc, dec));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  at::set_num_threads(saved);
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>((te + td) * state.iterations()), benchmark::Counter::kIsRate);
  g_rate[std::to_string(kind) + "/" + std::to_string(threads)] =
      static_cast<double>((te + td) * state.iterations()) / secs;
}
BENCHMARK(BM_Forward)->ArgsProduct({{0, 1}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

int64_t VmHwmKiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  return -1;
}

void ResetHwm() { std::ofstream("/proc/self/clear_refs") << "5"; }  // resets VmHWM to the current RSS

void BM_StreamingPeakRss(benchmark::State& state) {
  namespace fs = std::filesystem;
  SwitchConfig c = BenchConfig(1);
  c.num_experts = 64;
  const fs::path dir = fs::temp_directory_path() / ("qmoe_model_bench_" + std::to_string(::getpid()));
  {
    // Every expert shares one pair of random tensors in memory (the file holds 64 copies).
    auto w = RandomSwitchWeights(BenchConfig(1), 0, at::kFloat);
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    at::Tensor wi = at::randn({c.d_ff, c.d_model}) / 28.0, wo = at::randn({c.d_model, c.d_ff}) / 55.0;
    for (const TensorShape& ts : SwitchTensorShapes(c)) {
      if (ts.is_expert) tensors.emplace_back(ts.name, ts.name.find(".wi.") != std::string::npos ? wi : wo);
      else if (w.count(ts.name) && ts.name.find("router") == std::string::npos) tensors.emplace_back(ts.name, w.at(ts.name));
      else tensors.emplace_back(ts.name, at::randn(ts.shape) / 28.0);  // routers for 64 experts
    }
    WriteCheckpoint(dir, tensors, CheckpointLayout::kSafetensorsSharded, 1'000'000'000ull);
    WriteHfConfig(c, dir);
  }
  uint64_t file_bytes = 0;
  for (const auto& e : fs::directory_iterator(dir)) file_bytes += fs::file_size(e.path());
  const double expert_mb = 2.0 * c.d_model * c.d_ff * 4 / 1e6;
  const double embed_mb = 1.0 * c.vocab_size * c.d_model * 4 / 1e6;
  const double block_mb = (4.0 * 3 * c.d_model * c.InnerDim() + c.num_experts * c.d_model) * 4 / 1e6;  // decoder attn + router
  at::Tensor enc = at::randint(2, c.vocab_size, {1, 128}, at::kLong), dec = at::randint(2, c.vocab_size, {1, 32}, at::kLong);
  for (auto _ : state) {
    auto m = SwitchModel::FromDirectory(dir.string(), ModelOptions{.stream = true});
    ResetHwm();
    const int64_t before = VmHwmKiB();
    benchmark::DoNotOptimize(m->Forward(enc, dec));
    const double grew_mb = (VmHwmKiB() - before) * 1024.0 / 1e6;
    state.counters["checkpoint_MB"] = file_bytes / 1e6;
    state.counters["peak_growth_MB"] = grew_mb;
    state.counters["target_MB"] = embed_mb + block_mb + expert_mb;
    std::printf("streaming: checkpoint %.0f MB, peak RSS growth %.0f MB, target (embedding %.0f + largest block's "
                "non-expert weights %.0f + one expert %.0f) %.0f MB, ratio growth/checkpoint %.3f\n",
                file_bytes / 1e6, grew_mb, embed_mb, block_mb, expert_mb, embed_mb + block_mb + expert_mb,
                grew_mb * 1e6 / file_bytes);
  }
  fs::remove_all(dir);
}
BENCHMARK(BM_StreamingPeakRss)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace qmoe

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  for (const char* k : {"0", "1"}) {
    auto a = qmoe::g_rate.find(std::string(k) + "/1"), b = qmoe::g_rate.find(std::string(k) + "/2");
    if (a != qmoe::g_rate.end() && b != qmoe::g_rate.end())
      std::printf("model %s: at::set_num_threads(2) / (1) throughput ratio = %.2f\n", k, b->second / a->second);
  }
  benchmark::Shutdown();
  return 0;
}
