#include "methods/codec/packed_tensors.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

namespace qmoe::codecs {
namespace {

at::ScalarType TypeOf(ternary::FieldType t) {
  switch (t) {
    case ternary::FieldType::kI16: return at::kShort;
    case ternary::FieldType::kI32: return at::kInt;
    case ternary::FieldType::kBf16: return at::kBFloat16;
  }
  return at::kShort;
}

}  // namespace

PackedTensors ToTensors(const ternary::Fields& fields) {
  PackedTensors out;
  for (const auto& [name, f] : fields) {
    at::Tensor t = at::empty({f.numel()}, at::TensorOptions().dtype(TypeOf(f.type)));
    if (!f.bytes.empty()) std::memcpy(t.data_ptr(), f.bytes.data(), f.bytes.size());
    out[name] = t;
  }
  return out;
}

TensorViews ViewTensors(const PackedTensors& packed) {
  TensorViews v;
  for (const auto& [name, t] : packed) {
    if (!t.defined()) {
      v.views[name] = ternary::FieldView{"undefined", 0, nullptr, 0};
      continue;
    }
    const at::Tensor c = t.contiguous().cpu();
    v.keep[name] = c;
    v.views[name] = ternary::FieldView{std::string(at::toString(c.scalar_type())), c.dim(), c.data_ptr(), c.numel()};
  }
  return v;
}

at::Tensor I32Tensor(const std::vector<int32_t>& v) { return ToTensors({{"", ternary::I32Field(v)}}).at(""); }

int64_t PackedBytes(const PackedTensors& p, const std::vector<std::string>& except) {
  int64_t bytes = 0;
  for (const auto& [name, t] : p)
    if (std::find(except.begin(), except.end(), name) == except.end()) bytes += t.numel() * int64_t(t.element_size());
  return bytes;
}

}  // namespace qmoe::codecs
