// Parameters declared once. A parameter struct lists its fields in Visit(); that single list
// drives config validation, `qmoe methods` help, the stored run record and the config hash.
//
//   struct RtnParams {
//     int64_t bits = 4;
//     template <class V> void Visit(V&& v) {
//       v(bits, "bits", "bits per weight", qmoe::Range{2, 8});
//     }
//   };
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "framework/core/error.h"

namespace qmoe {

enum class ParamType { kInt, kFloat, kBool, kString };
const char* ParamTypeName(ParamType t);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  std::string default_text;           // the default, formatted as it would appear in YAML
  std::string help;
  std::vector<std::string> choices;   // allowed strings; empty = any
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
};

using ParamValue = std::variant<int64_t, double, bool, std::string>;
using ParamMap = std::map<std::string, ParamValue>;

// Optional constraints for a field.
struct Range {
  double min, max;
};
struct Choices {
  std::vector<std::string> values;
};

// Parses `text` as the spec's type and checks its constraints. `where` names the place
// (file or override) for the error message, e.g. "configs/method/rtn.yaml".
ParamValue ParseParamValue(const ParamSpec& spec, const std::string& text, const std::string& where);
std::string FormatParamValue(const ParamValue& v);
// Help text block, one parameter per line: "  bits (int, default 4): bits per weight".
std::string FormatSpecs(const std::vector<ParamSpec>& specs);

namespace detail {
template <class T>
constexpr ParamType TypeOf() {
  if constexpr (std::is_same_v<T, bool>) return ParamType::kBool;
  else if constexpr (std::is_integral_v<T>) return ParamType::kInt;
  else if constexpr (std::is_floating_point_v<T>) return ParamType::kFloat;
  else return ParamType::kString;
}
template <class T>
ParamValue ToValue(const T& x) {
  if constexpr (std::is_same_v<T, bool>) return ParamValue(x);
  else if constexpr (std::is_integral_v<T>) return ParamValue(static_cast<int64_t>(x));
  else if constexpr (std::is_floating_point_v<T>) return ParamValue(static_cast<double>(x));
  else return ParamValue(std::string(x));
}
template <class T>
void FromValue(const ParamValue& v, T& out) {
  if constexpr (std::is_same_v<T, bool>) out = std::get<bool>(v);
  else if constexpr (std::is_integral_v<T>) out = static_cast<T>(std::get<int64_t>(v));
  else if constexpr (std::is_floating_point_v<T>) {
    out = std::holds_alternative<int64_t>(v) ? static_cast<T>(std::get<int64_t>(v))
                                              : static_cast<T>(std::get<double>(v));
  } else out = std::get<std::string>(v);
}

struct SpecCollector {
  std::vector<ParamSpec>* out;
  template <class T, class... Opt>
  void operator()(T& field, const char* name, const char* help, const Opt&... opts) {
    ParamSpec s;
    s.name = name;
    s.type = TypeOf<T>();
    s.default_text = FormatParamValue(ToValue(field));
    s.help = help;
    (Apply(s, opts), ...);
    out->push_back(std::move(s));
  }
  static void Apply(ParamSpec& s, const Range& r) { s.min = r.min, s.max = r.max; }
  static void Apply(ParamSpec& s, const Choices& c) { s.choices = c.values; }
};

struct MapReader {
  const ParamMap* in;
  template <class T, class... Opt>
  void operator()(T& field, const char* name, const char*, const Opt&...) {
    auto it = in->find(name);
    if (it != in->end()) FromValue(it->second, field);
  }
};

struct MapWriter {
  ParamMap* out;
  template <class T, class... Opt>
  void operator()(T& field, const char* name, const char*, const Opt&...) {
    (*out)[name] = ToValue(field);
  }
};
}  // namespace detail

template <class P>
std::vector<ParamSpec> SpecsOf() {
  P p{};
  std::vector<ParamSpec> specs;
  p.Visit(detail::SpecCollector{&specs});
  return specs;
}

// Fields absent from `m` keep their defaults.
template <class P>
P FromParamMap(const ParamMap& m) {
  P p{};
  p.Visit(detail::MapReader{&m});
  return p;
}

template <class P>
ParamMap ToParamMap(const P& p) {
  ParamMap m;
  const_cast<P&>(p).Visit(detail::MapWriter{&m});
  return m;
}

}  // namespace qmoe
