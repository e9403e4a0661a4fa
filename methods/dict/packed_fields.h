// Raw arrays <-> the torch tensors of MatrixResult::packed, with one clear qmoe::Error per bad
// field (name, dtype, shape). Used by the dict and rans methods.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qmoe::dict {

using PackedMap = std::map<std::string, at::Tensor>;

at::Tensor I16Tensor(const std::vector<uint16_t>& v);  // int16, bits reinterpreted
at::Tensor I32Tensor(const std::vector<int32_t>& v);
at::Tensor Bf16Tensor(const std::vector<uint16_t>& bits);

// Readers: the field must exist, be 1-D with the given dtype (and `numel` entries when >= 0).
std::vector<uint16_t> ReadI16(const PackedMap& p, const std::string& field, const std::string& what,
                              int64_t numel = -1);
std::vector<int32_t> ReadI32(const PackedMap& p, const std::string& field, const std::string& what,
                             int64_t numel = -1);
std::vector<uint16_t> ReadBf16(const PackedMap& p, const std::string& field, const std::string& what,
                               int64_t numel = -1);

// Total bytes of the packed tensors except those listed.
int64_t PackedBytes(const PackedMap& p, const std::vector<std::string>& except);

}  // namespace qmoe::dict
