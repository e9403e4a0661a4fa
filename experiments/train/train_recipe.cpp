#include "experiments/train/train_recipe.h"

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe {

ParamMap ReadParamMap(const YAML::Node& node, const std::vector<ParamSpec>& specs, const std::string& where) {
  ParamMap m;
  if (!node) return m;
  QMOE_CHECK(node.IsMap(), where, ": expected a map of keys");
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const ParamSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == key) spec = &s;
    QMOE_CHECK(spec, where, ": unknown key '", key, "'", DidYouMean(key, names));
    QMOE_CHECK(kv.second.IsScalar(), where, ".", key, ": expected a scalar value");
    m[key] = ParseParamValue(*spec, kv.second.as<std::string>(), where + "." + key);
  }
  return m;
}

TrainRecipe RecipeFromYaml(const YAML::Node& root, const std::string& where) {
  QMOE_CHECK(root && root.IsMap(), where, ": expected a map with sections model, data, train");
  for (const auto& kv : root) {
    const std::string k = kv.first.as<std::string>();
    QMOE_CHECK(k == "model" || k == "data" || k == "train", where, ": unknown section '", k,
               "'", DidYouMean(k, {"model", "data", "train"}), " (sections: model, data, train)");
  }
  QMOE_CHECK(root["model"], where, ": missing section 'model' (SwitchConfig keys)");
  TrainRecipe r;
  r.path = where;
  r.model = ReadParamSection<SwitchConfig>(root["model"], where + ": model");
  r.data = ReadParamSection<data::DataParams>(root["data"], where + ": data");
  r.train = ReadParamSection<TrainParams>(root["train"], where + ": train");
  r.model.Validate(where + ": model");
  QMOE_CHECK(r.model.dtype == "float32", where, ": model.dtype: training runs in float32, got '", r.model.dtype, "'");
  return r;
}

TrainRecipe LoadRecipe(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw Error(StrCat("recipe ", path, ": cannot read YAML: ", e.what()));
  }
  return RecipeFromYaml(root, path);
}

}  // namespace qmoe
