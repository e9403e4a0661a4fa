// Public fast entry points: O(1) checks, x -> zero-padded fp32 scratch, ISA dispatch, y store.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "codecs/dict/dict_codec.h"
#include "framework/core/error.h"
#include "kernels/dict_matvec/dict_internal.h"
#include "kernels/dict_matvec/dict_matvec.h"
#include "kernels/dict_matvec/dict_paths.h"

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
void MatvecImpl(const DictView& m, const uint32_t* dec, const X* x, int64_t k, Y* y,
                CpuIsa isa, std::string_view where) {
  dict_matvec::CheckCall(m, dec, x, k, y, where);
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
  DefaultDictPath(isa, k).fn(m, dec, xpad, stride, k, yout);  // the measured best (dict_paths.cpp)
  if constexpr (!std::is_same_v<Y, float>)
    for (int64_t i = 0; i < k * m.rows; ++i) y[i] = FloatToBf16(yout[i]);
}

template <class Out>
void DecompressImpl(const DictView& m, const uint32_t* dec, Out* out, CpuIsa isa) {
  dict::ValidateShape(m, "DictDecompress");
  QMOE_CHECK(dec != nullptr, "DictDecompress: dec is null");
  QMOE_CHECK(out != nullptr || m.rows * m.cols == 0, "DictDecompress: out is null (expected [",
             m.rows, "][", m.cols, "])");
  Checked(isa, "DictDecompress");
  if constexpr (std::is_same_v<Out, float>) {
    if (isa != CpuIsa::kAvx512) return dict::DecodeRows(m, dec, 0, m.rows, out);  // the codec's decoder
  }
  thread_local std::vector<float> row;
  row.resize(size_t(m.cols));
  for (int64_t r = 0; r < m.rows; ++r) {
    float* dst;
    if constexpr (std::is_same_v<Out, float>) dst = out + r * m.cols;
    else dst = row.data();
    if (isa == CpuIsa::kAvx512) dict_matvec::DecompressRowAvx512(m, dec, r, dst);
    else dict::DecodeRows(m, dec, r, r + 1, dst);
    if constexpr (!std::is_same_v<Out, float>) {  // exact: decoded values are bf16 levels or 0
      if (isa == CpuIsa::kAvx512) dict_matvec::TruncateToBf16Avx512(dst, m.cols, out + r * m.cols);
      else for (int64_t c = 0; c < m.cols; ++c) out[r * m.cols + c] = FloatToBf16(dst[c]);
    }
  }
}

}  // namespace

void DictDecompress(const DictView& m, const uint32_t* dec, float* out, CpuIsa isa) {
  DecompressImpl(m, dec, out, isa);
}
void DictDecompress(const DictView& m, const uint32_t* dec, Bf16* out, CpuIsa isa) {
  DecompressImpl(m, dec, out, isa);
}

void DictMatvec(const DictView& m, const uint32_t* dec, const Bf16* x, Bf16* y, CpuIsa isa) {
  MatvecImpl(m, dec, x, 1, y, isa, "DictMatvec");
}
void DictMatvec(const DictView& m, const uint32_t* dec, const Bf16* x, float* y, CpuIsa isa) {
  MatvecImpl(m, dec, x, 1, y, isa, "DictMatvec");
}
void DictMatvec(const DictView& m, const uint32_t* dec, const float* x, float* y, CpuIsa isa) {
  MatvecImpl(m, dec, x, 1, y, isa, "DictMatvec");
}

void DictMatvecBatch(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, Bf16* y,
                     CpuIsa isa) {
  MatvecImpl(m, dec, x, k, y, isa, "DictMatvecBatch");
}
void DictMatvecBatch(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, float* y,
                     CpuIsa isa) {
  MatvecImpl(m, dec, x, k, y, isa, "DictMatvecBatch");
}
void DictMatvecBatch(const DictView& m, const uint32_t* dec, const float* x, int64_t k,
                     float* y, CpuIsa isa) {
  MatvecImpl(m, dec, x, k, y, isa, "DictMatvecBatch");
}

}  // namespace qmoe::kernels
