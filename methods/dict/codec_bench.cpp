// dict vs rans at the paper's six expert shapes (i.i.d. ternary, p0 = 0.885): decode throughput
// (weights/s, Validate included) and rate, with the rans/dict ratios printed after the run; also
// the §8.9 check rates (±0.3) of the dict "ideal rate" at all six shapes.
//   build/<dir>/methods/dict/codec_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "methods/dict/dict_codec.h"
#include "methods/dict/iid_ternary.h"
#include "methods/rans/rans_codec.h"

namespace qmoe::dict {
namespace {

struct Shape {
  int64_t rows, cols;
  double check_rate;  // §8.9
};
const Shape kShapes[] = {{2080, 6144, 21.44}, {6144, 2080, 20.86}, {768, 3072, 21.07},
                         {3072, 768, 19.34},  {1024, 4096, 21.29}, {4096, 1024, 19.94}};

struct Encoded {
  EncodedMatrix dict;
  rans::RansMatrix rans;                       // the default (auto) stream count
  std::map<int, rans::RansMatrix> by_streams;  // the variants timed beside it
  Entropy entropy;
};
const int kVariantStreams[] = {4, 8, 16};

const Encoded& Get(const Shape& s) {
  static std::map<int64_t, std::unique_ptr<Encoded>> cache;
  auto& e = cache[s.rows * 100000 + s.cols];
  if (!e) {
    const auto w = RandomTernaryMatrix(s.rows, s.cols, 0.885, 1);
    const TernarySymbols sym = SymbolsFromTernary(w.data(), s.rows, s.cols, SymbolMode::kReference);
    e = std::make_unique<Encoded>(Encoded{Encode(sym), rans::Encode(sym), {}, EmpiricalEntropy(sym)});
    for (int streams : kVariantStreams)
      e->by_streams[streams] = rans::Encode(sym, rans::kDefaultChunkWeights, streams);
  }
  return *e;
}

std::string Name(const Shape& s) { return std::to_string(s.rows) + "x" + std::to_string(s.cols); }

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

}  // namespace
}  // namespace qmoe::dict

int main(int argc, char** argv) {
  using namespace qmoe::dict;
  for (const Shape& s : kShapes) {
    benchmark::RegisterBenchmark(("dict_decode/" + Name(s)).c_str(), [s](benchmark::State& st) {
      const Encoded& e = Get(s);
      std::vector<float> out(static_cast<size_t>(s.rows * s.cols));
      for (auto _ : st) {
        Decode(e.dict, out.data());
        benchmark::DoNotOptimize(out.data());
      }
      st.SetItemsProcessed(st.iterations() * s.rows * s.cols);
    })->Unit(benchmark::kMillisecond);
    // rans_decode: the default format and decoder; _scalar, _avx2: the other paths on the same
    // stream; rans_sN: other stream counts (4 = method version 1).
    using qmoe::rans::DecodePath;
    auto rans_bench = [s](const std::string& name, int streams, DecodePath path) {
      if (!qmoe::rans::DecodePathAvailable(path)) return;
      benchmark::RegisterBenchmark((name + "/" + Name(s)).c_str(), [s, streams, path](benchmark::State& st) {
        const Encoded& e = Get(s);
        const qmoe::rans::RansMatrix& m = streams == 0 ? e.rans : e.by_streams.at(streams);
        std::vector<float> out(static_cast<size_t>(s.rows * s.cols));
        for (auto _ : st) {
          qmoe::rans::Decode(m, out.data(), path);
          benchmark::DoNotOptimize(out.data());
        }
        st.SetItemsProcessed(st.iterations() * s.rows * s.cols);
      })->Unit(benchmark::kMillisecond);
    };
    rans_bench("rans_decode", 0, DecodePath::kAuto);
    rans_bench("rans_decode_scalar", 0, DecodePath::kScalar);
    rans_bench("rans_decode_avx2", 0, DecodePath::kAvx2);
    for (int streams : kVariantStreams)
      rans_bench("rans_s" + std::to_string(streams) + "_decode", streams, DecodePath::kAuto);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Capture rep;
  benchmark::RunSpecifiedBenchmarks(&rep);

  std::printf("\nrates are compression ratios vs bf16 (16 bits/weight); i.i.d. ternary p0 = 0.885, seed 1\n");
  std::printf("%-10s %8s %6s %9s %9s %9s %9s | %9s %9s %7s %7s | %7s %7s %7s %7s %7s\n", "shape", "dict_ref", "check",
              "dict_exact", "rans", "rans_nomm", "entropy", "dict_Mw/s", "rans_Mw/s", "speed", "size", "scalar", "avx2",
              "s4", "s8", "s16");
  bool all_ok = true;
  for (const Shape& s : kShapes) {
    const Encoded& e = Get(s);
    const double n = double(s.rows * s.cols);
    const double ref_rate = ReferenceIdealRate(s.rows, s.cols, int64_t(e.dict.codes.size()));
    const double dict_bits = 8.0 * double(ExactBytes(e.dict)), rans_bits = double(qmoe::rans::StorageBits(e.rans));
    const bool ok = std::abs(ref_rate - s.check_rate) <= 0.3;
    all_ok = all_ok && ok;
    auto mws = [&](const std::string& key) {
      auto it = rep.seconds.find(key + "/" + Name(s));
      return it == rep.seconds.end() ? 0.0 : n / it->second / 1e6;
    };
    const double d = mws("dict_decode"), r = mws("rans_decode");
    auto vs_dict = [&](const std::string& key) { return d > 0 ? mws(key) / d : 0.0; };
    std::printf("%-10s %8.2f %6.2f%s %9.2f %9.2f %9.2f %9.2f | %9.1f %9.1f %6.2fx %6.3fx | %6.2fx %6.2fx %6.2fx %6.2fx %6.2fx\n",
                Name(s).c_str(), ref_rate, s.check_rate, ok ? " " : "!", 16 * n / dict_bits, 16 * n / rans_bits,
                16 * n / (rans_bits - 32.0 * double(s.rows)), 16.0 / e.entropy.pair_bits, d, r, d > 0 ? r / d : 0.0,
                rans_bits / dict_bits, vs_dict("rans_decode_scalar"), vs_dict("rans_decode_avx2"),
                vs_dict("rans_s4_decode"), vs_dict("rans_s8_decode"), vs_dict("rans_s16_decode"));
  }
  std::printf("dict_ref = the reference's ideal-rate formula (§8.9, check ±0.3%s); rans_nomm excludes the per-row\n"
              "min/max; entropy = empirical pair entropy (no side info); speed = rans/dict decode throughput (CPU time,\n"
              "default format (auto streams: 32 here), fastest path); size = rans/dict exact bits; then decode\n"
              "throughput over dict of the default format on the scalar and AVX2 paths, and of 4 (method version 1),\n"
              "8 and 16 streams (0 = not run)\n",
              all_ok ? ": all within" : ": '!' = OUTSIDE");
  return 0;
}
