// A codec's packed fields <-> the torch tensors of MatrixResult::packed (what compressed
// checkpoints store), in both directions without reinterpreting anything: int16, int32 and
// bf16 tensors hold the fields' bits.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "codecs/ternary/packed_fields.h"

namespace qmoe::codecs {

using PackedTensors = std::map<std::string, at::Tensor>;

PackedTensors ToTensors(const ternary::Fields& fields);

// Views of the tensors' memory for a codec's Unpack. Each tensor is made contiguous on the CPU
// first (a copy only where it was not); `keep` owns those tensors and must outlive the views.
struct TensorViews {
  PackedTensors keep;
  ternary::FieldViews views;
};
TensorViews ViewTensors(const PackedTensors& packed);

at::Tensor I32Tensor(const std::vector<int32_t>& v);
// Total bytes of the packed tensors except those listed.
int64_t PackedBytes(const PackedTensors& p, const std::vector<std::string>& except);

}  // namespace qmoe::codecs
