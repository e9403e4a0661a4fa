// Portable fallback kernels (any CPU). Same indexing helpers as the reference, fp32 accumulation.
#include "kernels/sub1_matvec/sub1_decode.h"
#include "kernels/sub1_matvec/sub1_internal.h"

namespace qmoe::kernels::sub1 {

void MatvecScalar(const Sub1Matrix& m, const uint32_t* dec, const float* xpad, int64_t xstride,
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

void DecompressRowScalar(const Sub1Matrix& m, const uint32_t* dec, int64_t r, float* row) {
  const float mn = Bf16BitsToFloat(m.minmax[2 * r].bits);
  const float mx = Bf16BitsToFloat(m.minmax[2 * r + 1].bits);
  int64_t col = 0;
  for (int64_t i = m.row_off[r]; i < m.row_off[r + 1]; ++i) {
    const uint32_t code = m.codes[i];
    const uint32_t width = EntryAdvance(dec[2 * code]);
    for (uint32_t t = 0; t < width && col + t < m.cols; ++t)
      row[col + t] = Dequant(CodeSymbol(dec, code, t), mn, mx);
    col += width;
  }
}

}  // namespace qmoe::kernels::sub1
