// CanonicalYaml and FlattenConfig: deterministic text of a config, for run keys and the DB.
#include <algorithm>

#include "framework/config/config.h"
#include "framework/config/config_tree.h"

namespace qmoe {
namespace {

// Keys sorted. (Never sort YAML::Node values themselves: their operator= writes through to the
// referenced node instead of rebinding, so std::sort would scramble the tree.)
std::vector<std::string> SortedKeys(const YAML::Node& map) {
  std::vector<std::string> keys;
  for (const auto& e : map) keys.push_back(e.first.Scalar());
  std::sort(keys.begin(), keys.end());
  return keys;
}

// yaml-cpp writes a scalar with a control character (e.g. "2:\r") plain, which does not read back;
// double quotes escape it.
bool HasControl(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 0 && c < 0x20 && c != '\t'; });
}

void Emit(YAML::Emitter& out, const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out << YAML::Null;
      break;
    case YAML::NodeType::Scalar:
      // A quoted string that reads like a number/bool/null stays quoted so that it stays a string.
      if (n.Tag() == "!" && config_internal::LooksNonString(n.Scalar())) out << YAML::SingleQuoted;
      if (HasControl(n.Scalar())) out << YAML::DoubleQuoted;
      out << n.Scalar();
      break;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& c : n) Emit(out, c);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (const auto& k : SortedKeys(n)) {
        out << YAML::Key;
        if (HasControl(k)) out << YAML::DoubleQuoted;
        out << k << YAML::Value;
        Emit(out, n[k]);  // const lookup: inserts nothing
      }
      out << YAML::EndMap;
      break;
  }
}

void Flatten(const YAML::Node& n, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (n.IsMap() && n.size() > 0) {
    for (const auto& e : n) Flatten(e.second, prefix.empty() ? e.first.Scalar() : prefix + "." + e.first.Scalar(), out);
    return;
  }
  if (prefix.empty()) return;
  out[prefix] = n.IsScalar() ? n.Scalar() : config_internal::FlowText(config_internal::FromYaml(n, ""));
}

}  // namespace

std::string CanonicalYaml(const YAML::Node& node) {
  YAML::Emitter out;
  out << YAML::LowerNull << YAML::Block;
  Emit(out, node);
  return out.c_str();
}

std::map<std::string, std::string> FlattenConfig(const YAML::Node& node) {
  std::map<std::string, std::string> out;
  Flatten(node, "", out);
  return out;
}

}  // namespace qmoe
