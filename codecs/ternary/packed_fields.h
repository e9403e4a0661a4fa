// The packed fields of one stored matrix, without torch: what a codec's Pack writes and Unpack
// reads. The methods layer turns them into the tensors a compressed checkpoint stores
// (methods/codec/packed_tensors.h); readers get views of those tensors' memory, never a copy.
// Every read checks the field's presence, dtype, rank and length and throws one qmoe::Error
// naming `what` and the field.
#pragma once
#include <cstdint>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace qmoe::ternary {

// The stored element types, named as torch names them (the name is part of error messages).
enum class FieldType { kI16, kI32, kBf16 };
const char* FieldTypeName(FieldType t);  // "Short", "Int", "BFloat16"

// An owned field: a 1-D array of `type` as raw little-endian bytes.
struct Field {
  FieldType type = FieldType::kI16;
  std::vector<uint8_t> bytes;
  int64_t numel() const;
};
using Fields = std::map<std::string, Field>;

Field I16Field(const std::vector<uint16_t>& v);  // int16 on disk, bits reinterpreted
Field I32Field(const std::vector<int32_t>& v);
Field Bf16Field(const std::vector<uint16_t>& bits);

// A borrowed field: `dtype` as torch names it (any type a file may hold), rank and elements.
struct FieldView {
  std::string dtype;
  int64_t dims = 1;
  const void* data = nullptr;
  int64_t numel = 0;
};
using FieldViews = std::map<std::string, FieldView>;
FieldViews ViewsOf(const Fields& f);

// A read-only run of a field's elements: the part of std::span the codecs use, kept C++17 because
// the clang fuzz build compiles this header (through LibTorch's) as C++17 (fuzz/README.md).
template <class T>
struct FieldArray {
  const T* ptr = nullptr;
  size_t n = 0;
  const T* data() const { return ptr; }
  size_t size() const { return n; }
  const T* begin() const { return ptr; }
  const T* end() const { return ptr + n; }
  const T& operator[](size_t i) const { return ptr[i]; }
};

// Readers: the field must exist and be 1-D of the type (with `numel` entries when >= 0).
FieldArray<uint16_t> ReadI16(const FieldViews& p, const std::string& field, const std::string& what,
                             int64_t numel = -1);
FieldArray<int32_t> ReadI32(const FieldViews& p, const std::string& field, const std::string& what,
                            int64_t numel = -1);
FieldArray<uint16_t> ReadBf16(const FieldViews& p, const std::string& field, const std::string& what,
                              int64_t numel = -1);

}  // namespace qmoe::ternary
