// Internal to framework/config: command-line overrides (a subset of Hydra's grammar).
//
//   key.path=value   change an existing key (maps given as values merge into maps)
//   +key.path=value  add a key that must not exist yet
//   ++key.path=value add or change
//   ~key.path        delete (~key.path=value: only if the value is that)
//   group=option     (and +group=, ++group=, ~group) choose a config group option: the key names a
//                    folder of the config dir; this is decided by ComposeConfig, not here
// Values are YAML: 3, 0.5, true, null, [1,2], {a: 1}, 'quoted', "a,b"; an empty value is ''.
#pragma once
#include <string>

#include "framework/config/config_tree.h"

namespace qmoe::config_internal {

struct Override {
  enum class Op { kSet, kAdd, kForceAdd, kDelete };
  Op op = Op::kSet;
  std::string key;       // as written, without the prefix: "method.bits" or "method"
  bool has_value = false;
  CfgNode value;         // origin = Where()
  std::string raw;       // the override as given
  std::string Where() const { return "override '" + raw + "'"; }
};

// Parses one override; a malformed one (no '=', empty or odd key, bad YAML) is an Error naming it.
Override ParseOverride(const std::string& raw);

// Applies a key override (not a group choice) to the composed tree.
void ApplyOverride(CfgNode& root, const Override& o);

}  // namespace qmoe::config_internal
