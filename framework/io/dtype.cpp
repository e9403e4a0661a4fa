#include "framework/io/dtype.h"

#include "framework/core/error.h"

#include <array>
#include <utility>

namespace qmoe {
namespace {

// The dtypes qmoe accepts in checkpoints. Spellings are the safetensors ones and are permanent.
constexpr std::array<std::pair<const char*, at::ScalarType>, 10> kDtypes = {{
    {"F32", at::kFloat},  {"BF16", at::kBFloat16}, {"F16", at::kHalf}, {"F64", at::kDouble},
    {"I64", at::kLong},   {"I32", at::kInt},       {"I16", at::kShort}, {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool},
}};

}  // namespace

at::ScalarType ScalarTypeFromDtype(const std::string& dtype, const std::string& where) {
  for (const auto& [name, type] : kDtypes)
    if (dtype == name) return type;
  std::string known;
  for (const auto& [name, type] : kDtypes) known += std::string(known.empty() ? "" : ", ") + name;
  throw Error(StrCat(where, ": unknown dtype \"", dtype, "\" (expected one of ", known, ")"));
}

std::string DtypeFromScalarType(at::ScalarType t) {
  for (const auto& [name, type] : kDtypes)
    if (t == type) return name;
  throw Error(StrCat("dtype ", c10::toString(t), " cannot be stored in a checkpoint"));
}

size_t DtypeItemSize(at::ScalarType t) { return c10::elementSize(t); }

}  // namespace qmoe
