// Hydra-style configuration with yaml-cpp.
//
//   configs/config.yaml        primary config: a `defaults:` list plus top-level keys
//   configs/<group>/<opt>.yaml one file per option of a group (model/, method/, data/, eval/, experiment/)
//
// Overrides (command line):  key=value   group=option   +new.key=value   ++key=value   ~key
// Values may use ${other.key} interpolation, resolved after composition.
// Sweep values (a,b,c and range(a,b[,step])) are expanded by the sweep runner, not here.
#pragma once
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "framework/core/params.h"

namespace qmoe {

struct ComposedConfig {
  YAML::Node root;                              // resolved tree (interpolations substituted)
  // Dotted key (mappings included, list elements not) -> where its final value was set: a file
  // relative to config_dir's parent ("configs/method/rtn.yaml") or "override 'method.bits=2'".
  std::map<std::string, std::string> origin;
  std::map<std::string, std::string> choices;   // group -> chosen option, e.g. "method" -> "rtn"
  std::vector<std::string> overrides;           // the overrides as given
};

// Composes `primary`.yaml from `config_dir` with its defaults list and applies `overrides`.
// Errors (qmoe::Error) name the file or override: malformed YAML, missing group option (with the
// nearest existing option), an override of a key that does not exist (with the nearest key; use
// '+' to add), unresolvable interpolation, interpolation cycles.
ComposedConfig ComposeConfig(const std::filesystem::path& config_dir,
                             const std::vector<std::string>& overrides,
                             const std::string& primary = "config");

// The schema of a config: per section (a top-level mapping such as "method"), the allowed keys.
// Section "" holds the allowed top-level scalar keys. A section absent from the schema is unknown.
using ConfigSchema = std::map<std::string, std::vector<ParamSpec>>;

// Strict validation: an unknown key or a wrong type throws qmoe::Error naming the file (from
// `origin`), the key, and the nearest valid key. Returns the typed values per section ("" = the
// top-level keys); every schema section is present, keys the config lacks get their spec default.
// Lists/mappings are accepted only for string keys (as flow YAML text, e.g. "[1, 2]"); null is ""
// for a string key and an error otherwise.
std::map<std::string, ParamMap> ValidateConfig(const ComposedConfig& cfg, const ConfigSchema& schema);

// Canonical YAML text of a node: keys sorted at every level, block style, quoted strings that read
// as numbers/bools stay quoted. Equal configs give equal text. Used for run keys and `config show`.
std::string CanonicalYaml(const YAML::Node& node);
// Flattens scalar leaves to "a.b.c" -> "value"; a list (or empty mapping) is one leaf in flow YAML.
std::map<std::string, std::string> FlattenConfig(const YAML::Node& node);

}  // namespace qmoe
