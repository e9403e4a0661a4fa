// ComposeConfig: defaults list -> merged tree -> key overrides -> interpolation -> origins.
#include <filesystem>

#include "framework/config/config.h"
#include "framework/config/config_tree.h"
#include "framework/config/defaults_list.h"
#include "framework/config/interpolate.h"
#include "framework/config/overrides.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

using config_internal::CfgNode;
using config_internal::GroupOverride;
using config_internal::Override;

// The node at dotted `package` (created as an empty mapping if absent).
CfgNode& PackageNode(CfgNode& root, const std::string& package, const std::string& origin) {
  CfgNode* cur = &root;
  if (package.empty()) return *cur;
  for (const auto& part : Split(package, '.')) {
    CfgNode* next = cur->Find(part);
    if (!next) next = &cur->GetOrAdd(part);
    if (!next->IsMap()) *next = config_internal::MakeMap(origin);
    cur = next;
  }
  return *cur;
}

void CollectOrigins(const CfgNode& n, const std::string& prefix, std::map<std::string, std::string>& out) {
  for (const auto& [k, v] : n.map) {
    std::string key = prefix.empty() ? k : prefix + "." + k;
    out[key] = v.origin;
    if (v.IsMap()) CollectOrigins(v, key, out);
  }
}

// A group choice if `o` names a folder of the config dir and its value is an option name or null.
bool IsGroupOverride(const config_internal::ConfigRepo& repo, const Override& o) {
  if (o.key.find('.') != std::string::npos || !repo.GroupExists(o.key)) return false;
  if (!o.has_value) return true;  // ~group
  if (o.value.IsMap()) return false;  // group={a: 1} sets keys, as in Hydra
  QMOE_CHECK(o.value.kind != CfgNode::Kind::kSeq, o.Where(), ": '", o.key,
             "' is a config group; choose one option (lists of options are not supported)");
  return true;
}

}  // namespace

namespace {
ComposedConfig Compose(const fs::path& config_dir, const std::vector<std::string>& overrides,
                       const std::string& primary);
}  // namespace

ComposedConfig ComposeConfig(const fs::path& config_dir, const std::vector<std::string>& overrides,
                             const std::string& primary) {
  // Every known bad input has its own clear Error; this keeps anything missed (a yaml-cpp conversion,
  // a file-system error) an Error too, never an abort.
  try {
    return Compose(config_dir, overrides, primary);
  } catch (const YAML::Exception& e) {
    throw Error(StrCat(config_dir.string(), ": cannot compose the config: ", e.what()));
  } catch (const fs::filesystem_error& e) {
    throw Error(StrCat(config_dir.string(), ": cannot compose the config: ", e.what()));
  }
}

namespace {

ComposedConfig Compose(const fs::path& config_dir, const std::vector<std::string>& overrides,
                       const std::string& primary) {
  config_internal::ConfigRepo repo(config_dir);

  std::vector<Override> key_overrides;
  std::vector<GroupOverride> group_overrides;
  for (const auto& raw : overrides) {
    Override o = config_internal::ParseOverride(raw);
    if (!IsGroupOverride(repo, o)) {
      key_overrides.push_back(std::move(o));
      continue;
    }
    GroupOverride g;
    g.group = o.key;
    g.source = o.Where();
    if (o.has_value && o.value.IsScalar()) g.option = o.value.text;
    switch (o.op) {
      case Override::Op::kSet: g.op = GroupOverride::Op::kSet; break;
      case Override::Op::kAdd: g.op = GroupOverride::Op::kAppend; break;
      case Override::Op::kForceAdd: g.op = GroupOverride::Op::kSetOrAppend; break;
      case Override::Op::kDelete: g.op = GroupOverride::Op::kDelete; break;
    }
    QMOE_CHECK(g.op == GroupOverride::Op::kDelete || !o.has_value || o.value.IsScalar() ||
                   o.value.kind == CfgNode::Kind::kNull,
               o.Where(), ": expected an option name for group '", o.key, "'");
    group_overrides.push_back(std::move(g));
  }

  config_internal::DefaultsResult defaults = config_internal::ExpandDefaults(repo, primary, group_overrides);

  CfgNode root = config_internal::MakeMap(repo.Display(primary));
  for (const auto& step : defaults.steps) {
    const std::string display = repo.Display(step.config_path);
    const YAML::Node& y = repo.Load(step.config_path).root;
    CfgNode content = config_internal::FromYaml(y, display);
    if (content.kind == CfgNode::Kind::kNull) content = config_internal::MakeMap(display);
    content.Erase("defaults");
    config_internal::MergeInto(PackageNode(root, step.package, display), content);
  }
  for (const auto& o : key_overrides) config_internal::ApplyOverride(root, o);
  config_internal::ResolveInterpolations(root);

  ComposedConfig cfg;
  cfg.root = config_internal::ToYaml(root);
  CollectOrigins(root, "", cfg.origin);
  cfg.choices = defaults.choices;
  cfg.overrides = overrides;
  return cfg;
}

}  // namespace

}  // namespace qmoe
