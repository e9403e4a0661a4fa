// ValidateConfig: strict check of a composed config against per-section parameter specs.
#include <algorithm>

#include "framework/config/config.h"
#include "framework/config/config_tree.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe {
namespace {

std::string OriginOf(const ComposedConfig& cfg, const std::string& key) {
  for (std::string k = key;;) {
    if (auto it = cfg.origin.find(k); it != cfg.origin.end()) return it->second;
    size_t dot = k.rfind('.');
    if (dot == std::string::npos) return "config";
    k = k.substr(0, dot);
  }
}

std::vector<std::string> SortedNames(const std::vector<ParamSpec>& specs) {
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  std::sort(names.begin(), names.end());
  return names;
}

const ParamSpec* FindSpec(const std::vector<ParamSpec>& specs, const std::string& name) {
  for (const auto& s : specs)
    if (s.name == name) return &s;
  return nullptr;
}

// One value: scalars go to ParseParamValue as text; lists and mappings only where a string is
// expected (as flow YAML text); null is the empty string for strings and an error otherwise.
ParamValue CheckValue(const ParamSpec& spec, const YAML::Node& v, const std::string& key, const std::string& where) {
  if (v.IsScalar()) return ParseParamValue(spec, v.Scalar(), where);
  if (v.IsNull() && spec.type == ParamType::kString) return ParseParamValue(spec, "", where);
  if (v.IsNull()) return ParseParamValue(spec, "null", where);  // throws: expected <type>, got 'null'
  QMOE_CHECK(spec.type == ParamType::kString, where, ": key '", key, "': expected ", ParamTypeName(spec.type),
             ", got a ", v.IsSequence() ? "list" : "mapping");
  return ParseParamValue(spec, config_internal::FlowText(config_internal::FromYaml(v, where)), where);
}

ParamMap CheckSection(const ComposedConfig& cfg, const std::string& section, const YAML::Node& node,
                      const std::vector<ParamSpec>& specs) {
  ParamMap out;
  if (node) {
    for (const auto& kv : node) {
      const std::string name = kv.first.Scalar();
      const std::string key = section + "." + name;
      const ParamSpec* spec = FindSpec(specs, name);
      const std::vector<std::string> valid = SortedNames(specs);
      QMOE_CHECK(spec, OriginOf(cfg, key), ": unknown key '", name, "' in '", section, "'", DidYouMean(name, valid),
                 "; valid keys: ", valid.empty() ? std::string("(none)") : Join(valid, ", "));
      out[name] = CheckValue(*spec, kv.second, key, OriginOf(cfg, key));
    }
  }
  for (const auto& spec : specs) {
    if (out.count(spec.name)) continue;
    // A spec without a default text for a non-string type has no default: leave it out.
    if (spec.default_text.empty() && spec.type != ParamType::kString) continue;
    out[spec.name] = ParseParamValue(spec, spec.default_text, StrCat("default of '", section.empty() ? "" : section + ".", spec.name, "'"));
  }
  return out;
}

}  // namespace

std::map<std::string, ParamMap> ValidateConfig(const ComposedConfig& cfg, const ConfigSchema& schema) {
  const YAML::Node& root = cfg.root;
  QMOE_CHECK(root.IsMap() || root.IsNull(), "config: expected a mapping at the top level");
  static const std::vector<ParamSpec> kNone;
  const auto top_it = schema.find("");
  const std::vector<ParamSpec>& top_specs = top_it == schema.end() ? kNone : top_it->second;

  std::vector<std::string> all_top = SortedNames(top_specs);
  for (const auto& [name, specs] : schema)
    if (!name.empty()) all_top.push_back(name);
  std::sort(all_top.begin(), all_top.end());

  std::map<std::string, ParamMap> out;
  if (root.IsMap()) {
    for (const auto& kv : root) {
      const std::string name = kv.first.Scalar();
      const std::string where = OriginOf(cfg, name);
      auto sec = schema.find(name);
      if (!name.empty() && sec != schema.end()) {
        QMOE_CHECK(kv.second.IsMap(), where, ": '", name, "' must be a mapping of keys (a config section), got ",
                   kv.second.IsScalar() ? "'" + kv.second.Scalar() + "'" : std::string("a list"));
        out[name] = CheckSection(cfg, name, kv.second, sec->second);
        continue;
      }
      const ParamSpec* spec = FindSpec(top_specs, name);
      QMOE_CHECK(spec, where, ": unknown top-level key '", name, "'", DidYouMean(name, all_top), "; valid: ",
                 all_top.empty() ? std::string("(none)") : Join(all_top, ", "));
      QMOE_CHECK(!kv.second.IsMap(), where, ": top-level key '", name, "' must be a value, got a mapping");
      out[""][name] = CheckValue(*spec, kv.second, name, where);
    }
  }
  // Sections and top-level keys the config does not mention get their defaults.
  for (const auto& [name, specs] : schema) {
    if (name.empty() || out.count(name)) continue;
    out[name] = CheckSection(cfg, name, YAML::Node(), specs);
  }
  ParamMap& top = out[""];
  ParamMap defaults = CheckSection(cfg, "", YAML::Node(), top_specs);
  for (auto& [k, v] : defaults) top.emplace(k, v);
  return out;
}

}  // namespace qmoe
