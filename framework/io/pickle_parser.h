// A minimal, safe unpickler for torch.save's data.pkl: enough of pickle protocols 2-5 to read a
// (possibly OrderedDict / type-tagged) dict of name -> tensor without loading any data.
//
// Safety: a pickle is a program. This one runs only the opcodes and imports only the globals a
// PyTorch state dict needs (both listed in one table each in pickle_parser.cpp, and returned by
// AllowedPickleOpcodes / AllowedPickleGlobals). Any other global (os.system, builtins.eval, ...) or
// opcode is one Error naming it, before anything is called. Sizes are checked before allocating:
// strings against the bytes left, the memo slots and the number of values against the caps below.
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

// Caps (documented in framework/io/README.md).
constexpr uint64_t kMaxStateDictPickleBytes = 1ull << 30;  // data.pkl record
constexpr uint64_t kMaxPickleMemo = 1u << 24;              // memo slot index
constexpr uint64_t kMaxPickleValues = 1u << 24;            // values created

// "module.name" of every global the reader accepts, and the names of the accepted opcodes.
std::vector<std::string> AllowedPickleGlobals();
std::vector<std::string> AllowedPickleOpcodes();

// Parses `pickle` (the bytes of data.pkl) and returns its tensors in pickle order. Entries whose
// value is not a tensor are skipped. `file` is only used in error messages.
std::vector<PickledTensor> ParseStateDictPickle(std::string_view pickle, const std::string& file);

}  // namespace qmoe
