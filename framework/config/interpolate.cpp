#include "framework/config/interpolate.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe::config_internal {
namespace {

struct Piece {
  bool interp = false;
  std::string text;  // literal text, or the body of ${...} (may hold nested interpolations)
};

class Resolver {
 public:
  explicit Resolver(CfgNode& root) : root_(root) {}

  void ResolveAt(const std::vector<std::string>& path) {
    const std::string key = Join(path, ".");
    if (done_.count(key)) return;
    if (auto it = std::find(stack_.begin(), stack_.end(), key); it != stack_.end()) {
      std::vector<std::string> chain(it, stack_.end());
      chain.push_back(key);
      const CfgNode* holder = FindPath(root_, SplitPath(stack_.back()));
      throw Error(StrCat("interpolation cycle in key '", stack_.back(), "' (from ", holder ? holder->origin : "?",
                         "): ", Join(chain, " -> ")));
    }
    stack_.push_back(key);
    CfgNode* node = FindPath(root_, path);
    QMOE_ASSERT(node, "resolving a missing key ", key);
    if (node->IsScalar() && node->text.find("${") != std::string::npos) {
      CfgNode resolved = Substitute(path, node->text, node->origin);
      *FindPath(root_, path) = std::move(resolved);
    } else if (node->IsMap()) {
      for (const auto& k : node->Keys()) {
        auto child = path;
        child.push_back(k);
        ResolveAt(child);
      }
    } else if (node->kind == CfgNode::Kind::kSeq) {
      size_t n = node->seq.size();
      for (size_t i = 0; i < n; ++i) {
        auto child = path;
        child.push_back(std::to_string(i));
        ResolveAt(child);
      }
    }
    stack_.pop_back();
    done_.insert(key);
  }

 private:
  static std::vector<std::string> SplitPath(const std::string& key) {
    return key.empty() ? std::vector<std::string>{} : Split(key, '.');
  }

  // Splits `s` into literal text and ${...} bodies; `\${` is a literal "${".
  std::vector<Piece> Parse(const std::string& s, const std::string& key, const std::string& origin) const {
    std::vector<Piece> out;
    auto literal = [&](const std::string& t) {
      if (out.empty() || out.back().interp) out.push_back({false, ""});
      out.back().text += t;
    };
    for (size_t i = 0; i < s.size();) {
      if (s.compare(i, 3, "\\${") == 0) {
        literal("${");
        i += 3;
      } else if (s.compare(i, 2, "${") == 0) {
        int depth = 1;
        size_t j = i + 2;
        for (; j < s.size() && depth > 0; ++j) {
          if (s.compare(j, 2, "${") == 0) {
            ++depth, ++j;
            QMOE_CHECK(depth <= static_cast<int>(kMaxConfigDepth), "interpolation in key '", key, "' (from ", origin,
                       ") nests deeper than ", kMaxConfigDepth, " levels");
          }
          else if (s[j] == '}') --depth;
        }
        QMOE_CHECK(depth == 0, "unterminated interpolation in key '", key, "' (from ", origin, "): '", s, "'");
        out.push_back({true, s.substr(i + 2, j - i - 3)});
        i = j;
      } else {
        literal(std::string(1, s[i]));
        ++i;
      }
    }
    return out;
  }

  CfgNode Substitute(const std::vector<std::string>& path, const std::string& text, const std::string& origin) {
    const std::string key = Join(path, ".");
    std::vector<Piece> pieces = Parse(text, key, origin);
    if (pieces.size() == 1 && pieces[0].interp) {
      CfgNode copy = Lookup(path, pieces[0].text, origin);
      size_t depth = 0;
      copied_ += CountNodes(copy, &depth);
      QMOE_CHECK(copied_ <= kMaxConfigNodes && path.size() + depth <= kMaxConfigDepth, "interpolation in key '", key,
                 "' (from ", origin, ") makes the config larger than ", kMaxConfigNodes, " nodes or deeper than ",
                 kMaxConfigDepth, " levels");
      copy.SetOriginDeep(origin);
      return copy;
    }
    return MakeScalar(ExpandText(path, pieces, origin), false, origin);
  }

  std::string ExpandText(const std::vector<std::string>& path, const std::vector<Piece>& pieces,
                         const std::string& origin) {
    std::string out;
    for (const auto& p : pieces) {
      if (!p.interp) {
        out += p.text;
        continue;
      }
      CfgNode v = Lookup(path, p.text, origin);
      QMOE_CHECK(v.kind == CfgNode::Kind::kScalar || v.kind == CfgNode::Kind::kNull, "interpolation '${", p.text,
                 "}' inside the string of key '", Join(path, "."), "' (from ", origin, ") refers to a ",
                 v.IsMap() ? "mapping" : "list", "; only a whole value '${...}' can copy a mapping or list");
      out += v.IsScalar() ? v.text : "null";
      QMOE_CHECK(out.size() <= kMaxConfigScalarBytes, "interpolation in key '", Join(path, "."), "' (from ", origin,
                 ") builds a string longer than ", kMaxConfigScalarBytes, " bytes");
    }
    return out;
  }

  // The value of one ${body} seen from the key `path`.
  CfgNode Lookup(const std::vector<std::string>& path, const std::string& raw_body, const std::string& origin) {
    const std::string key = Join(path, ".");
    std::string body = Trim(ExpandText(path, Parse(raw_body, key, origin), origin));
    auto where = [&] { return StrCat("'${", raw_body, "}' in key '", key, "' (from ", origin, ")"); };
    if (body.rfind("oc.env:", 0) == 0) return Env(body.substr(7), where());
    QMOE_CHECK(body.find(':') == std::string::npos, "Could not resolve ", where(),
               ": unknown resolver (only oc.env is supported)");
    QMOE_CHECK(!body.empty(), "Could not resolve ", where(), ": empty key");

    std::vector<std::string> target;
    std::string rest = body;
    if (body[0] == '.') {
      size_t dots = body.find_first_not_of('.');
      if (dots == std::string::npos) dots = body.size();
      QMOE_CHECK(dots <= path.size(), "Could not resolve ", where(), ": too many leading dots");
      target.assign(path.begin(), path.end() - dots);
      rest = body.substr(dots);
    }
    if (!rest.empty()) {
      for (const auto& part : Split(rest, '.')) {
        QMOE_CHECK(!part.empty(), "Could not resolve ", where(), ": empty key part");
        target.push_back(part);
      }
    }
    const CfgNode* t = FindPath(root_, target);
    if (!t) {
      std::vector<std::string> parent_path(target.begin(), target.end() - (target.empty() ? 0 : 1));
      const CfgNode* parent = FindPath(root_, parent_path);
      std::string hint = parent && parent->IsMap() && !target.empty() ? DidYouMean(target.back(), parent->Keys()) : "";
      throw Error(StrCat("Could not resolve ", where(), ": key '", Join(target, "."), "' not found", hint));
    }
    ResolveAt(target);
    return *FindPath(root_, target);
  }

  static CfgNode Env(const std::string& args, const std::string& where) {
    size_t comma = args.find(',');
    std::string name = Trim(args.substr(0, comma));
    QMOE_CHECK(!name.empty(), "Could not resolve ", where, ": oc.env needs a variable name");
    if (const char* v = std::getenv(name.c_str())) return MakeScalar(v, false, "");
    QMOE_CHECK(comma != std::string::npos, "Could not resolve ", where, ": environment variable '", name,
               "' is not set (give a default: ${oc.env:", name, ",default})");
    std::string def = Trim(args.substr(comma + 1));
    if (def.size() >= 2 && (def.front() == '\'' || def.front() == '"') && def.back() == def.front())
      def = def.substr(1, def.size() - 2);
    return MakeScalar(def, false, "");
  }

  CfgNode& root_;
  std::set<std::string> done_;
  size_t copied_ = 0;  // nodes copied by whole-value interpolations
  std::vector<std::string> stack_;
};

}  // namespace

void ResolveInterpolations(CfgNode& root) { Resolver(root).ResolveAt({}); }

}  // namespace qmoe::config_internal
