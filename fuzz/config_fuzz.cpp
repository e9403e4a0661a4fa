// libFuzzer target: YAML config composition, the override grammar and interpolation
// (framework/config ComposeConfig).
// The input is split at NUL bytes: configs/config.yaml, configs/method/a.yaml, configs/method/b.yaml,
// configs/model/m.yaml, then one command-line override per part.
// Invariants: only qmoe::Error escapes (no YAML::Exception, no logic_error). A composed config's
// canonical YAML reads back to the same meaning: the same flattened keys and values. (Not always the
// same text: an empty scalar tagged `!` is written "" and then ''. Both are the empty string; the text
// feeds run keys, so it is left as it is.)
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
  const auto a = FlattenConfig(cfg.root), b = FlattenConfig(back);
  if (a != b) {
    for (const auto& [k, v] : a) {
      auto it = b.find(k);
      if (it == b.end() || it->second != v)
        std::fprintf(stderr, "key [%s]: [%s] -> [%s]\n", k.c_str(), v.c_str(), it == b.end() ? "<missing>" : it->second.c_str());
    }
    std::fprintf(stderr, "canonical:\n%s\n", canonical.c_str());
  }
  FUZZ_INVARIANT(a == b);
  return 0;
}
