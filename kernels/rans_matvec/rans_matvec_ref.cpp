// Reference form: rans::DecodeRef (validates, one symbol at a time) to dense fp32, then plain dot
// products accumulated in fp64. Never optimised; the fast paths are tested against it.
#include <vector>

#include "framework/core/error.h"
#include "kernels/rans_matvec/rans_matvec.h"

namespace qmoe::kernels {

void RansMatvecRef(const rans::RansMatrix& m, const Bf16* x, int64_t k, float* y) {
  QMOE_CHECK(x != nullptr && y != nullptr, "RansMatvecRef: x and y must not be null");
  QMOE_CHECK(k >= 1, "RansMatvecRef: k must be >= 1, got ", k);
  std::vector<float> w(size_t(m.rows * m.cols));
  rans::DecodeRef(m, w.data());
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t j = 0; j < k; ++j) {
      double acc = 0;
      for (int64_t c = 0; c < m.cols; ++c) acc += double(w[size_t(r * m.cols + c)]) * double(Bf16ToFloat(x[j * m.cols + c]));
      y[j * m.rows + r] = float(acc);
    }
}

}  // namespace qmoe::kernels
