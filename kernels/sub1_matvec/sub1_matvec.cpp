// Public fast entry points: O(1) checks, x -> zero-padded fp32 scratch, ISA dispatch, y store.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "framework/core/error.h"
#include "kernels/sub1_matvec/sub1_internal.h"
#include "kernels/sub1_matvec/sub1_matvec.h"

namespace qmoe::kernels {
namespace {

// Pad past the row end: kernels read a 32-lane window at any column < cols.
constexpr int64_t kXPad = 32;

CpuIsa Checked(CpuIsa isa, std::string_view where) {
  QMOE_CHECK(CpuSupports(isa), where, ": CPU path '", CpuIsaName(isa),
             "' requested but this CPU does not support it (best: ", CpuIsaName(BestCpuIsa()), ")");
  return isa;
}

float ToFloat(float v) { return v; }
float ToFloat(Bf16 v) { return Bf16ToFloat(v); }

template <class X, class Y>
void MatvecImpl(const Sub1Matrix& m, const uint32_t* dec, const X* x, int64_t k, Y* y,
                CpuIsa isa, std::string_view where) {
  sub1::CheckCall(m, dec, x, k, y, where);
  Checked(isa, where);
  // Scratch is per thread so concurrent calls on different threads are safe.
  // Rows of 16-float multiples, 64-byte aligned (the batch kernels use aligned loads).
  thread_local std::vector<float> xbuf, yf;
  const int64_t stride = (m.cols + kXPad + 15) / 16 * 16;
  xbuf.assign(size_t(stride * k + 16), 0.0f);
  float* xpad = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(xbuf.data()) + 63) &
                                         ~uintptr_t{63});
  for (int64_t j = 0; j < k; ++j)
    for (int64_t c = 0; c < m.cols; ++c) xpad[j * stride + c] = ToFloat(x[j * m.cols + c]);
  float* yout;
  if constexpr (std::is_same_v<Y, float>) {
    yout = y;
  } else {
    yf.resize(size_t(k * m.rows));
    yout = yf.data();
  }
  switch (isa) {
    case CpuIsa::kAvx512: sub1::MatvecAvx512(m, dec, xpad, stride, k, yout); break;
    case CpuIsa::kAvx2: sub1::MatvecAvx2(m, dec, xpad, stride, k, yout); break;
    case CpuIsa::kScalar: sub1::MatvecScalar(m, dec, xpad, stride, k, yout); break;
  }
  if constexpr (!std::is_same_v<Y, float>)
    for (int64_t i = 0; i < k * m.rows; ++i) y[i] = FloatToBf16(yout[i]);
}

template <class Out>
void DecompressImpl(const Sub1Matrix& m, const uint32_t* dec, Out* out, CpuIsa isa) {
  sub1::CheckShape(m, "Sub1Decompress");
  QMOE_CHECK(dec != nullptr, "Sub1Decompress: dec is null");
  QMOE_CHECK(out != nullptr || m.rows * m.cols == 0, "Sub1Decompress: out is null (expected [",
             m.rows, "][", m.cols, "])");
  Checked(isa, "Sub1Decompress");
  thread_local std::vector<float> row;
  row.resize(size_t(m.cols));
  for (int64_t r = 0; r < m.rows; ++r) {
    float* dst;
    if constexpr (std::is_same_v<Out, float>) dst = out + r * m.cols;
    else dst = row.data();
    if (isa == CpuIsa::kAvx512) sub1::DecompressRowAvx512(m, dec, r, dst);
    else sub1::DecompressRowScalar(m, dec, r, dst);
    if constexpr (!std::is_same_v<Out, float>) {  // exact: decoded values are bf16 levels or 0
      if (isa == CpuIsa::kAvx512) sub1::TruncateToBf16Avx512(dst, m.cols, out + r * m.cols);
      else for (int64_t c = 0; c < m.cols; ++c) out[r * m.cols + c] = FloatToBf16(dst[c]);
    }
  }
}

}  // namespace

void Sub1Decompress(const Sub1Matrix& m, const uint32_t* dec, float* out, CpuIsa isa) {
  DecompressImpl(m, dec, out, isa);
}
void Sub1Decompress(const Sub1Matrix& m, const uint32_t* dec, Bf16* out, CpuIsa isa) {
  DecompressImpl(m, dec, out, isa);
}

void Sub1Matvec(const Sub1Matrix& m, const uint32_t* dec, const Bf16* x, Bf16* y, CpuIsa isa) {
  MatvecImpl(m, dec, x, 1, y, isa, "Sub1Matvec");
}
void Sub1Matvec(const Sub1Matrix& m, const uint32_t* dec, const Bf16* x, float* y, CpuIsa isa) {
  MatvecImpl(m, dec, x, 1, y, isa, "Sub1Matvec");
}
void Sub1Matvec(const Sub1Matrix& m, const uint32_t* dec, const float* x, float* y, CpuIsa isa) {
  MatvecImpl(m, dec, x, 1, y, isa, "Sub1Matvec");
}

void Sub1MatvecBatch(const Sub1Matrix& m, const uint32_t* dec, const Bf16* x, int64_t k, Bf16* y,
                     CpuIsa isa) {
  MatvecImpl(m, dec, x, k, y, isa, "Sub1MatvecBatch");
}
void Sub1MatvecBatch(const Sub1Matrix& m, const uint32_t* dec, const Bf16* x, int64_t k, float* y,
                     CpuIsa isa) {
  MatvecImpl(m, dec, x, k, y, isa, "Sub1MatvecBatch");
}
void Sub1MatvecBatch(const Sub1Matrix& m, const uint32_t* dec, const float* x, int64_t k,
                     float* y, CpuIsa isa) {
  MatvecImpl(m, dec, x, k, y, isa, "Sub1MatvecBatch");
}

}  // namespace qmoe::kernels
