#include "framework/config/config_tree.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/io/bounded_read.h"

namespace qmoe::config_internal {

CfgNode* CfgNode::Find(const std::string& key) {
  for (auto& [k, v] : map)
    if (k == key) return &v;
  return nullptr;
}

const CfgNode* CfgNode::Find(const std::string& key) const {
  for (const auto& [k, v] : map)
    if (k == key) return &v;
  return nullptr;
}

CfgNode& CfgNode::GetOrAdd(const std::string& key) {
  if (CfgNode* n = Find(key)) return *n;
  map.emplace_back(key, CfgNode{});
  return map.back().second;
}

bool CfgNode::Erase(const std::string& key) {
  auto it = std::find_if(map.begin(), map.end(), [&](const auto& kv) { return kv.first == key; });
  if (it == map.end()) return false;
  map.erase(it);
  return true;
}

std::vector<std::string> CfgNode::Keys() const {
  std::vector<std::string> keys;
  for (const auto& kv : map) keys.push_back(kv.first);
  return keys;
}

void CfgNode::SetOriginDeep(const std::string& o) {
  origin = o;
  for (auto& kv : map) kv.second.SetOriginDeep(o);
  for (auto& c : seq) c.SetOriginDeep(o);
}

CfgNode MakeMap(const std::string& origin) {
  CfgNode n;
  n.kind = CfgNode::Kind::kMap;
  n.origin = origin;
  return n;
}

CfgNode MakeScalar(const std::string& text, bool quoted, const std::string& origin) {
  CfgNode n;
  n.kind = CfgNode::Kind::kScalar;
  n.text = text;
  n.quoted = quoted;
  n.origin = origin;
  return n;
}

namespace {

CfgNode FromYamlCapped(const YAML::Node& y, const std::string& origin, size_t depth, size_t* nodes) {
  QMOE_CHECK(++*nodes <= kMaxConfigNodes && depth <= kMaxConfigDepth, origin, ": the YAML expands to more than ",
             kMaxConfigNodes, " nodes or nests deeper than ", kMaxConfigDepth,
             " levels (aliases of aliases, or an alias inside its own anchor?)");
  // Only untagged nodes ("?" plain, "!" quoted): a tag such as "!x ~" would make a scalar's meaning
  // differ between this reader and the canonical writer (found by fuzz/config_fuzz).
  QMOE_CHECK(y.Tag().empty() || y.Tag() == "?" || y.Tag() == "!", origin, ":", y.Mark().line + 1, ": YAML tag '",
             y.Tag(), "' is not supported in configs; write the value without a tag");
  CfgNode n;
  n.origin = origin;
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      n.kind = CfgNode::Kind::kNull;
      break;
    case YAML::NodeType::Scalar:
      n.kind = CfgNode::Kind::kScalar;
      n.text = y.Scalar();
      n.quoted = y.Tag() == "!";
      break;
    case YAML::NodeType::Sequence:
      n.kind = CfgNode::Kind::kSeq;
      for (const auto& c : y) n.seq.push_back(FromYamlCapped(c, origin, depth + 1, nodes));
      break;
    case YAML::NodeType::Map:
      n.kind = CfgNode::Kind::kMap;
      for (const auto& kv : y) {
        QMOE_CHECK(kv.first.IsScalar(), origin, ":", kv.first.Mark().line + 1, ": mapping keys must be ",
                   "plain strings");
        std::string key = kv.first.Scalar();
        QMOE_CHECK(!key.empty() && key.find('.') == std::string::npos, origin, ":", kv.first.Mark().line + 1,
                   ": mapping key '", key, "' must be non-empty and without '.' (keys are joined by '.' in paths)");
        if (CfgNode* existing = n.Find(key)) {
          *existing = FromYamlCapped(kv.second, origin, depth + 1, nodes);  // YAML says keys are unique; the last one wins
        } else {
          n.map.emplace_back(key, FromYamlCapped(kv.second, origin, depth + 1, nodes));
        }
      }
      break;
  }
  return n;
}

}  // namespace

CfgNode FromYaml(const YAML::Node& y, const std::string& origin) {
  size_t nodes = 0;
  return FromYamlCapped(y, origin, 0, &nodes);
}

size_t CountNodes(const CfgNode& n, size_t* depth) {
  size_t count = 1, below = 0;
  auto child = [&](const CfgNode& c) {
    size_t d = 0;
    count += CountNodes(c, &d);
    below = std::max(below, d + 1);
  };
  for (const auto& kv : n.map) child(kv.second);
  for (const auto& c : n.seq) child(c);
  *depth = below;
  return count;
}

YAML::Node ToYaml(const CfgNode& n) {
  switch (n.kind) {
    case CfgNode::Kind::kNull:
      return YAML::Node(YAML::NodeType::Null);
    case CfgNode::Kind::kScalar: {
      YAML::Node y(n.text);
      if (n.quoted) y.SetTag("!");
      return y;
    }
    case CfgNode::Kind::kSeq: {
      YAML::Node y(YAML::NodeType::Sequence);
      for (const auto& c : n.seq) y.push_back(ToYaml(c));
      return y;
    }
    case CfgNode::Kind::kMap: {
      YAML::Node y(YAML::NodeType::Map);
      for (const auto& [k, v] : n.map) y[k] = ToYaml(v);
      return y;
    }
  }
  return YAML::Node();
}

void CheckUtf8(const std::string& text, const std::string& what) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= n && !(len == 2 && c < 0xc2);
    for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xc0) == 0x80;
    if (ok && len == 3) {
      const unsigned cp = ((c & 0x0fu) << 12) | ((p[i + 1] & 0x3fu) << 6) | (p[i + 2] & 0x3fu);
      ok = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
    }
    if (ok && len == 4) {
      const unsigned cp = ((c & 0x07u) << 18) | ((p[i + 1] & 0x3fu) << 12) | ((p[i + 2] & 0x3fu) << 6) | (p[i + 3] & 0x3fu);
      ok = cp >= 0x10000 && cp <= 0x10ffff;
    }
    QMOE_CHECK(ok, what, ": byte ", i, " is not valid UTF-8 (YAML text must be UTF-8)");
    i += len;
  }
}

LoadedFile LoadYamlFile(const std::filesystem::path& path, const std::string& display) {
  std::string text;
  try {
    text = ReadFileBounded(path, kMaxConfigFileBytes, "config file");
  } catch (const Error& e) {
    throw Error(StrCat(display, ": ", e.what()));
  }

  CheckUtf8(text, display);
  LoadedFile f;
  // Hydra reads the package from the leading comment block: "# @package <pkg>".
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::string t = Trim(line);
    if (t.empty()) continue;
    if (t[0] != '#') break;
    std::string body = Trim(t.substr(1));
    if (body.rfind("@package", 0) == 0) {
      f.package_header = Trim(body.substr(8));
      QMOE_CHECK(!f.package_header.empty(), display, ": '# @package' header names no package");
      break;
    }
  }
  try {
    f.root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(StrCat(display, ":", e.mark.line + 1, ":", e.mark.column + 1, ": malformed YAML: ", e.msg));
  }
  QMOE_CHECK(f.root.IsNull() || f.root.IsMap(), display, ": expected a mapping at the top level, got a ",
             f.root.IsSequence() ? "list" : "scalar");
  return f;
}

void MergeInto(CfgNode& dst, const CfgNode& src) {
  if (dst.IsMap() && src.IsMap()) {
    dst.origin = src.origin;
    for (const auto& [k, v] : src.map) {
      if (CfgNode* d = dst.Find(k)) {
        MergeInto(*d, v);
      } else {
        dst.map.emplace_back(k, v);
      }
    }
    return;
  }
  dst = src;
}

std::vector<std::string> SplitKey(const std::string& dotted, const std::string& what) {
  std::vector<std::string> parts = Split(dotted, '.');
  for (const auto& p : parts) QMOE_CHECK(!p.empty(), what, ": empty key part in '", dotted, "'");
  return parts;
}

namespace {
template <class Node>
Node* FindPathImpl(Node& root, const std::vector<std::string>& path) {
  Node* cur = &root;
  for (const auto& part : path) {
    if (cur->IsMap()) {
      cur = cur->Find(part);
    } else if (cur->kind == CfgNode::Kind::kSeq) {
      if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos) return nullptr;
      size_t i = std::stoull(part);
      if (i >= cur->seq.size()) return nullptr;
      cur = &cur->seq[i];
    } else {
      return nullptr;
    }
    if (!cur) return nullptr;
  }
  return cur;
}

std::string FlowScalar(const CfgNode& n) {
  const std::string& t = n.text;
  bool needs_quotes = t.empty() || (n.quoted && LooksNonString(t)) ||
                      t.find_first_of(",[]{}#:&*!|>'\"%@`") != std::string::npos || t != Trim(t);
  if (!needs_quotes) return t;
  std::string out = "'";
  for (char c : t) out += (c == '\'') ? std::string("''") : std::string(1, c);
  return out + "'";
}
}  // namespace

const CfgNode* FindPath(const CfgNode& root, const std::vector<std::string>& path) {
  return FindPathImpl(root, path);
}
CfgNode* FindPath(CfgNode& root, const std::vector<std::string>& path) { return FindPathImpl(root, path); }

std::string FlowText(const CfgNode& n) {
  switch (n.kind) {
    case CfgNode::Kind::kNull:
      return "null";
    case CfgNode::Kind::kScalar:
      return FlowScalar(n);
    case CfgNode::Kind::kSeq: {
      std::vector<std::string> items;
      for (const auto& c : n.seq) items.push_back(FlowText(c));
      return "[" + Join(items, ", ") + "]";
    }
    case CfgNode::Kind::kMap: {
      std::vector<std::pair<std::string, const CfgNode*>> kv;
      for (const auto& [k, v] : n.map) kv.emplace_back(k, &v);
      std::sort(kv.begin(), kv.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      std::vector<std::string> items;
      for (const auto& [k, v] : kv) items.push_back(k + ": " + FlowText(*v));
      return "{" + Join(items, ", ") + "}";
    }
  }
  return "";
}

bool LooksNonString(const std::string& t) {
  // YAML 1.1 and 1.2 core-schema spellings that yaml-cpp's readers accept as non-strings.
  static const std::regex kNonString(
      R"(~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N)"
      R"(|[-+]?[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+)"
      R"(|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)"
      R"(|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))");
  return t.empty() || std::regex_match(t, kNonString);
}

}  // namespace qmoe::config_internal
