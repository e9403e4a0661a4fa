#include "methods/grids/target_check.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"

namespace qmoe::grids {

std::string MatrixName(const QuantTarget& t, int64_t e) {
  return e < static_cast<int64_t>(t.names.size()) ? t.names[e] : StrCat("matrix ", e);
}

void CheckTarget(const QuantTarget& t, const std::string& method) {
  const std::string who = StrCat("method '", method, "': ", t.names.empty() ? "target" : t.names[0]);
  QMOE_CHECK(t.weight.defined(), who, ": weight is undefined");
  QMOE_CHECK(t.weight.dim() == 3 && t.weight.scalar_type() == at::kFloat, who,
             ": weight must be float32 [G, rows, cols], got ", t.weight.scalar_type(), " ", t.weight.sizes());
  const int64_t G = t.weight.size(0), c = t.weight.size(2);
  QMOE_CHECK(G >= 1 && t.weight.size(1) >= 1 && c >= 1, who, ": weight has an empty dim: ", t.weight.sizes());
  QMOE_CHECK(t.names.empty() || static_cast<int64_t>(t.names.size()) == G, who, ": ", t.names.size(),
             " names for ", G, " matrices");
  if (t.hessian.defined()) {
    QMOE_CHECK(t.hessian.scalar_type() == at::kFloat && t.hessian.dim() == 3 && t.hessian.size(0) == G &&
                   t.hessian.size(1) == c && t.hessian.size(2) == c,
               who, ": hessian must be float32 [", G, ", ", c, ", ", c, "], got ", t.hessian.scalar_type(), " ",
               t.hessian.sizes());
  }
}

}  // namespace qmoe::grids
