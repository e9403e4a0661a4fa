// The kernel ladder (dict_paths.h): the named paths and the row-parallel driver.
#include "kernels/dict_matvec/dict_paths.h"

#include <algorithm>
#include <string>
#include <thread>

#include "framework/core/error.h"
#include "kernels/dict_matvec/dict_internal.h"

namespace qmoe::kernels {

const std::vector<DictPath>& DictPaths() {
  static const std::vector<DictPath> paths = {
      {"scalar", CpuIsa::kScalar, kDictMaxBatch, dict_matvec::MatvecScalar},
      {"avx2", CpuIsa::kAvx2, kDictMaxBatch, dict_matvec::MatvecAvx2},
      {"avx512", CpuIsa::kAvx512, kDictMaxBatch, dict_matvec::MatvecAvx512},
  };
  return paths;
}

const DictPath& FindDictPath(std::string_view name) {
  std::string known;
  for (const DictPath& p : DictPaths()) {
    if (p.name == name) return p;
    known += known.empty() ? p.name : std::string(", ") + p.name;
  }
  throw Error("unknown dict kernel path '" + std::string(name) + "' (known: " + known + ")");
}

const DictPath& DefaultDictPath(CpuIsa isa, int64_t /*k*/) {
  switch (isa) {
    case CpuIsa::kAvx512: return FindDictPath("avx512");
    case CpuIsa::kAvx2: return FindDictPath("avx2");
    case CpuIsa::kScalar: break;
  }
  return FindDictPath("scalar");
}

namespace {
// Rows [r0, r1) of m as a matrix of their own (row_off entries stay absolute offsets into codes).
DictView RowRange(const DictView& m, int64_t r0, int64_t r1) {
  DictView v = m;
  v.rows = r1 - r0;
  v.row_off = m.row_off + r0;
  v.minmax = m.minmax + 2 * r0;
  return v;
}
}  // namespace

void DictMatvecBatchWith(const DictPath& p, const DictView& m, const uint32_t* dec, const Bf16* x,
                         int64_t k, float* y, int threads) {
  dict_matvec::CheckCall(m, dec, x, k, y, p.name);
  QMOE_CHECK(CpuSupports(p.isa), "dict kernel path '", p.name, "' needs ", CpuIsaName(p.isa),
             ", which this CPU lacks");
  QMOE_CHECK(k <= p.max_k, "dict kernel path '", p.name, "' takes k <= ", p.max_k, ", got ", k);
  QMOE_CHECK(threads >= 1, "dict kernel path '", p.name, "': threads = ", threads, " (expected >= 1)");
  const int64_t stride = (m.cols + 32 + 15) / 16 * 16;
  thread_local std::vector<float> xbuf;
  xbuf.assign(size_t(stride * k + 16), 0.0f);
  float* xpad = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(xbuf.data()) + 63) &
                                         ~uintptr_t{63});
  for (int64_t j = 0; j < k; ++j)
    for (int64_t c = 0; c < m.cols; ++c) xpad[j * stride + c] = Bf16ToFloat(x[j * m.cols + c]);
  const int64_t parts = std::clamp<int64_t>(threads, 1, std::max<int64_t>(m.rows, 1));
  if (parts == 1) return p.fn(m, dec, xpad, stride, k, y);
  // Each range writes its own rows of every token: y[j][r0..r1) through a per-range buffer.
  std::vector<std::vector<float>> ys(static_cast<size_t>(parts));
  std::vector<std::thread> pool;
  auto run = [&](int64_t t) {
    const int64_t r0 = m.rows * t / parts, r1 = m.rows * (t + 1) / parts;
    ys[size_t(t)].resize(size_t(k * (r1 - r0)));
    p.fn(RowRange(m, r0, r1), dec, xpad, stride, k, ys[size_t(t)].data());
    for (int64_t j = 0; j < k; ++j)
      std::copy(ys[size_t(t)].begin() + j * (r1 - r0), ys[size_t(t)].begin() + (j + 1) * (r1 - r0),
                y + j * m.rows + r0);
  };
  for (int64_t t = 1; t < parts; ++t) pool.emplace_back(run, t);
  run(0);
  for (auto& th : pool) th.join();
}

}  // namespace qmoe::kernels
