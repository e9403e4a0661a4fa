// Every shipped config composes and validates, and every method file declares exactly the
// parameters its registry entry declares, with the same defaults.
#include <gtest/gtest.h>

#include <filesystem>

#include "experiments/experiment.h"
#include "experiments/runner.h"
#include "framework/config/config.h"
#include "methods/method.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

const std::string kConfigs = std::string(QMOE_SOURCE_DIR) + "/configs";

std::vector<std::string> Options(const std::string& group) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kConfigs + "/" + group))
    if (e.path().extension() == ".yaml") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Configs, EveryRegisteredMethodHasAConfigFileWithItsExactParameters) {
  for (const auto& key : Methods().Keys()) {
    SCOPED_TRACE(key);
    ASSERT_TRUE(fs::exists(kConfigs + "/method/" + key + ".yaml")) << "configs/method/" << key << ".yaml missing";
    ComposedConfig cfg = ComposeConfig(kConfigs, {"method=" + key});
    YAML::Node m = cfg.root["method"];
    EXPECT_EQ(m["name"].as<std::string>(), key);
    const auto& specs = Methods().Get(key).params;
    EXPECT_EQ(m.size(), specs.size() + 1) << "the file must list every parameter, and nothing else";
    for (const auto& s : specs) {
      ASSERT_TRUE(m[s.name]) << "missing key " << s.name;
      auto file_value = ParseParamValue(s, m[s.name].as<std::string>(), "file");
      auto default_value = ParseParamValue(s, s.default_text, "default");
      EXPECT_EQ(FormatParamValue(file_value), FormatParamValue(default_value)) << s.name;
    }
  }
}

TEST(Configs, EveryExperimentAndMethodOptionValidates) {
  for (const auto& e : Options("experiment")) {
    SCOPED_TRACE("experiment=" + e);
    ComposedConfig cfg = ComposeConfig(kConfigs, {"experiment=" + e});
    EXPECT_NO_THROW(ValidateConfig(cfg, BuildSchema(cfg)));
  }
  for (const auto& m : Options("method")) {
    SCOPED_TRACE("method=" + m);
    ComposedConfig cfg = ComposeConfig(kConfigs, {"method=" + m});
    EXPECT_NO_THROW(ValidateConfig(cfg, BuildSchema(cfg)));
  }
}

TEST(Configs, MistypedKeyNamesTheNearestKey) {
  ComposedConfig cfg = ComposeConfig(kConfigs, {"method=rtn"});
  cfg.root["method"]["bitz"] = 3;
  cfg.origin["method.bitz"] = "override 'method.bitz=3'";
  try {
    ValidateConfig(cfg, BuildSchema(cfg));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bits"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qmoe
