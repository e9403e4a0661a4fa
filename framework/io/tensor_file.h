// One checkpoint file (a safetensors file or a torch .bin archive) seen as a list of tensors.
// Checkpoint combines one or more of these through an index. Internal to framework/io.
#pragma once
#include "framework/io/checkpoint.h"

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace qmoe {

class TensorFile {
 public:
  virtual ~TensorFile() = default;
  // Every tensor in the file, validated at open.
  virtual const std::vector<TensorInfo>& Infos() const = 0;
  // Reads one tensor (by name) into a fresh contiguous CPU tensor of its stored dtype.
  virtual at::Tensor Load(const std::string& name) const = 0;
};

}  // namespace qmoe
