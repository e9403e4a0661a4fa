// Every codec of the table at the paper's six expert shapes (i.i.d. ternary, p0 = 0.885): decode
// throughput of each decoder this CPU runs (weights/s, Validate included) and rate, with each
// codec's ratios to dict printed after the run; also the published check rates (±0.3) of the
// dict "ideal rate" at all six shapes.
//   build/<dir>/codecs/codec_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "codecs/codec_bench_cases.h"

namespace {

using qmoe::codecs::BenchCase;
using qmoe::codecs::BenchShape;

struct CheckedShape {
  BenchShape shape;
  double check_rate;  // the dict "ideal rate" the reference reports for an i.i.d. matrix
};
const CheckedShape kShapes[] = {{{2080, 6144}, 21.44}, {{6144, 2080}, 20.86}, {{768, 3072}, 21.07},
                                {{3072, 768}, 19.34},  {{1024, 4096}, 21.29}, {{4096, 1024}, 19.94}};

std::string Name(const BenchShape& s) { return std::to_string(s.rows) + "x" + std::to_string(s.cols); }

// Captures CPU seconds per iteration by benchmark name, for the ratio table (single-threaded
// decoders on a shared machine: CPU time is the stable measure).
class Capture : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> seconds;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (r.run_type == Run::RT_Iteration && r.error_occurred == false)
        seconds[r.benchmark_name()] = r.GetAdjustedCPUTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
    ConsoleReporter::ReportRuns(runs);
  }
};

// Per shape: every case's rate and decode speed, over dict's, and the dict check rate.
bool PrintTable(const std::vector<BenchCase>& cases, const Capture& rep) {
  std::printf("\nrates are compression ratios vs bf16 (16 bits/weight); i.i.d. ternary p0 = 0.885, seed 1\n");
  std::printf("%-10s %-24s %8s %10s %8s %8s\n", "shape", "case", "rate", "Mw/s", "speed", "size");
  bool all_ok = true;
  for (const CheckedShape& cs : kShapes) {
    const std::string shape = Name(cs.shape);
    const double n = double(cs.shape.rows * cs.shape.cols);
    const BenchCase* dict = nullptr;
    for (const BenchCase& c : cases)
      if (c.name == "dict_decode/" + shape) dict = &c;
    auto mws = [&](const BenchCase& c) {
      auto it = rep.seconds.find(c.name);
      return it == rep.seconds.end() ? 0.0 : n / it->second / 1e6;
    };
    for (const BenchCase& c : cases) {
      if (c.rows != cs.shape.rows || c.cols != cs.shape.cols) continue;
      const double speed = dict && mws(*dict) > 0 ? mws(c) / mws(*dict) : 0.0;
      const double size = dict ? c.storage_bits / dict->storage_bits : 0.0;
      std::printf("%-10s %-24s %8.2f %10.1f %7.2fx %7.3fx\n", shape.c_str(), c.name.substr(0, c.name.find('/')).c_str(),
                  16 * n / c.storage_bits, mws(c), speed, size);
    }
    if (dict && dict->metrics.count("rate_dict_ideal")) {
      const double ref = dict->metrics.at("rate_dict_ideal");
      const bool ok = std::abs(ref - cs.check_rate) <= 0.3;
      all_ok = all_ok && ok;
      std::printf("%-10s dict reference \"ideal rate\" %.2f, check %.2f%s\n", shape.c_str(), ref, cs.check_rate,
                  ok ? "" : "  OUTSIDE ±0.3");
    }
  }
  std::printf("speed = decode throughput over dict's (CPU time); size = exact bits over dict's (0 = not run)\n");
  return all_ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<BenchShape> shapes;
  for (const CheckedShape& cs : kShapes) shapes.push_back(cs.shape);
  const std::vector<BenchCase> cases = qmoe::codecs::DecodeBenchCases(qmoe::codecs::Codecs(), shapes);
  for (const BenchCase& c : cases) {
    benchmark::RegisterBenchmark(c.name.c_str(), [&c](benchmark::State& st) {
      for (auto _ : st) c.run();
      st.SetItemsProcessed(st.iterations() * c.rows * c.cols);
    })->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Capture rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  PrintTable(cases, rep);
  return 0;
}
