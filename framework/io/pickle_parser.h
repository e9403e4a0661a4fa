// A minimal unpickler for torch.save's data.pkl: enough of pickle protocols 2-5 to read a
// (possibly OrderedDict / type-tagged) dict of name -> tensor without loading any data.
#pragma once
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qmoe {

// Where one tensor's bytes live inside a torch archive.
struct PickledTensor {
  std::string name;
  at::ScalarType dtype;
  std::string storage_key;      // record "data/<storage_key>"
  int64_t storage_numel = 0;    // elements in the whole storage
  int64_t offset = 0;           // storage offset, in elements
  std::vector<int64_t> shape, stride;
};

// Parses `pickle` (the bytes of data.pkl) and returns its tensors in pickle order. Entries whose
// value is not a tensor are skipped. `file` is only used in error messages.
std::vector<PickledTensor> ParseStateDictPickle(std::string_view pickle, const std::string& file);

}  // namespace qmoe
