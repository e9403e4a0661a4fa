// Calibration-free methods on the grids of grid.h: "bf16" (passthrough baseline), "rtn" (round-to-
// nearest on the minmax grid) and "ternary" (round-to-nearest on the ternary grid).
// Registered in methods/all_methods.cpp; keys and parameter names are permanent.
#pragma once
#include <cstdint>

#include "framework/core/params.h"
#include "methods/grids/grid.h"
#include "methods/method.h"

namespace qmoe::grids {

// bf16: weights cast to bf16 and back. Packed: "weight" bf16 [r, c]; 16 bits/weight.
class Bf16Method : public Method {
 public:
  struct Params {
    template <class V>
    void Visit(V&&) {}
  };
  explicit Bf16Method(const Params&) {}
  QuantOutput Quantize(const QuantTarget& target) const override;
  at::Tensor Dequantize(const std::map<std::string, at::Tensor>& packed) const override;
};

class RtnMethod : public Method {
 public:
  struct Params {
    int64_t bits = 4;
    int64_t group_size = 0;
    bool sym = false;
    template <class V>
    void Visit(V&& v) {
      v(bits, "bits", "bits per weight of the min-max grid", Range{2, 8});
      v(group_size, "group_size", "columns per scale/zero group; 0 = full row", Range{0, 1 << 30});
      v(sym, "sym", "symmetric grid (z = (maxq+1)/2)");
    }
  };
  explicit RtnMethod(const Params& p);
  QuantOutput Quantize(const QuantTarget& target) const override;
  at::Tensor Dequantize(const std::map<std::string, at::Tensor>& packed) const override;

 private:
  GridSpec spec_;
};

class TernaryMethod : public Method {
 public:
  struct Params {
    int64_t group_size = 0;
    template <class V>
    void Visit(V&& v) {
      v(group_size, "group_size", "columns per lo/hi group; 0 = full row", Range{0, 1 << 30});
    }
  };
  explicit TernaryMethod(const Params& p);
  QuantOutput Quantize(const QuantTarget& target) const override;
  at::Tensor Dequantize(const std::map<std::string, at::Tensor>& packed) const override;

 private:
  GridSpec spec_;
};

}  // namespace qmoe::grids
