#include "codecs/ternary/packed_fields.h"

#include <algorithm>
#include <cstring>

#include "framework/core/error.h"

namespace qmoe::ternary {
namespace {

int64_t ElementBytes(FieldType t) { return t == FieldType::kI32 ? 4 : 2; }

template <class T>
Field FromVector(const std::vector<T>& v, FieldType type) {
  Field f;
  f.type = type;
  f.bytes.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(f.bytes.data(), v.data(), f.bytes.size());
  return f;
}

template <class T>
FieldArray<T> Read(const FieldViews& p, const std::string& field, const std::string& what, int64_t numel,
                   FieldType type) {
  auto it = p.find(field);
  QMOE_CHECK(it != p.end(), what, ": packed field '", field, "' is missing");
  const FieldView& f = it->second;
  QMOE_CHECK(f.dims == 1 && f.dtype == FieldTypeName(type), what, ": packed field '", field, "' must be a 1-D ",
             FieldTypeName(type), " tensor, got ", f.dtype, " with ", f.dims, " dims");
  QMOE_CHECK(numel < 0 || f.numel == numel, what, ": packed field '", field, "' has ", f.numel,
             " entries, expected ", numel);
  QMOE_CHECK(f.numel == 0 || f.data != nullptr, what, ": packed field '", field, "' has no data");
  return {static_cast<const T*>(f.data), size_t(f.numel)};
}

}  // namespace

const char* FieldTypeName(FieldType t) {
  static const char* const kNames[] = {"Short", "Int", "BFloat16"};  // FieldType order
  return kNames[int(t)];
}

int64_t Field::numel() const { return int64_t(bytes.size()) / ElementBytes(type); }

Field I16Field(const std::vector<uint16_t>& v) { return FromVector(v, FieldType::kI16); }
Field I32Field(const std::vector<int32_t>& v) { return FromVector(v, FieldType::kI32); }
Field Bf16Field(const std::vector<uint16_t>& bits) { return FromVector(bits, FieldType::kBf16); }

FieldViews ViewsOf(const Fields& fields) {
  FieldViews v;
  for (const auto& [name, f] : fields) v[name] = FieldView{FieldTypeName(f.type), 1, f.bytes.data(), f.numel()};
  return v;
}

FieldArray<uint16_t> ReadI16(const FieldViews& p, const std::string& field, const std::string& what,
                             int64_t numel) {
  return Read<uint16_t>(p, field, what, numel, FieldType::kI16);
}
FieldArray<int32_t> ReadI32(const FieldViews& p, const std::string& field, const std::string& what,
                            int64_t numel) {
  return Read<int32_t>(p, field, what, numel, FieldType::kI32);
}
FieldArray<uint16_t> ReadBf16(const FieldViews& p, const std::string& field, const std::string& what,
                              int64_t numel) {
  return Read<uint16_t>(p, field, what, numel, FieldType::kBf16);
}

}  // namespace qmoe::ternary
