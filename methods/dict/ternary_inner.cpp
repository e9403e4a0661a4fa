#include "methods/dict/ternary_inner.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"

namespace qmoe::dict {

std::unique_ptr<Method> MakeTernaryQuantizer(const InnerParams& p, const std::string& outer) {
  const std::string key = p.quantizer == "rtn" ? "ternary" : p.quantizer;
  QMOE_CHECK(p.quantizer == "gptq" || p.quantizer == "rtn", "method '", outer, "': quantizer must be gptq or rtn, got '",
             p.quantizer, "'");
  QMOE_CHECK(Methods().Has(key), "method '", outer, "': inner quantizer '", p.quantizer, "' needs method '", key,
             "', which is not registered in this build");
  ParamMap m;
  if (key == "gptq") {
    m["grid"] = std::string("ternary");
    m["damp"] = p.damp;
    m["block_size"] = p.block_size;
  }
  return Methods().Get(key).make(m);
}

QuantTarget PrivateCopy(const QuantTarget& t) {
  QuantTarget c = t;
  if (t.weight.defined()) c.weight = t.weight.clone();
  return c;
}

TernarySymbols MatrixSymbols(const at::Tensor& weight, SymbolMode mode, const std::string& what) {
  QMOE_ASSERT(weight.dim() == 2, "expected a matrix for ", what);
  const at::Tensor w = weight.to(at::kFloat).contiguous();
  return SymbolsFromTernary(w.data_ptr<float>(), w.size(0), w.size(1), mode, what);
}

Entropy AddSymbolStats(const at::Tensor& decoded, const TernarySymbols& s, MatrixResult& r) {
  const Entropy h = EmpiricalEntropy(s);
  r.stats["natural_sparsity"] = (decoded == 0).sum().item<double>() / double(decoded.numel());
  r.stats["entropy_bits"] = h.iid_bits;
  r.stats["entropy_pair_bits"] = h.pair_bits;
  return h;
}

}  // namespace qmoe::dict
