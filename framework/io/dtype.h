// The dtype names that reach disk (safetensors spelling) and their LibTorch scalar types.
#pragma once
#include <c10/core/ScalarType.h>

#include <cstddef>
#include <string>

namespace qmoe {

// "F32" -> at::kFloat, ...; throws Error naming `where` and the accepted names when unknown.
at::ScalarType ScalarTypeFromDtype(const std::string& dtype, const std::string& where);
// at::kFloat -> "F32"; throws Error for types that have no safetensors spelling.
std::string DtypeFromScalarType(at::ScalarType t);
size_t DtypeItemSize(at::ScalarType t);

}  // namespace qmoe
