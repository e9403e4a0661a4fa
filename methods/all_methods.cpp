// The one list of methods. Keys reach results.db: never rename or reuse a key.
#include "methods/method.h"

#include "methods/gptq/gptq_method.h"
#include "methods/grids/rtn_methods.h"
#include "methods/dict/dict_method.h"
#include "methods/rans/rans_method.h"

#include "framework/core/error.h"

namespace qmoe {

at::Tensor Method::Dequantize(const std::map<std::string, at::Tensor>&) const {
  throw Error("this method stores no packed format it can read back");
}

void RegisterAllMethods(MethodRegistry& r) {
  RegisterMethod<grids::Bf16Method>(r, "bf16", "passthrough baseline: weights cast to bf16 and back, 16 bits/weight");
  RegisterMethod<grids::RtnMethod>(r, "rtn", "round-to-nearest on the min-max grid (identity Hessian)");
  RegisterMethod<grids::TernaryMethod>(r, "ternary", "round-to-nearest on the ternary grid {lo, 0, hi}");
  RegisterMethod<gptq::GptqMethod>(r, "gptq", "MoE-batched GPTQ on the minmax or ternary grid");
  RegisterMethod<dict::DictMethod>(r, "dict", "ternary (gptq|rtn) + the static 2^16-entry dictionary code of QMoE (§8)");
  RegisterMethod<rans::RansMethod>(r, "rans", "ternary (gptq|rtn) + rANS over ternary pairs, per-matrix 12-bit frequencies",
                                  /*version=*/2);  // 2: streams (default 8, was 4)
}

const MethodRegistry& Methods() {
  static const MethodRegistry reg = [] {
    MethodRegistry r("method");
    RegisterAllMethods(r);
    return r;
  }();
  return reg;
}

}  // namespace qmoe
