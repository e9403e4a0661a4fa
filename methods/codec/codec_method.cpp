#include "methods/codec/codec_method.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "methods/codec/packed_tensors.h"

namespace qmoe::codecs {
namespace {

// The target with its own weight storage: an inner method may update weights in place (gptq
// does for single-row matrices, where W.transpose(1, 2).contiguous() aliases W), and the
// caller's weights must stay untouched.
QuantTarget PrivateCopy(const QuantTarget& t) {
  QuantTarget c = t;
  if (t.weight.defined()) c.weight = t.weight.clone();
  return c;
}

ternary::TernarySymbols MatrixSymbols(const at::Tensor& weight, ternary::SymbolMode mode, const std::string& what) {
  QMOE_ASSERT(weight.dim() == 2, "expected a matrix for ", what);
  const at::Tensor w = weight.to(at::kFloat).contiguous();
  return ternary::SymbolsFromTernary(w.data_ptr<float>(), w.size(0), w.size(1), mode, what);
}

}  // namespace

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

CodecMethod::CodecMethod(const Codec& codec, const ParamMap& params)
    : codec_(codec), options_(params) {
  const InnerParams inner = FromParamMap<InnerParams>(params);
  inner_ = MakeTernaryQuantizer(inner, codec_.name);
  mode_ = ternary::ParseSymbolMode(inner.symbols, StrCat("method '", codec_.name, "': symbols"));
}

MatrixResult CodecMethod::CodeMatrix(const at::Tensor& weight, MatrixResult r, const std::string& name,
                                     at::Tensor decoded) const {
  const std::string what = StrCat("method '", codec_.name, "': ", name);
  const ternary::TernarySymbols s = MatrixSymbols(weight, mode_, what);
  const ternary::Entropy h = ternary::EmpiricalEntropy(s);
  const Coded coded = codec_.encode(s, options_);
  codec_.decoders.at(0).run(coded, decoded.data_ptr<float>());
  QMOE_ASSERT(at::equal(decoded, weight.to(at::kBFloat16).to(at::kFloat)), codec_.name, " round trip of ", name);
  r.packed = ToTensors(codec_.pack(coded));
  r.storage_bits = codec_.storage_bits(coded);
  for (const auto& [k, v] : codec_.stats(coded, h)) r.stats[k] = v;
  r.stats["natural_sparsity"] = (decoded == 0).sum().item<double>() / double(decoded.numel());
  r.stats["entropy_bits"] = h.iid_bits;
  r.stats["entropy_pair_bits"] = h.pair_bits;
  return r;
}

QuantOutput CodecMethod::Quantize(const QuantTarget& target) const {
  QuantOutput in = inner_->Quantize(PrivateCopy(target));
  const int64_t g = in.weight.size(0);
  QuantOutput out;
  out.weight = at::empty_like(in.weight);
  out.matrices.resize(size_t(g));
  for (int64_t e = 0; e < g; ++e) {
    const std::string name = e < int64_t(target.names.size()) ? target.names[e] : StrCat("matrix ", e);
    // The inner stats and note are kept; out.weight[e] is a contiguous slice of a fresh tensor.
    out.matrices[size_t(e)] = CodeMatrix(in.weight[e], std::move(in.matrices[size_t(e)]), name, out.weight[e]);
  }
  return out;
}

at::Tensor CodecMethod::Dequantize(const std::map<std::string, at::Tensor>& packed) const {
  const TensorViews v = ViewTensors(packed);
  const Coded coded = codec_.unpack(v.views, StrCat("method '", codec_.name, "' packed matrix"));
  const auto shape = ternary::ReadI32(v.views, "shape", codec_.name, 2);
  at::Tensor out = at::empty({shape[0], shape[1]}, at::kFloat);
  codec_.decoders.at(0).run(coded, out.data_ptr<float>());
  return out;
}

void RegisterCodecMethods(MethodRegistry& r) {
  for (const std::string& key : Codecs().Keys()) {
    const Codec& codec = Codecs().Get(key);
    MethodInfo info;
    info.help = codec.help;
    info.version = codec.version;
    info.params = SpecsOf<InnerParams>();
    info.params.insert(info.params.end(), codec.params.begin(), codec.params.end());
    info.make = [&codec](const ParamMap& m) { return std::unique_ptr<Method>(new CodecMethod(codec, m)); };
    r.Add(key, std::move(info));
  }
}

}  // namespace qmoe::codecs
