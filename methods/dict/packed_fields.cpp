#include "methods/dict/packed_fields.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include "framework/core/error.h"

namespace qmoe::dict {
namespace {

template <class T>
at::Tensor FromVector(const std::vector<T>& v, at::ScalarType type) {
  at::Tensor t = at::empty({int64_t(v.size())}, at::TensorOptions().dtype(type));
  if (!v.empty()) std::memcpy(t.data_ptr(), v.data(), v.size() * sizeof(T));
  return t;
}

template <class T>
std::vector<T> ToVector(const PackedMap& p, const std::string& field, const std::string& what, int64_t numel,
                        at::ScalarType type) {
  auto it = p.find(field);
  QMOE_CHECK(it != p.end(), what, ": packed field '", field, "' is missing");
  const at::Tensor& t = it->second;
  QMOE_CHECK(t.defined() && t.dim() == 1 && t.scalar_type() == type, what, ": packed field '", field,
             "' must be a 1-D ", at::toString(type), " tensor, got ",
             t.defined() ? std::string(at::toString(t.scalar_type())) : "undefined", " with ",
             t.defined() ? t.dim() : 0, " dims");
  QMOE_CHECK(numel < 0 || t.numel() == numel, what, ": packed field '", field, "' has ", t.numel(),
             " entries, expected ", numel);
  const at::Tensor c = t.contiguous();
  std::vector<T> v(static_cast<size_t>(c.numel()));
  if (!v.empty()) std::memcpy(v.data(), c.data_ptr(), v.size() * sizeof(T));
  return v;
}

}  // namespace

at::Tensor I16Tensor(const std::vector<uint16_t>& v) { return FromVector(v, at::kShort); }
at::Tensor I32Tensor(const std::vector<int32_t>& v) { return FromVector(v, at::kInt); }
at::Tensor Bf16Tensor(const std::vector<uint16_t>& bits) { return FromVector(bits, at::kBFloat16); }

std::vector<uint16_t> ReadI16(const PackedMap& p, const std::string& field, const std::string& what, int64_t numel) {
  return ToVector<uint16_t>(p, field, what, numel, at::kShort);
}
std::vector<int32_t> ReadI32(const PackedMap& p, const std::string& field, const std::string& what, int64_t numel) {
  return ToVector<int32_t>(p, field, what, numel, at::kInt);
}
std::vector<uint16_t> ReadBf16(const PackedMap& p, const std::string& field, const std::string& what, int64_t numel) {
  return ToVector<uint16_t>(p, field, what, numel, at::kBFloat16);
}

int64_t PackedBytes(const PackedMap& p, const std::vector<std::string>& except) {
  int64_t bytes = 0;
  for (const auto& [name, t] : p)
    if (std::find(except.begin(), except.end(), name) == except.end()) bytes += t.numel() * int64_t(t.element_size());
  return bytes;
}

}  // namespace qmoe::dict
