#include "methods/dict/ternary_inner.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/core/strings.h"

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

QuantOutput QuantizeAndCode(const Method& inner, SymbolMode mode, const std::string& method,
                            const QuantTarget& target, const MatrixCoder& code) {
  QuantOutput in = inner.Quantize(PrivateCopy(target));
  const int64_t g = in.weight.size(0);
  QuantOutput out;
  out.weight = at::empty_like(in.weight);
  out.matrices.resize(size_t(g));
  for (int64_t e = 0; e < g; ++e) {
    const std::string name = e < int64_t(target.names.size()) ? target.names[e] : StrCat("matrix ", e);
    const TernarySymbols s = MatrixSymbols(in.weight[e], mode, StrCat("method '", method, "': ", name));
    const Entropy h = EmpiricalEntropy(s);
    MatrixResult& r = out.matrices[size_t(e)];
    r = std::move(in.matrices[size_t(e)]);  // keep the inner stats and note
    at::Tensor dec = out.weight[e];         // contiguous slice of a fresh tensor
    code(s, h, dec.data_ptr<float>(), r);
    QMOE_ASSERT(at::equal(dec, in.weight[e].to(at::kBFloat16).to(at::kFloat)), method, " round trip of ", name);
    r.stats["natural_sparsity"] = (dec == 0).sum().item<double>() / double(dec.numel());
    r.stats["entropy_bits"] = h.iid_bits;
    r.stats["entropy_pair_bits"] = h.pair_bits;
  }
  return out;
}

}  // namespace qmoe::dict
