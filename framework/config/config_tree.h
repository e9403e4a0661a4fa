// Internal to framework/config: the tree that composition works on.
//
// Design: composition merges, overrides, deletes and interpolates, and must remember for every
// node which file or override set it. yaml-cpp nodes are reference-counted aliases (assigning one
// node to another can silently link them, and operator[] on a non-const node inserts keys), so the
// composer converts each file once into this plain value tree, works on it, and converts back.
#pragma once
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace qmoe::config_internal {

struct CfgNode {
  enum class Kind { kNull, kScalar, kMap, kSeq };
  Kind kind = Kind::kNull;
  std::string text;    // kScalar: the scalar's text
  bool quoted = false; // kScalar: was quoted in the source, i.e. a string even if it reads as a number
  std::vector<std::pair<std::string, CfgNode>> map;  // kMap, in insertion order
  std::vector<CfgNode> seq;                          // kSeq
  std::string origin;  // the file ("configs/method/rtn.yaml") or override that set this node

  bool IsMap() const { return kind == Kind::kMap; }
  bool IsScalar() const { return kind == Kind::kScalar; }
  CfgNode* Find(const std::string& key);
  const CfgNode* Find(const std::string& key) const;
  CfgNode& GetOrAdd(const std::string& key);  // the node must be a map
  bool Erase(const std::string& key);
  std::vector<std::string> Keys() const;
  void SetOriginDeep(const std::string& o);   // this node and every descendant
};

CfgNode MakeMap(const std::string& origin);
CfgNode MakeScalar(const std::string& text, bool quoted, const std::string& origin);

// Caps on one composed config (YAML aliases and interpolation can copy subtrees, so a small file
// could otherwise expand exponentially or nest without end): nodes, nesting depth, and the length
// of a scalar built by string interpolation.
constexpr size_t kMaxConfigNodes = 1u << 17;
constexpr size_t kMaxConfigDepth = 128;
constexpr size_t kMaxConfigScalarBytes = 1u << 20;

// Nodes and nesting depth of a tree (a scalar: 1 node, depth 0).
size_t CountNodes(const CfgNode& n, size_t* depth);

// Converts a parsed YAML node; every node gets `origin`. Non-scalar mapping keys are an Error, and
// so is a tree over the caps above (e.g. aliases of aliases, or an alias inside its own anchor).
CfgNode FromYaml(const YAML::Node& n, const std::string& origin);
// Converts back; quoted scalars keep yaml-cpp's "!" tag so CanonicalYaml can keep them strings.
YAML::Node ToYaml(const CfgNode& n);

// One YAML file: its `# @package` header (empty if none) and its content.
struct LoadedFile {
  std::string package_header;  // e.g. "_global_"
  YAML::Node root;             // Null for an empty file
};
// Throws an Error naming `what` and the byte offset unless `text` is valid UTF-8 (YAML text must be;
// the emitter would otherwise turn bad bytes into U+FFFD and change the config's meaning).
void CheckUtf8(const std::string& text, const std::string& what);

// Reads and parses `path`; malformed YAML is one Error naming `display` (the path shown to users),
// line and column.
LoadedFile LoadYamlFile(const std::filesystem::path& path, const std::string& display);

// Deep merge of `src` into `dst`: maps merge key by key, anything else replaces.
void MergeInto(CfgNode& dst, const CfgNode& src);

// "a.b.c" -> {"a","b","c"}; an empty part is an Error naming `what`.
std::vector<std::string> SplitKey(const std::string& dotted, const std::string& what);

// Walks `path` from `root`: maps by key, sequences by decimal index. nullptr if absent.
const CfgNode* FindPath(const CfgNode& root, const std::vector<std::string>& path);
CfgNode* FindPath(CfgNode& root, const std::vector<std::string>& path);

// The text of a node as flow YAML: scalars as themselves, lists as "[1, 2]", maps as "{a: 1}".
std::string FlowText(const CfgNode& n);

// True if the plain scalar `text` would be read by YAML as null, bool, int or float.
bool LooksNonString(const std::string& text);

}  // namespace qmoe::config_internal
