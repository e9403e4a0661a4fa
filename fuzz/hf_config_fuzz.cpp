// libFuzzer target: Hugging Face config.json (framework/model/switch_config ReadHfConfig).
// Invariants: only qmoe::Error escapes. An accepted config passes Validate, and writing it back with
// WriteHfConfig and reading that gives the same architecture, field by field.
#include "framework/core/error.h"
#include "framework/model/switch_config.h"
#include "fuzz/fuzz_files.h"

namespace fs = std::filesystem;
using namespace qmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path dir = fuzz::ScratchDir() / "in";
  fs::create_directories(dir);
  fuzz::WriteBytes(dir / "config.json", std::string_view(reinterpret_cast<const char*>(data), size));
  SwitchConfig c;
  try {
    c = ReadHfConfig(dir);
  } catch (const Error&) {
    return 0;
  }
  c.Validate("fuzz");  // must not throw: ReadHfConfig validated
  const fs::path out = fuzz::ScratchDir() / "out";
  WriteHfConfig(c, out);
  SwitchConfig d = ReadHfConfig(out);
  d.name = c.name;
  d.path = c.path;
  FUZZ_INVARIANT(ToParamMap(c) == ToParamMap(d));
  return 0;
}
