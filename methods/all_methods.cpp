// The one list of methods. Keys reach results.db: never rename or reuse a key.
#include "methods/method.h"

#include "methods/gptq/gptq_method.h"
#include "methods/grids/rtn_methods.h"
#include "methods/codec/codec_method.h"

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
  codecs::RegisterCodecMethods(r);  // one method per codec: "dict", "rans"
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
