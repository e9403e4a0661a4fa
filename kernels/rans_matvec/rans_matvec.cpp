// The driver: checks, the deinterleaved x, chunk ranges per thread, and per chunk the loop that
// decodes a piece of pair symbols (rans::ChunkDecoder) and hands each finished block of rows to the
// path's row-block kernel while the symbols are still in L1. Also the scalar row-block kernel.
#include <algorithm>
#include <array>
#include <optional>
#include <cstring>
#include <exception>
#include <string>
#include <thread>

#include "framework/core/error.h"
#include "kernels/rans_matvec/rans_internal.h"
#include "kernels/rans_matvec/rans_matvec.h"

namespace qmoe::kernels {
namespace rans_matvec {

void RowsScalar(const uint8_t* pairs, int64_t np, int64_t nr, const uint16_t* minmax, const float* xd, int64_t xs,
                int64_t k, float* y, int64_t ystride) {
  for (int64_t i = 0; i < nr; ++i) {
    const float lev[3] = {0.0f, Bf16BitsToFloat(minmax[2 * i]), Bf16BitsToFloat(minmax[2 * i + 1])};
    float even[rans::kSymbols], odd[rans::kSymbols];
    for (int s = 0; s < rans::kSymbols; ++s) even[s] = lev[s % 3], odd[s] = lev[s / 3];
    const uint8_t* pr = pairs + i * np;
    for (int64_t j = 0; j < k; ++j) {
      const float *xe = xd + 2 * j * xs, *xo = xe + xs;
      float a = 0, b = 0;
      for (int64_t p = 0; p < np; ++p) a += even[pr[p]] * xe[p], b += odd[pr[p]] * xo[p];
      y[j * ystride + i] = a + b;
    }
  }
}

}  // namespace rans_matvec

namespace {

namespace rm = rans_matvec;

rm::RowsFn RowsOf(const RansPath& p) {
  if (p.bf16_dot) return rm::RowsAvx512Bf16;
  switch (p.isa) {
    case CpuIsa::kAvx512: return rm::RowsAvx512;
    case CpuIsa::kAvx2: return rm::RowsAvx2;
    case CpuIsa::kScalar: break;
  }
  return rm::RowsScalar;
}

// The codec decode path of a kernel path: its own ISA where the stream count allows (AVX-512 takes
// S = 16 or 32, AVX2 S = 8..32 in whole 8-lane vectors), else the next lower one.
rans::DecodePath DecodePathOf(CpuIsa isa, int streams) {
  if (isa == CpuIsa::kAvx512 && streams % 16 == 0) return rans::DecodePath::kAvx512;
  if (isa >= CpuIsa::kAvx2 && streams % 8 == 0) return rans::DecodePath::kAvx2;
  return rans::DecodePath::kScalar;
}

// Pair symbols decoded per piece and rows per block (a block is consumed at once): ~16 KiB of
// symbols, so a block's symbols and a panel of x share L1 (48 KiB here, 32 KiB on Zen 3).
constexpr int64_t kBlockSymbols = 16384;
constexpr int64_t kMaxBlockRows = 16;
constexpr int64_t kSlack = 64;  // the row kernels read up to 64 bytes past a block's last row

struct Call {
  const rans::RansMatrix& m;
  rm::RowsFn rows_fn;
  rans::DecodePath decode;
  const uint32_t* lut;
  const float* xd;
  int64_t xs, k;
  float* y;
  const std::string& what;
};

// One chunk being decoded: its decoder and the buffer of its rows' symbols not yet consumed.
struct Lane {
  std::optional<rans::ChunkDecoder> d;
  std::vector<uint8_t> buf;
  int64_t row = 0, have = 0;  // buf holds `have` symbols of the rows from `row` on
};

// Hands the lane's finished rows to the row-block kernel once there are block_rows of them (or the
// chunk is done), and keeps the partial row at the front of the buffer.
void Consume(const Call& c, Lane& l, int64_t np, int64_t block_rows) {
  const int64_t full = l.have / np;
  if (full == 0 || (full < block_rows && l.d->decoded() < l.d->symbols())) return;
  const rans::RansMatrix& m = c.m;
  if (m.cols % 2)  // an odd width's last pair holds only the last column
    for (int64_t i = 0; i < full; ++i)
      QMOE_CHECK(l.buf[size_t(i * np + np - 1)] < 3, c.what, ": row ", l.row + i,
                 " has a nonzero padding symbol after the last column");
  c.rows_fn(l.buf.data(), np, full, m.minmax_bf16.data() + 2 * l.row, c.xd, c.xs, c.k, c.y + l.row, m.rows);
  std::memmove(l.buf.data(), l.buf.data() + full * np, size_t(l.have - full * np));
  l.row += full, l.have -= full * np;
}

// Chunks [c0, c1) of the call, up to kMaxTogether chunks of equal length decoded in lockstep.
void RunChunks(const Call& c, int64_t c0, int64_t c1) {
  constexpr int kTogether = rans::ChunkDecoder::kMaxTogether;
  const rans::RansMatrix& m = c.m;
  const int64_t np = ternary::PairsPerRow(m.cols);
  const int64_t block_rows = std::clamp<int64_t>(kBlockSymbols / np, 1, std::min<int64_t>(kMaxBlockRows, m.chunk_rows));
  // Whole steps of S states per piece, except the chunk's last.
  const int64_t piece = std::max<int64_t>(m.streams, block_rows * np / m.streams * m.streams);
  thread_local std::array<Lane, kTogether> lanes;
  for (Lane& l : lanes)  // bytes past the symbols may hold anything (the row kernels multiply them by x = 0)
    if (l.buf.size() < size_t(block_rows * np + piece + kSlack)) l.buf.resize(size_t(block_rows * np + piece + kSlack));
  const int64_t last_full = m.rows % m.chunk_rows == 0 ? c1 : std::min(c1, rans::NumChunks(m.rows, m.chunk_rows) - 1);
  for (int64_t g0 = c0; g0 < c1;) {
    // A group: chunks of chunk_rows rows (equal symbol counts), or the matrix's shorter last chunk alone.
    const int64_t g1 = g0 < last_full ? std::min(last_full, g0 + kTogether) : g0 + 1;
    const int count = int(g1 - g0);
    rans::ChunkDecoder* ds[kTogether];
    uint8_t* out[kTogether];
    for (int i = 0; i < count; ++i) {
      Lane& l = lanes[size_t(i)];
      l.d.emplace(m, g0 + i, c.decode, c.lut, c.what);
      l.row = (g0 + i) * m.chunk_rows, l.have = 0;
      ds[i] = &*l.d;
    }
    while (ds[0]->decoded() < ds[0]->symbols()) {
      const int64_t n = std::min(piece, ds[0]->symbols() - ds[0]->decoded());
      for (int i = 0; i < count; ++i) out[i] = lanes[size_t(i)].buf.data() + lanes[size_t(i)].have;
      rans::ChunkDecoder::NextTogether(ds, out, count, n);
      for (int i = 0; i < count; ++i) {
        lanes[size_t(i)].have += n;
        Consume(c, lanes[size_t(i)], np, block_rows);
      }
    }
    for (int i = 0; i < count; ++i) ds[i]->Finish();
    g0 = g1;
  }
}

}  // namespace

const std::vector<RansPath>& RansPaths() {
  static const std::vector<RansPath> paths = {{"scalar", CpuIsa::kScalar},
                                              {"avx2", CpuIsa::kAvx2},
                                              {"avx512", CpuIsa::kAvx512},
                                              {"avx512_bf16", CpuIsa::kAvx512, true}};
  return paths;
}

bool RansPathAvailable(const RansPath& p) { return CpuSupports(p.isa) && (!p.bf16_dot || rm::HaveAvx512Bf16()); }

const RansPath& FindRansPath(std::string_view name) {
  std::string known;
  for (const RansPath& p : RansPaths()) {
    if (p.name == name) return p;
    known += known.empty() ? p.name : std::string(", ") + p.name;
  }
  throw Error("unknown rans kernel path '" + std::string(name) + "' (known: " + known + ")");
}

const RansPath& DefaultRansPath(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512: return RansPathAvailable(FindRansPath("avx512_bf16")) ? FindRansPath("avx512_bf16")
                                                                                : FindRansPath("avx512");
    case CpuIsa::kAvx2: return FindRansPath("avx2");
    case CpuIsa::kScalar: break;
  }
  return FindRansPath("scalar");
}

void RansMatvecBatchWith(const RansPath& p, const rans::RansMatrix& m, const Bf16* x, int64_t k, float* y,
                         int threads) {
  static const std::string what = "rans matrix";
  QMOE_CHECK(x != nullptr && y != nullptr, "rans kernel path '", p.name, "': x and y must not be null");
  QMOE_CHECK(k >= 1 && k <= kRansMaxBatch, "rans kernel path '", p.name, "': k must be in [1, ", kRansMaxBatch,
             "], got ", k);
  QMOE_CHECK(threads >= 1, "rans kernel path '", p.name, "': threads = ", threads, " (expected >= 1)");
  QMOE_CHECK(RansPathAvailable(p), "rans kernel path '", p.name, "' needs ", CpuIsaName(p.isa),
             p.bf16_dot ? " with AVX512_BF16" : "", ", which this CPU lacks");
  rans::Validate(m, what);
  const int64_t np = ternary::PairsPerRow(m.cols), xs = (np + 15) / 16 * 16 + 16;
  // x deinterleaved: token j's even columns at xd + 2j·xs, odd ones at xd + (2j+1)·xs, zero from np on.
  // (bf16_dot paths: token j's bf16 columns at xd + j·xs, as xs uint32 pairs, zero from cols on.)
  thread_local std::vector<float> xbuf;
  xbuf.assign(size_t(2 * k * xs + 16), 0.0f);
  float* xd = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(xbuf.data()) + 63) & ~uintptr_t{63});
  for (int64_t j = 0; j < k; ++j) {
    const Bf16* xj = x + j * m.cols;
    if (p.bf16_dot) {
      std::memcpy(xd + j * xs, xj, size_t(m.cols) * sizeof(Bf16));
      continue;
    }
    float *xe = xd + 2 * j * xs, *xo = xe + xs;
    for (int64_t c = 0; c + 1 < m.cols; c += 2) xe[c / 2] = Bf16ToFloat(xj[c]), xo[c / 2] = Bf16ToFloat(xj[c + 1]);
    if (m.cols % 2) xe[np - 1] = Bf16ToFloat(xj[m.cols - 1]);
  }
  const rans::DecodePath decode = DecodePathOf(p.isa, m.streams);
  const std::vector<uint32_t> lut = rans::SlotTable(m.freq);
  const Call call{m, RowsOf(p), decode, lut.data(), xd, xs, k, y, what};
  const int64_t chunks = rans::NumChunks(m.rows, m.chunk_rows);
  const int64_t parts = std::clamp<int64_t>(threads, 1, chunks);
  if (parts == 1) return RunChunks(call, 0, chunks);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(parts));
  auto run = [&](int64_t t) {
    try {
      RunChunks(call, chunks * t / parts, chunks * (t + 1) / parts);
    } catch (...) {
      errors[size_t(t)] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < parts; ++t) pool.emplace_back(run, t);
  run(0);
  for (auto& th : pool) th.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

void RansMatvecBatch(const rans::RansMatrix& m, const Bf16* x, int64_t k, float* y, int threads, CpuIsa isa) {
  RansMatvecBatchWith(DefaultRansPath(isa), m, x, k, y, threads);
}

}  // namespace qmoe::kernels
