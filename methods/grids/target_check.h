// Input checks shared by the grid-based methods (rtn, ternary, bf16, gptq).
#pragma once
#include <string>

#include "methods/method.h"

namespace qmoe::grids {

// Checks QuantTarget::weight is a defined fp32 [G, r, c] tensor with G, r, c >= 1, names has G
// entries (or is empty), and the hessian, when defined, is fp32 [G, c, c]. Throws one
// qmoe::Error naming `method`, the first matrix name and what was expected.
void CheckTarget(const QuantTarget& t, const std::string& method);

// names[e], or "matrix <e>" when names is empty.
std::string MatrixName(const QuantTarget& t, int64_t e);

}  // namespace qmoe::grids
