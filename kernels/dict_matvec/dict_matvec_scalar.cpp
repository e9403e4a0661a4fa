// Portable fallback kernels (any CPU). Same indexing helpers as the reference, fp32 accumulation.
#include "codecs/dict/dict_format.h"
#include "kernels/dict_matvec/dict_internal.h"

namespace qmoe::kernels::dict_matvec {

void MatvecScalar(const DictView& m, const uint32_t* dec, const float* xpad, int64_t xstride,
                  int64_t k, float* y) {
  for (int64_t r = 0; r < m.rows; ++r) {
    const float mn = Bf16BitsToFloat(m.minmax[2 * r].bits);
    const float mx = Bf16BitsToFloat(m.minmax[2 * r + 1].bits);
    for (int64_t j = 0; j < k; ++j) {
      const float* x = xpad + j * xstride;
      float acc = 0.0f;
      int64_t col = 0;
      for (int64_t i = m.row_off[r]; i < m.row_off[r + 1]; ++i) {
        const uint32_t code = m.codes[i];
        const uint32_t width = EntryAdvance(dec[2 * code]);
        // Slots past an odd row end are 0 (validated) and x is zero-padded there.
        for (uint32_t t = 0; t < width; ++t)
          acc += Dequant(CodeSymbol(dec, code, t), mn, mx) * x[col + t];
        col += width;
      }
      y[j * m.rows + r] = acc;
    }
  }
}

}  // namespace qmoe::kernels::dict_matvec
