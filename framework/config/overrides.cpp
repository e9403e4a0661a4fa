#include "framework/config/overrides.h"

#include <regex>

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe::config_internal {
namespace {

std::string Dotted(const std::vector<std::string>& parts, size_t n) {
  return Join(std::vector<std::string>(parts.begin(), parts.begin() + n), ".");
}

bool SameValue(const CfgNode& a, const CfgNode& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case CfgNode::Kind::kNull: return true;
    case CfgNode::Kind::kScalar: return a.text == b.text;
    case CfgNode::Kind::kSeq:
      if (a.seq.size() != b.seq.size()) return false;
      for (size_t i = 0; i < a.seq.size(); ++i)
        if (!SameValue(a.seq[i], b.seq[i])) return false;
      return true;
    case CfgNode::Kind::kMap:
      if (a.map.size() != b.map.size()) return false;
      for (const auto& [k, v] : a.map) {
        const CfgNode* w = b.Find(k);
        if (!w || !SameValue(v, *w)) return false;
      }
      return true;
  }
  return false;
}

// "key not found in 'method' (from configs/method/rtn.yaml); did you mean 'method.bits'?"
std::string NotFound(const CfgNode& root, const std::vector<std::string>& path) {
  const CfgNode* cur = &root;
  size_t depth = 0;
  while (depth + 1 < path.size()) {
    const CfgNode* next = FindPath(*cur, {path[depth]});
    if (!next) break;
    cur = next;
    ++depth;
  }
  std::string section = depth == 0 ? std::string("the root config") : "'" + Dotted(path, depth) + "'";
  if (!cur->IsMap() && depth > 0) {
    return StrCat("'", Dotted(path, depth), "' is a ",
                  cur->kind == CfgNode::Kind::kSeq ? "list" : "value", ", not a mapping (from ", cur->origin, ")");
  }
  std::string msg = StrCat("key not found in ", section, " (from ", cur->origin, ")");
  std::string near = NearestName(path[depth], cur->Keys());
  if (!near.empty()) msg += StrCat("; did you mean '", depth ? Dotted(path, depth) + "." : "", near, "'?");
  return msg;
}

// Creates the parents of `path` as needed and stores `value` at it.
void Insert(CfgNode& root, const std::vector<std::string>& path, const CfgNode& value, const Override& o) {
  CfgNode* cur = &root;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    CfgNode* next = cur->Find(path[i]);
    if (!next) {
      next = &cur->GetOrAdd(path[i]);
      *next = MakeMap(o.Where());
    }
    QMOE_CHECK(next->IsMap(), o.Where(), ": cannot add '", o.key, "': '", Dotted(path, i + 1),
               "' is not a mapping (from ", next->origin, ")");
    cur = next;
  }
  cur->GetOrAdd(path.back()) = value;
}

}  // namespace

Override ParseOverride(const std::string& raw_in) {
  Override o;
  o.raw = raw_in;
  std::string s = Trim(raw_in);
  auto bad = [&](const std::string& why) { return Error(StrCat("malformed override '", raw_in, "': ", why)); };
  CheckUtf8(raw_in, "override '" + raw_in + "'");
  if (s.rfind("++", 0) == 0) {
    o.op = Override::Op::kForceAdd;
    s = s.substr(2);
  } else if (s.rfind("+", 0) == 0) {
    o.op = Override::Op::kAdd;
    s = s.substr(1);
  } else if (s.rfind("~", 0) == 0) {
    o.op = Override::Op::kDelete;
    s = s.substr(1);
  }
  size_t eq = s.find('=');
  o.has_value = eq != std::string::npos;
  o.key = Trim(s.substr(0, eq));
  if (!o.has_value && o.op != Override::Op::kDelete) throw bad("expected key=value (or ~key to delete)");
  if (o.key.empty()) throw bad("empty key");
  static const std::regex kKey(R"([A-Za-z0-9_\-/]+(\.[A-Za-z0-9_\-/]+)*)");
  if (!std::regex_match(o.key, kKey))
    throw bad(StrCat("key '", o.key, "' must be dotted names of letters, digits, '_', '-' or '/'"));
  if (!o.has_value) return o;

  std::string text = Trim(s.substr(eq + 1));
  if (text.empty()) {
    o.value = MakeScalar("", true, o.Where());  // key= sets the empty string, as in Hydra
    return o;
  }
  YAML::Node y;
  try {
    y = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw bad(StrCat("value '", text, "' is not valid YAML (column ", e.mark.column + 1, ": ", e.msg, ")"));
  }
  static const std::regex kNull(R"(~|null|Null|NULL)");
  if (y.IsNull() && !std::regex_match(text, kNull)) {
    o.value = MakeScalar(text, true, o.Where());  // e.g. "#tag": YAML would read a comment
  } else {
    o.value = FromYaml(y, o.Where());
  }
  return o;
}

void ApplyOverride(CfgNode& root, const Override& o) {
  const std::vector<std::string> path = SplitKey(o.key, o.Where());
  CfgNode* target = FindPath(root, path);
  switch (o.op) {
    case Override::Op::kSet:
      if (!target) {
        std::string why = NotFound(root, path);
        // '+' can only help when the missing key's parent is a mapping.
        const CfgNode* parent = FindPath(root, std::vector<std::string>(path.begin(), path.end() - 1));
        std::string hint = parent && parent->IsMap()
                               ? StrCat(why.back() == '?' ? " " : ". ", "To add it use +", o.key, "=", FlowText(o.value))
                               : std::string();
        throw Error(StrCat("Could not override '", o.key, "' (", o.Where(), "): ", why, hint));
      }
      if (target->IsMap() && o.value.IsMap()) {
        MergeInto(*target, o.value);
      } else {
        *target = o.value;
      }
      return;
    case Override::Op::kAdd:
      QMOE_CHECK(!target, o.Where(), ": Could not add '", o.key, "': it already exists (from ", target->origin,
                 "). To change it use ", o.key, "=", FlowText(o.value), " (or ++", o.key, "=... to add or change)");
      Insert(root, path, o.value, o);
      return;
    case Override::Op::kForceAdd:
      if (target && target->IsMap() && o.value.IsMap()) {
        MergeInto(*target, o.value);
      } else if (target) {
        *target = o.value;
      } else {
        Insert(root, path, o.value, o);
      }
      return;
    case Override::Op::kDelete: {
      QMOE_CHECK(target, "Could not delete '", o.key, "' (", o.Where(), "): ", NotFound(root, path));
      if (o.has_value)
        QMOE_CHECK(SameValue(*target, o.value), "Could not delete '", o.key, "' (", o.Where(), "): its value is ",
                   FlowText(*target), " (from ", target->origin, "), not ", FlowText(o.value));
      CfgNode* parent = FindPath(root, std::vector<std::string>(path.begin(), path.end() - 1));
      QMOE_CHECK(parent && parent->IsMap(), o.Where(), ": can only delete keys of a mapping");
      parent->Erase(path.back());
      return;
    }
  }
}

}  // namespace qmoe::config_internal
