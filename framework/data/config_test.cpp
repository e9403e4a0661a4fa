// configs/data/corpus.yaml is the `data` section's default: its keys and values must be exactly
// DataParams' declared names and defaults.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "framework/data/samples.h"

namespace qmoe::data {
namespace {

TEST(DataConfig, CorpusYamlMatchesDataParams) {
  const std::string path = std::string(QMOE_SOURCE_DIR) + "/configs/data/corpus.yaml";
  const YAML::Node data = YAML::LoadFile(path);  // group file: its keys land under `data`
  ASSERT_TRUE(data && data.IsMap()) << path << ": expected a map";
  std::set<std::string> keys;
  for (const auto& kv : data) keys.insert(kv.first.as<std::string>());
  std::set<std::string> names;
  for (const ParamSpec& s : SpecsOf<DataParams>()) {
    names.insert(s.name);
    ASSERT_TRUE(data[s.name]) << path << ": missing key '" << s.name << "'";
    // Compare values through the typed parser, so 3 and 3.0 or true and True agree.
    EXPECT_EQ(FormatParamValue(ParseParamValue(s, data[s.name].as<std::string>(), path)),
              FormatParamValue(ParseParamValue(s, s.default_text, "DataParams")))
        << "key '" << s.name << "' differs from the DataParams default";
  }
  EXPECT_EQ(keys, names);
}

}  // namespace
}  // namespace qmoe::data
