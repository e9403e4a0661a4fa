#include "experiments/runtime/kernels_experiment.h"

#include "kernels/common/cache_info.h"
#include "kernels/common/cpu_time.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <vector>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "kernels/common/dense_gemv.h"
#include "kernels/sub1_matvec/sub1_matvec.h"
#include "methods/dict/dict_codec.h"
#include "methods/dict/dictionary.h"
#include "methods/dict/iid_ternary.h"
#include "methods/rans/rans_codec.h"

namespace qmoe {
namespace {

namespace kk = qmoe::kernels;

using kernels::bench::CopiesToExceedCache;
using kernels::bench::LastLevelCacheBytes;
using kernels::bench::ThreadCpuSeconds;

std::vector<int64_t> ParseInts(const std::string& text, const std::string& key, int64_t lo, int64_t hi) {
  std::vector<int64_t> out;
  for (const std::string& part : Split(text, ',')) {
    const std::string t = Trim(part);
    if (t.empty()) continue;
    char* end = nullptr;
    const long long v = std::strtoll(t.c_str(), &end, 10);
    QMOE_CHECK(end && *end == 0 && v >= lo && v <= hi, "experiment.", key, ": '", t, "' is not an integer in [", lo,
               ", ", hi, "]");
    out.push_back(v);
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> ParseShapes(const std::string& text) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const std::string& part : Split(text, ',')) {
    const std::string t = Trim(part);
    if (t.empty()) continue;
    const auto rc = Split(t, 'x');
    QMOE_CHECK(rc.size() == 2, "experiment.shapes: '", t, "' is not RxC (e.g. 768x3072)");
    const auto r = ParseInts(rc[0], "shapes", 1, 1 << 20), c = ParseInts(rc[1], "shapes", 1, 1 << 20);
    QMOE_CHECK(r.size() == 1 && c.size() == 1, "experiment.shapes: '", t, "' is not RxC (e.g. 768x3072)");
    out.emplace_back(r[0], c[0]);
  }
  QMOE_CHECK(!out.empty(), "experiment.shapes is empty");
  return out;
}

std::string CpuName() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return "cpu:" + Trim(line.substr(p + 1));
    }
  return "cpu";
}

// Median over `repeats` passes of the per-call thread-CPU seconds. A pass makes `calls` calls on
// consecutive copies of a ring of `copies`, continuing where the previous pass stopped, so a copy
// is touched again only after the whole ring (> the last-level cache) has been: every call reads
// its weights from DRAM, while short passes keep the run time independent of the ring size.
// Thread CPU time, as the kernel benchmarks use: on a shared machine wall time also counts other
// processes.
double MedianPerCall(int64_t copies, int64_t repeats, int64_t calls, const std::function<void(int64_t)>& fn) {
  int64_t cursor = 0;
  auto pass = [&] {
    for (int64_t c = 0; c < calls; ++c, cursor = (cursor + 1) % copies) fn(cursor);
  };
  pass();  // warm-up
  std::vector<double> t;
  for (int64_t r = 0; r < repeats; ++r) {
    const double a = ThreadCpuSeconds();
    pass();
    t.push_back((ThreadCpuSeconds() - a) / double(calls));
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

// One encoded matrix copied `n` times into one buffer each for codes/row_off/minmax.
struct Sub1Copies {
  std::vector<uint16_t> codes;
  std::vector<int32_t> row_off;
  std::vector<kk::Bf16> minmax;
  int64_t rows = 0, cols = 0, ncodes = 0;
  kk::Sub1Matrix View(int64_t i) const {
    return kk::Sub1Matrix{rows, cols, codes.data() + i * ncodes, ncodes, row_off.data() + i * (rows + 1),
                          minmax.data() + i * 2 * rows};
  }
};

}  // namespace

void KernelsExperiment::Run(RunContext& ctx) {
  const auto shapes = ParseShapes(p_.shapes);
  const auto batches = ParseInts(p_.batches, "batches", 1, kk::kDenseGemvMaxBatch);
  QMOE_CHECK(!batches.empty(), "experiment.batches is empty");
  const auto gemm_batches = ParseInts(p_.gemm_batches, "gemm_batches", 1, 1 << 16);
  const uint32_t* dec = dict::DecodeTable().data();
  kk::Sub1ValidateDecodeTable(dec);
  const kk::CpuIsa isa = kk::BestCpuIsa();
  const std::string sub1_name = StrCat("sub1_matvec_", kk::CpuIsaName(isa));
  const std::string device = CpuName();
  const int64_t llc = LastLevelCacheBytes();
  ctx.Metric("last_level_cache_bytes", double(llc), "bytes");
  const double H = dict::ModelEntropyBits(p_.p0);
  for (size_t si = 0; si < shapes.size(); ++si) {
    const auto [rows, cols] = shapes[si];
    const std::string shape = StrCat(rows, "x", cols);
    MetricLabels lab;
    lab.matrix = shape;
    // The matrix and its codecs (§8.9 rates against bf16; the entropy limit 16/H(p0)).
    const std::vector<float> w = dict::RandomTernaryMatrix(rows, cols, p_.p0, 1000 + si);
    const dict::TernarySymbols sym = dict::SymbolsFromTernary(w.data(), rows, cols, dict::SymbolMode::kReference, shape);
    const dict::EncodedMatrix enc = dict::Encode(sym);
    const rans::RansMatrix rn = rans::Encode(sym);
    const double weights = double(rows) * double(cols);
    const double dict_bytes = double(dict::ExactBytes(enc));
    ctx.Metric("rate_dict", 16.0 * weights / (8.0 * dict_bytes), "x", lab);
    ctx.Metric("rate_dict_ideal", dict::ReferenceIdealRate(rows, cols, int64_t(enc.codes.size())), "x", lab);
    ctx.Metric("rate_rans", 16.0 * weights / double(rans::StorageBits(rn)), "x", lab);
    ctx.Metric("rate_entropy_limit", 16.0 / H, "x", lab);
    ctx.Metric("rate_entropy_empirical", 16.0 / dict::EmpiricalEntropy(sym).pair_bits, "x", lab);
    // Whole-matrix decode to fp32, the two codecs on the same matrix (Validate included; the
    // encoded input is small, the 4 bytes/weight of output dominate the memory traffic).
    {
      std::vector<float> out(static_cast<size_t>(weights));
      const int64_t decode_calls = std::max<int64_t>(1, p_.calls / 8);
      const double t_dict = MedianPerCall(1, p_.repeats, decode_calls, [&](int64_t) { dict::Decode(enc, out.data()); });
      const double t_rans = MedianPerCall(1, p_.repeats, decode_calls, [&](int64_t) { rans::Decode(rn, out.data()); });
      ctx.Metric("decode_dict_gweights_per_s", weights / t_dict / 1e9, "Gweights/s", lab);
      ctx.Metric("decode_rans_gweights_per_s", weights / t_rans / 1e9, "Gweights/s", lab);
      ctx.Metric("decode_rans_vs_dict", t_dict / t_rans, "x", lab);
      ctx.Metric("rans_streams", double(rn.streams), "", lab);
      std::cout << "codecs " << shape << ": dict " << 16.0 * weights / (8.0 * dict_bytes) << "x at "
                << weights / t_dict / 1e9 << " Gweights/s decode, rans " << 16.0 * weights / double(rans::StorageBits(rn))
                << "x at " << weights / t_rans / 1e9 << " Gweights/s (" << t_dict / t_rans << "x dict's speed, "
                << rn.streams << " streams)\n";
    }

    // Copies to cycle over: each kernel's own storage must exceed the cache, so each gets its count.
    Sub1Copies sc;
    sc.rows = rows, sc.cols = cols, sc.ncodes = int64_t(enc.codes.size());
    const int64_t n_sub1 = CopiesToExceedCache(int64_t(dict_bytes), p_.cache_factor);
    for (int64_t i = 0; i < n_sub1; ++i) {
      sc.codes.insert(sc.codes.end(), enc.codes.begin(), enc.codes.end());
      sc.row_off.insert(sc.row_off.end(), enc.row_off.begin(), enc.row_off.end());
      for (uint16_t b : enc.minmax_bf16) sc.minmax.push_back(kk::Bf16{b});
    }
    std::vector<float> wf(static_cast<size_t>(weights));
    dict::Decode(enc, wf.data());  // dense baselines multiply the same weights
    const int64_t n_f32 = CopiesToExceedCache(int64_t(weights) * 4, p_.cache_factor);
    const int64_t n_bf16 = CopiesToExceedCache(int64_t(weights) * 2, p_.cache_factor);
    std::vector<float> f32(size_t(weights) * size_t(n_f32));
    for (int64_t i = 0; i < n_f32; ++i) std::copy(wf.begin(), wf.end(), f32.begin() + i * int64_t(weights));
    std::vector<kk::Bf16> b16(size_t(weights) * size_t(n_bf16));
    for (int64_t i = 0; i < n_bf16; ++i)
      for (int64_t j = 0; j < int64_t(weights); ++j) b16[size_t(i * int64_t(weights) + j)] = kk::FloatToBf16(wf[size_t(j)]);

    const int64_t kmax = std::max<int64_t>(*std::max_element(batches.begin(), batches.end()),
                                           gemm_batches.empty() ? 1 : *std::max_element(gemm_batches.begin(), gemm_batches.end()));
    std::vector<kk::Bf16> xb(size_t(kmax * cols));
    std::vector<float> xf(size_t(kmax * cols));
    for (int64_t i = 0; i < kmax * cols; ++i) {
      xb[size_t(i)] = kk::FloatToBf16(float(std::sin(0.37 * double(i))));
      xf[size_t(i)] = kk::Bf16ToFloat(xb[size_t(i)]);
    }
    std::vector<float> yf(size_t(kmax * rows));
    std::vector<kk::Bf16> yb(size_t(kmax * rows));
    for (int64_t k : batches) {
      const double t_bf16 = MedianPerCall(n_bf16, p_.repeats, p_.calls, [&](int64_t i) {
        kk::DenseGemvBf16(b16.data() + i * int64_t(weights), rows, cols, xf.data(), k, yf.data());
      });
      const double t_f32 = MedianPerCall(n_f32, p_.repeats, p_.calls, [&](int64_t i) {
        kk::DenseGemvF32(f32.data() + i * int64_t(weights), rows, cols, xf.data(), k, yf.data());
      });
      const double t_sub1 = MedianPerCall(n_sub1, p_.repeats, p_.calls, [&](int64_t i) {
        kk::Sub1MatvecBatch(sc.View(i), dec, xb.data(), k, yb.data(), isa);
      });
      auto row = [&](const std::string& kernel, double sec, double bytes, const std::string& base, double base_sec) {
        KernelTiming t;
        t.kernel = kernel, t.device = device, t.rows = rows, t.cols = cols, t.batch = k, t.seconds = sec;
        t.gbytes_per_s = bytes / sec / 1e9;
        t.weights_per_s = weights / sec;
        t.baseline = base;
        t.ratio = base.empty() ? 1.0 : base_sec / sec;
        ctx.Timing(t);
      };
      row("dense_bf16_gemv", t_bf16, weights * 2, "", 0);
      row("dense_f32_gemv", t_f32, weights * 4, "dense_bf16_gemv", t_bf16);
      row(sub1_name, t_sub1, dict_bytes, "dense_bf16_gemv", t_bf16);
      std::cout << "kernels " << shape << " k=" << k << ": dense bf16 " << t_bf16 * 1e3 << " ms, fp32 " << t_f32 * 1e3
                << " ms, " << sub1_name << " " << t_sub1 * 1e3 << " ms (" << t_bf16 / t_sub1 << "x vs bf16, "
                << t_f32 / t_sub1 << "x vs fp32)\n";
    }
    // Sub1Experts' two forms above 16 tokens on the first shape: the batch kernel in groups of 16
    // against decompress to fp32 + one GEMM (at::matmul, the path Sub1Experts takes above its threshold).
    if (si == 0) {
      for (int64_t n : gemm_batches) {
        const double t_chunk = MedianPerCall(n_sub1, p_.repeats, p_.calls, [&](int64_t i) {
          for (int64_t t0 = 0; t0 < n; t0 += kk::kSub1MaxBatch)
            kk::Sub1MatvecBatch(sc.View(i), dec, xb.data() + t0 * cols, std::min(kk::kSub1MaxBatch, n - t0),
                                yb.data() + t0 * rows, isa);
        });
        at::Tensor x = at::from_blob(xf.data(), {n, cols}, at::kFloat);
        at::Tensor wd = at::empty({rows, cols}, at::kFloat);
        const double t_gemm = MedianPerCall(n_sub1, p_.repeats, p_.calls, [&](int64_t i) {
          kk::Sub1Decompress(sc.View(i), dec, wd.data_ptr<float>(), isa);
          at::Tensor y = at::matmul(x, wd.t());
        });
        KernelTiming t;
        t.device = device, t.rows = rows, t.cols = cols, t.batch = n;
        t.kernel = "sub1_decompress_gemm", t.seconds = t_gemm, t.gbytes_per_s = dict_bytes / t_gemm / 1e9;
        t.weights_per_s = weights / t_gemm, t.baseline = sub1_name + "_chunked16", t.ratio = t_chunk / t_gemm;
        ctx.Timing(t);
        t.kernel = sub1_name + "_chunked16", t.seconds = t_chunk, t.gbytes_per_s = dict_bytes / t_chunk / 1e9;
        t.weights_per_s = weights / t_chunk, t.baseline = "", t.ratio = 1.0;
        ctx.Timing(t);
        std::cout << "kernels " << shape << " n=" << n << ": chunked batch kernel " << t_chunk * 1e3
                  << " ms, decompress+GEMM " << t_gemm * 1e3 << " ms\n";
      }
    }
  }
}

}  // namespace qmoe
