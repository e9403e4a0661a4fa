// Internal to framework/config: Hydra's defaults list, turned into an ordered list of merges.
//
// Semantics follow Hydra 1.1+ (facebookresearch/hydra, hydra/_internal/defaults_list.py):
//  - a config's `defaults:` entries are `group: option`, `group: null`, `optional group: option`,
//    `override group: option`, a config name (`base`, `/abs/name`) and `_self_`; relative groups and
//    names resolve against the containing config's group folder, `/...` against the config dir;
//  - a missing `_self_` counts as last (the config's own keys win over its defaults);
//  - the entries of a list are expanded last-to-first, so an `override` in a later entry (e.g. an
//    experiment listed after `method`) can change the choice of an earlier one; an override that
//    comes too late, or matches nothing, is an Error; `override` entries must end their list;
//  - command-line group choices beat every `override` entry; `+group=opt` appends to the primary's
//    list (after its `_self_`); `~group[=opt]` removes a group;
//  - a group may be chosen once; package = the group path joined to the parent's package, unless
//    the file's `# @package` header (absolute; `_global_` = the root) says otherwise.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "framework/config/config_tree.h"

namespace qmoe::config_internal {

// The config folder and a cache of its parsed files.
class ConfigRepo {
 public:
  // Checks that `dir` is a folder; names shown to users start with its folder name ("configs/...").
  explicit ConfigRepo(const std::filesystem::path& dir);
  bool GroupExists(const std::string& group) const;
  std::vector<std::string> Options(const std::string& group) const;  // sorted option names
  std::vector<std::string> Groups() const;                             // top-level group folders
  bool ConfigExists(const std::string& config_path) const;             // "method/rtn"
  std::string Display(const std::string& config_path) const;           // "configs/method/rtn.yaml"
  std::string DisplayDir(const std::string& group) const;              // "configs/method/"
  const LoadedFile& Load(const std::string& config_path);
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::string display_root_;
  std::map<std::string, LoadedFile> cache_;
};

// A group choice made on the command line.
struct GroupOverride {
  enum class Op { kSet, kAppend, kSetOrAppend, kDelete };
  Op op = Op::kSet;
  std::string group;                  // "method"
  std::optional<std::string> option;  // nullopt = null (for kDelete: any option)
  std::string source;                 // "override 'method=gptq'"
};

struct MergeStep {
  std::string config_path;  // "method/rtn"
  std::string package;      // dotted key the file's content merges into; "" = root
};

struct DefaultsResult {
  std::vector<MergeStep> steps;                // in merge order
  std::map<std::string, std::string> choices;  // group path -> option (null groups left out)
};

DefaultsResult ExpandDefaults(ConfigRepo& repo, const std::string& primary,
                              const std::vector<GroupOverride>& group_overrides);

}  // namespace qmoe::config_internal
