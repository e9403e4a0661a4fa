// libFuzzer target: Hugging Face config.json (framework/model/switch_config ParseHfConfig, the body of
// ReadHfConfig; in memory, so it runs fast).
// Invariants: only qmoe::Error escapes. An accepted config passes Validate, and its HfConfigJson text
// (what WriteHfConfig writes) parses back to the same architecture, field by field.
#include "framework/core/error.h"
#include "framework/model/switch_config.h"
#include "fuzz/fuzz_files.h"

using namespace qmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  SwitchConfig c;
  try {
    c = ParseHfConfig(std::string(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
  } catch (const Error&) {
    return 0;
  }
  c.Validate("fuzz");  // must not throw: ParseHfConfig validated
  SwitchConfig d = ParseHfConfig(HfConfigJson(c), "fuzz/again/config.json");
  d.name = c.name;
  d.path = c.path;
  FUZZ_INVARIANT(ToParamMap(c) == ToParamMap(d));
  return 0;
}
