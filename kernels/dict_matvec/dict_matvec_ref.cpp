// Reference forms: validate everything, decode each row to dense with the dict_format.h helpers,
// then plain dot products accumulated in fp64. Never optimised; the fast paths are tested
// against these.
#include <vector>

#include "codecs/dict/dict_codec.h"
#include "codecs/dict/dict_format.h"
#include "kernels/dict_matvec/dict_internal.h"
#include "kernels/dict_matvec/dict_matvec.h"

namespace qmoe::kernels {
namespace {

// Row r of W as dense fp32; columns past the row end (odd widths) are dropped.
void DecodeRowRef(const DictView& m, const uint32_t* dec, int64_t r, float* row) {
  const float mn = Bf16BitsToFloat(m.minmax[2 * r].bits);
  const float mx = Bf16BitsToFloat(m.minmax[2 * r + 1].bits);
  int64_t col = 0;
  for (int64_t i = m.row_off[r]; i < m.row_off[r + 1]; ++i) {
    const uint32_t code = m.codes[i];
    const uint32_t width = dict::EntryAdvance(dec[2 * code]);
    for (uint32_t t = 0; t < width; ++t)
      if (col + t < m.cols) row[col + t] = dict::Dequant(dict::CodeSymbol(dec, code, t), mn, mx);
    col += width;
  }
}

void ValidateAll(const DictView& m, const uint32_t* dec, std::string_view where) {
  dict::ValidateDecodeTable(dec);
  dict::Validate(m, dec, where);
}

float ToFloat(float v) { return v; }
float ToFloat(Bf16 v) { return Bf16ToFloat(v); }
void Store(double v, float* y) { *y = float(v); }
void Store(double v, Bf16* y) { *y = FloatToBf16(float(v)); }

template <class X, class Y>
void MatvecRefImpl(const DictView& m, const uint32_t* dec, const X* x, int64_t k, Y* y) {
  dict_matvec::CheckCall(m, dec, x, k, y, "DictMatvecRef");
  ValidateAll(m, dec, "DictMatvecRef");
  std::vector<float> row(m.cols);
  for (int64_t r = 0; r < m.rows; ++r) {
    DecodeRowRef(m, dec, r, row.data());
    for (int64_t j = 0; j < k; ++j) {
      double acc = 0;
      for (int64_t c = 0; c < m.cols; ++c) acc += double(row[c]) * double(ToFloat(x[j * m.cols + c]));
      Store(acc, &y[j * m.rows + r]);
    }
  }
}

}  // namespace

void DictDecompressRef(const DictView& m, const uint32_t* dec, float* out) {
  ValidateAll(m, dec, "DictDecompressRef");
  for (int64_t r = 0; r < m.rows; ++r) DecodeRowRef(m, dec, r, out + r * m.cols);
}

void DictMatvecRef(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, float* y) {
  MatvecRefImpl(m, dec, x, k, y);
}
void DictMatvecRef(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, Bf16* y) {
  MatvecRefImpl(m, dec, x, k, y);
}
void DictMatvecRef(const DictView& m, const uint32_t* dec, const float* x, int64_t k, float* y) {
  MatvecRefImpl(m, dec, x, k, y);
}

}  // namespace qmoe::kernels
