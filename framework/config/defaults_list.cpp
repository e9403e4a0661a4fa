#include "framework/config/defaults_list.h"

#include <algorithm>

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace fs = std::filesystem;

namespace qmoe::config_internal {

ConfigRepo::ConfigRepo(const fs::path& dir) : dir_(dir) {
  QMOE_CHECK(fs::is_directory(dir_), "config directory '", dir_.string(), "' does not exist or is not a folder");
  fs::path norm = fs::weakly_canonical(fs::absolute(dir_));
  display_root_ = norm.filename().string();
  if (display_root_.empty()) display_root_ = norm.string();
}

bool ConfigRepo::GroupExists(const std::string& group) const {
  std::error_code ec;  // a name from a config or override may be too long or odd for the file system
  return !group.empty() && fs::is_directory(dir_ / group, ec);
}

std::vector<std::string> ConfigRepo::Options(const std::string& group) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_ / group, ec))
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> ConfigRepo::Groups() const {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir_))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

bool ConfigRepo::ConfigExists(const std::string& config_path) const {
  std::error_code ec;
  return fs::is_regular_file(dir_ / (config_path + ".yaml"), ec);
}

std::string ConfigRepo::Display(const std::string& config_path) const {
  return display_root_ + "/" + config_path + ".yaml";
}

std::string ConfigRepo::DisplayDir(const std::string& group) const { return display_root_ + "/" + group + "/"; }

const LoadedFile& ConfigRepo::Load(const std::string& config_path) {
  auto it = cache_.find(config_path);
  if (it != cache_.end()) return it->second;
  LoadedFile f = LoadYamlFile(dir_ / (config_path + ".yaml"), Display(config_path));
  return cache_.emplace(config_path, std::move(f)).first->second;
}

namespace {

std::string JoinPath(const std::string& a, const std::string& b, char sep) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + sep + b;
}

std::string Dirname(const std::string& path) {
  size_t i = path.rfind('/');
  return i == std::string::npos ? "" : path.substr(0, i);
}

// One entry of a defaults list, as written.
struct Entry {
  enum class Kind { kSelf, kConfig, kGroup };
  Kind kind = Kind::kConfig;
  std::string path;                   // kConfig: "base" or "/abs/name"; kGroup: "db" or "/db"
  std::optional<std::string> option;  // kGroup: nullopt = null
  bool override_ = false;
  bool optional = false;
  bool absolute = false;       // path started with '/', or appended from the command line
  std::string source;          // the file that lists it, or the override that appended it
};

// A group entry resolved against its containing config.
struct Resolved {
  std::string group;  // absolute group path: "method", "method/sub" ("" for a root-level config)
  std::string name;   // option or config name
  std::string package;
};

struct ChoiceOverride {
  std::optional<std::string> option;
  std::string source;
  bool external = false;
  bool used = false;
  bool set_or_append = false;  // ++group=opt: appended instead when nothing matches
};

struct Node {
  std::string config_path;  // "" for a `_self_` leaf of the parent
  std::string package;
  bool is_self = false;
  std::vector<Node> children;
};

Entry ParseEntry(const YAML::Node& y, const std::string& where) {
  Entry e;
  e.source = where;
  const char* form = "expected '_self_', a config name, or 'group: option' (optionally 'override group: option')";
  if (y.IsScalar()) {
    std::string s = Trim(y.Scalar());
    QMOE_CHECK(!s.empty(), where, ": empty entry in the defaults list; ", form);
    if (s == "_self_") {
      e.kind = Entry::Kind::kSelf;
      return e;
    }
    e.kind = Entry::Kind::kConfig;
    e.absolute = s[0] == '/';
    e.path = e.absolute ? s.substr(1) : s;
    QMOE_CHECK(s.find('@') == std::string::npos, where, ": defaults entry '", s,
               "': '@package' entries are not supported; put '# @package' in the file instead");
    return e;
  }
  QMOE_CHECK(y.IsMap() && y.size() == 1, where, ": malformed defaults entry at line ", y.Mark().line + 1, ": ", form);
  auto kv = *y.begin();
  QMOE_CHECK(kv.first.IsScalar(), where, ": malformed defaults entry at line ", y.Mark().line + 1,
             ": the group name must be a plain string; ", form);
  std::vector<std::string> words;
  for (const auto& w : Split(Trim(kv.first.as<std::string>()), ' '))
    if (!w.empty()) words.push_back(w);
  QMOE_CHECK(!words.empty(), where, ": empty group name in the defaults list");
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    QMOE_CHECK(words[i] == "override" || words[i] == "optional", where, ": defaults entry '",
               kv.first.as<std::string>(), "': unknown keyword '", words[i], "' (expected 'override' or 'optional')");
    (words[i] == "override" ? e.override_ : e.optional) = true;
  }
  std::string group = words.back();
  QMOE_CHECK(group.find('@') == std::string::npos, where, ": defaults entry '", group,
             "': '@package' entries are not supported; put '# @package' in the file instead");
  e.kind = Entry::Kind::kGroup;
  e.absolute = group[0] == '/';
  e.path = e.absolute ? group.substr(1) : group;
  QMOE_CHECK(!e.path.empty(), where, ": defaults entry has an empty group name");
  if (kv.second.IsNull()) {
    e.option.reset();
  } else {
    QMOE_CHECK(kv.second.IsScalar(), where, ": defaults entry '", group,
               "': expected one option name (lists of options are not supported)");
    e.option = kv.second.Scalar();
    QMOE_CHECK(e.option->find("${") == std::string::npos, where, ": defaults entry '", group,
               "': interpolation in the defaults list is not supported");
  }
  return e;
}

class Expander {
 public:
  Expander(ConfigRepo& repo, const std::vector<GroupOverride>& ovs) : repo_(repo) {
    for (const auto& o : ovs) {
      switch (o.op) {
        case GroupOverride::Op::kSet:
        case GroupOverride::Op::kSetOrAppend:
          overrides_[o.group] = {o.option, o.source, true, false, o.op == GroupOverride::Op::kSetOrAppend};
          break;
        case GroupOverride::Op::kAppend: {
          Entry e;
          e.kind = Entry::Kind::kGroup;
          e.path = o.group;
          e.option = o.option;
          e.absolute = true;
          e.source = o.source;
          appends_.push_back(e);
          break;
        }
        case GroupOverride::Op::kDelete:
          deletions_[o.group] = {o.option, o.source, true, false, false};
          break;
      }
    }
  }

  DefaultsResult Run(const std::string& primary) {
    QMOE_CHECK(repo_.ConfigExists(primary), "primary config '", (repo_.dir() / (primary + ".yaml")).string(),
               "' not found");
    Node root = ExpandConfig(primary, "", /*is_root=*/true);
    CheckAllUsed();
    DefaultsResult r;
    Flatten(root, r.steps);
    r.choices = choices_;
    return r;
  }

  // Groups named by `++group=opt` that matched nothing (to be appended instead).
  std::vector<std::string> UnmatchedSetOrAppend() const {
    std::vector<std::string> out;
    for (const auto& [g, o] : overrides_)
      if (o.set_or_append && !o.used) out.push_back(g);
    return out;
  }

 private:
  // Loads `config_path` and expands its defaults list into a subtree.
  Node ExpandConfig(const std::string& config_path, const std::string& package, bool is_root) {
    const LoadedFile& f = repo_.Load(config_path);
    const std::string where = repo_.Display(config_path);
    std::vector<Entry> entries;
    if (f.root.IsMap() && f.root["defaults"]) {
      const YAML::Node d = f.root["defaults"];
      QMOE_CHECK(d.IsSequence(), where, ": 'defaults' must be a list");
      for (const auto& item : d) entries.push_back(ParseEntry(item, where));
    }
    size_t n_self = std::count_if(entries.begin(), entries.end(), [](const Entry& e) { return e.kind == Entry::Kind::kSelf; });
    QMOE_CHECK(n_self <= 1, where, ": '_self_' appears ", n_self, " times in the defaults list");
    if (n_self == 0) {  // Hydra 1.1+: a missing _self_ is last, so the config's own keys win
      Entry self;
      self.kind = Entry::Kind::kSelf;
      entries.push_back(self);
    }
    if (is_root) entries.insert(entries.end(), appends_.begin(), appends_.end());

    // Register this list's `override` entries before expanding any child (Hydra's order).
    const std::string base_dir = Dirname(config_path);
    bool seen_override = false;
    std::string last_override;
    for (const auto& e : entries) {
      if (e.kind == Entry::Kind::kSelf) continue;
      if (seen_override && !e.override_ && e.source == where) {
        throw Error(StrCat(where, ": 'override ", last_override, "' comes before '", e.path,
                           "'; override entries must be at the end of the defaults list"));
      }
      if (!e.override_) continue;
      seen_override = true;
      QMOE_CHECK(e.kind == Entry::Kind::kGroup, where, ": 'override' needs 'group: option'");
      Resolved r = Resolve(e, base_dir, package);
      last_override = r.group;
      if (!overrides_.count(r.group)) overrides_[r.group] = {e.option, where, false, false, false};
    }

    Node node;
    node.config_path = config_path;
    node.package = package;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      const Entry& e = *it;
      if (e.kind == Entry::Kind::kSelf) {
        Node self;
        self.package = package;
        self.is_self = true;
        node.children.push_back(std::move(self));
        continue;
      }
      if (e.override_) continue;
      if (auto child = ExpandEntry(e, base_dir, package)) node.children.push_back(std::move(*child));
    }
    std::reverse(node.children.begin(), node.children.end());
    return node;
  }

  Resolved Resolve(const Entry& e, const std::string& base_dir, const std::string& parent_package) const {
    Resolved r;
    std::string rel_group;  // the group part as written, relative to the parent
    if (e.kind == Entry::Kind::kGroup) {
      rel_group = e.path;
      r.group = e.absolute ? e.path : JoinPath(base_dir, e.path, '/');
      r.name = e.option.value_or("");
    } else {
      rel_group = Dirname(e.path);
      r.name = e.path.substr(rel_group.empty() ? 0 : rel_group.size() + 1);
      r.group = e.absolute ? rel_group : JoinPath(base_dir, rel_group, '/');
    }
    std::string rel_package = rel_group;
    std::replace(rel_package.begin(), rel_package.end(), '/', '.');
    r.package = JoinPath(parent_package, rel_package, '.');
    return r;
  }

  std::optional<Node> ExpandEntry(Entry e, const std::string& base_dir, const std::string& parent_package) {
    Resolved r = Resolve(e, base_dir, parent_package);
    if (e.kind == Entry::Kind::kGroup) {
      if (auto ov = overrides_.find(r.group); ov != overrides_.end()) {
        e.option = ov->second.option;
        e.source = ov->second.source;
        ov->second.used = true;
        r.name = e.option.value_or("");
      }
      if (auto del = deletions_.find(r.group); del != deletions_.end()) {
        if (!del->second.option || del->second.option == e.option) {
          del->second.used = true;
          return std::nullopt;
        }
      }
      QMOE_CHECK(repo_.GroupExists(r.group), e.source, ": config group '", r.group, "' not found (no folder ",
                 repo_.DisplayDir(r.group), ")", DidYouMean(r.group, repo_.Groups()));
      SetKnownChoice(r.group, e.option, e.source);
      if (!e.option) return std::nullopt;
      QMOE_CHECK(*e.option != "???", e.source, ": you must choose '", r.group, "', e.g. ", r.group, "=<option>; options: ",
                 Join(repo_.Options(r.group), ", "));
    }
    std::string config_path = JoinPath(r.group, r.name, '/');
    if (!repo_.ConfigExists(config_path)) {
      if (e.optional) return std::nullopt;
      if (e.kind == Entry::Kind::kGroup) {
        auto options = repo_.Options(r.group);
        throw Error(StrCat(e.source, ": no option '", r.name, "' in ", repo_.DisplayDir(r.group), " (",
                           repo_.Display(config_path), " not found); options: ",
                           options.empty() ? std::string("none (the folder has no .yaml files)") : Join(options, ", "),
                           DidYouMean(r.name, options)));
      }
      throw Error(StrCat(e.source, ": config '", e.path, "' not found (", repo_.Display(config_path), ")"));
    }
    const LoadedFile& f = repo_.Load(config_path);
    std::string package = r.package;
    if (!f.package_header.empty()) package = HeaderPackage(f.package_header, r.group);
    return ExpandConfig(config_path, package, false);
  }

  // A `# @package` header is absolute: `_global_` is the root, `_global_.x` and `x` are key x.
  static std::string HeaderPackage(const std::string& header, const std::string& group) {
    if (header == "_global_") return "";
    if (header.rfind("_global_.", 0) == 0) return header.substr(9);
    if (header == "_group_") {
      std::string p = group;
      std::replace(p.begin(), p.end(), '/', '.');
      return p;
    }
    return header;
  }

  void SetKnownChoice(const std::string& group, const std::optional<std::string>& option, const std::string& source) {
    auto it = known_.find(group);
    if (it == known_.end()) {
      known_[group] = {option, source};
      if (option) choices_[group] = *option;
      return;
    }
    const auto& [prev, prev_source] = it->second;
    // Name the fix: an appended `+group=opt` should be `group=opt`; a file needs `override`.
    std::string hint;
    for (const auto& [src, opt] : {std::pair{source, option}, std::pair{prev_source, prev}}) {
      if (src.rfind("override '+", 0) == 0) {
        hint = StrCat("; to change the choice use ", group, "=", opt.value_or("null"), " without '+'");
        break;
      }
    }
    if (hint.empty()) hint = StrCat("; to change a choice use 'override ", group, ": ", option.value_or("null"), "'");
    throw Error(StrCat("config group '", group, "' is chosen twice: ", prev.value_or("null"), " (", prev_source,
                       ") and ", option.value_or("null"), " (", source, ")", hint));
  }

  void CheckAllUsed() const {
    for (const auto& [group, o] : overrides_) {
      if (o.used || o.set_or_append) continue;
      std::string what = StrCat("Could not override '", group, "'");
      if (o.external) {
        throw Error(StrCat(o.source, ": ", what, ": no '", group, "' in the defaults list. To add it use +", group,
                           "=", o.option.value_or("null")));
      }
      if (known_.count(group)) {
        throw Error(StrCat(o.source, ": ", what, ": it was already chosen by ", known_.at(group).second,
                           " before this override was read. Hydra expands a defaults list from its last entry "
                           "to its first, so list the config holding this override after '", group, "'"));
      }
      throw Error(StrCat(o.source, ": ", what, ": no '", group, "' in the defaults list"));
    }
    for (const auto& [group, d] : deletions_) {
      if (d.used) continue;
      throw Error(StrCat(d.source, ": Could not delete '", group, d.option ? "=" + *d.option : std::string(),
                         "': no match in the defaults list",
                         known_.count(group) && known_.at(group).first
                             ? StrCat(" (", group, " is ", *known_.at(group).first, ")")
                             : std::string()));
    }
  }

  static void Flatten(const Node& n, std::vector<MergeStep>& out) {
    for (const auto& c : n.children) {
      if (c.is_self) {
        out.push_back({n.config_path, n.package});
      } else {
        Flatten(c, out);
      }
    }
  }

  ConfigRepo& repo_;
  std::map<std::string, ChoiceOverride> overrides_;
  std::map<std::string, ChoiceOverride> deletions_;
  std::vector<Entry> appends_;
  std::map<std::string, std::pair<std::optional<std::string>, std::string>> known_;  // group -> (option, source)
  std::map<std::string, std::string> choices_;
};

}  // namespace

DefaultsResult ExpandDefaults(ConfigRepo& repo, const std::string& primary,
                              const std::vector<GroupOverride>& group_overrides) {
  std::vector<std::string> unmatched;
  {
    Expander ex(repo, group_overrides);
    DefaultsResult r = ex.Run(primary);
    unmatched = ex.UnmatchedSetOrAppend();
    if (unmatched.empty()) return r;
  }
  // `++group=opt` matched no entry: expand again with it appended.
  std::vector<GroupOverride> again = group_overrides;
  for (auto& o : again)
    if (o.op == GroupOverride::Op::kSetOrAppend &&
        std::find(unmatched.begin(), unmatched.end(), o.group) != unmatched.end())
      o.op = GroupOverride::Op::kAppend;
  return Expander(repo, again).Run(primary);
}

}  // namespace qmoe::config_internal
