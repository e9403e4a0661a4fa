// The method interface. A method quantizes a batch of G weight matrices of one shape, optionally
// guided by their Hessians, and returns the dequantized ("simulated") weights plus, per matrix,
// the packed tensors a compressed checkpoint stores and exact storage accounting.
// Methods never include kernel headers; evaluation can always run simulated.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/params.h"
#include "framework/core/registry.h"

namespace qmoe {

struct QuantTarget {
  at::Tensor weight;   // [G, rows, cols] float32, "[out, in]" convention
  at::Tensor hessian;  // [G, cols, cols] float32 (H = XᵀX), or undefined when uncalibrated
  std::vector<std::string> names;  // one per matrix, e.g. "encoder.block.1.layer.1.mlp.experts.expert_3.wi"
};

// Per-matrix outcome.
struct MatrixResult {
  // Exact storage of this matrix in the method's format: codes + scales + metadata, in bits.
  double storage_bits = 0;
  // Named scalar statistics (e.g. "natural_sparsity", "gptq_loss", "cholesky_fallback").
  std::map<std::string, double> stats;
  // Packed tensors written to compressed checkpoints as "<name>.<field>" (may be empty).
  std::map<std::string, at::Tensor> packed;
  // A note for the log, e.g. "cholesky failed: identity fallback". Empty when nothing happened.
  std::string note;
};

struct QuantOutput {
  at::Tensor weight;                  // [G, rows, cols] float32 dequantized weights
  std::vector<MatrixResult> matrices;  // G entries
};

class Method {
 public:
  virtual ~Method() = default;
  // True when the method uses QuantTarget::hessian (the pipeline then collects calibration data).
  virtual bool UsesHessian() const { return false; }
  virtual QuantOutput Quantize(const QuantTarget& target) const = 0;
  // Rebuilds one matrix's dequantized weight [rows, cols] (float32) from its MatrixResult::packed
  // tensors, as a compressed checkpoint stores them. Must equal that matrix of QuantOutput::weight
  // (tests/methods_test.cpp checks this for every registered method).
  virtual at::Tensor Dequantize(const std::map<std::string, at::Tensor>& packed) const;
};

struct MethodInfo {
  std::string help;                 // one line for `qmoe methods`
  int version = 1;                  // bump when results change; part of every run key
  std::vector<ParamSpec> params;    // declared once by the method's Params::Visit
  std::function<std::unique_ptr<Method>(const ParamMap&)> make;
};

using MethodRegistry = Registry<MethodInfo>;

// Registers method M whose constructor takes M::Params (a Visit-able struct).
template <class M>
void RegisterMethod(MethodRegistry& r, const std::string& key, const std::string& help, int version = 1) {
  MethodInfo info;
  info.help = help;
  info.version = version;
  info.params = SpecsOf<typename M::Params>();
  info.make = [](const ParamMap& m) {
    return std::unique_ptr<Method>(new M(FromParamMap<typename M::Params>(m)));
  };
  r.Add(key, std::move(info));
}

// The one list of methods (methods/all_methods.cpp).
void RegisterAllMethods(MethodRegistry& r);
// The process-wide registry, filled on first use.
const MethodRegistry& Methods();

}  // namespace qmoe
