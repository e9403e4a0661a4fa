// libFuzzer target: YAML config composition, the override grammar and interpolation
// (framework/config ComposeConfig).
// The input is split at NUL bytes: configs/config.yaml, configs/method/a.yaml, configs/method/b.yaml,
// configs/model/m.yaml, then one command-line override per part.
// Invariants: only qmoe::Error escapes (no YAML::Exception, no logic_error). A composed config's
// canonical YAML reads back to the same canonical text and the same flattened keys.
#include <yaml-cpp/yaml.h>

#include "framework/config/config.h"
#include "framework/core/error.h"
#include "fuzz/fuzz_files.h"

namespace fs = std::filesystem;
using namespace qmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = fuzz::SplitInput(std::string_view(reinterpret_cast<const char*>(data), size), '\0', 12);
  const fs::path dir = fuzz::ScratchDir() / "configs";
  static const bool made = [&] {
    fs::create_directories(dir / "method");
    fs::create_directories(dir / "model");
    return true;
  }();
  (void)made;
  const char* files[] = {"config.yaml", "method/a.yaml", "method/b.yaml", "model/m.yaml"};
  for (size_t i = 0; i < 4; ++i) fuzz::WriteBytes(dir / files[i], i < parts.size() ? parts[i] : std::string_view());
  std::vector<std::string> overrides;
  for (size_t i = 4; i < parts.size(); ++i) overrides.emplace_back(parts[i]);
  ComposedConfig cfg;
  try {
    cfg = ComposeConfig(dir, overrides);
  } catch (const Error&) {
    return 0;
  }
  const std::string canonical = CanonicalYaml(cfg.root);
  YAML::Node back = YAML::Load(canonical);  // must parse: we wrote it
  FUZZ_INVARIANT(CanonicalYaml(back) == canonical);
  FUZZ_INVARIANT(FlattenConfig(back) == FlattenConfig(cfg.root));
  return 0;
}
