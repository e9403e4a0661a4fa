#include "framework/core/params.h"

#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "framework/core/strings.h"

namespace qmoe {

const char* ParamTypeName(ParamType t) {
  switch (t) {
    case ParamType::kInt: return "int";
    case ParamType::kFloat: return "float";
    case ParamType::kBool: return "bool";
    case ParamType::kString: return "string";
  }
  return "?";
}

ParamValue ParseParamValue(const ParamSpec& spec, const std::string& raw, const std::string& where) {
  const std::string text = Trim(raw);
  auto fail = [&](const std::string& why) -> Error {
    return Error(StrCat(where, ": key '", spec.name, "': expected ", ParamTypeName(spec.type), why,
                        ", got '", text, "'"));
  };
  auto check_range = [&](double x) {
    if (x < spec.min || x > spec.max)
      throw fail(StrCat(" in [", spec.min, ", ", spec.max, "]"));
  };
  switch (spec.type) {
    case ParamType::kInt: {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || errno) throw fail("");
      check_range(static_cast<double>(v));
      return static_cast<int64_t>(v);
    }
    case ParamType::kFloat: {
      errno = 0;
      char* end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || errno || !std::isfinite(v)) throw fail("");
      check_range(v);
      return v;
    }
    case ParamType::kBool: {
      if (text == "true" || text == "True" || text == "1") return true;
      if (text == "false" || text == "False" || text == "0") return false;
      throw fail(" (true or false)");
    }
    case ParamType::kString: {
      if (!spec.choices.empty()) {
        for (const auto& c : spec.choices)
          if (c == text) return text;
        throw Error(StrCat(where, ": key '", spec.name, "': '", text, "' is not one of {",
                           Join(spec.choices, ", "), "}", DidYouMean(text, spec.choices)));
      }
      return text;
    }
  }
  throw fail("");
}

std::string FormatParamValue(const ParamValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, *d);  // shortest text that round-trips
    std::string s(buf, res.ptr);
    // Keep floats recognisable as floats in YAML ("1.0", not "1").
    if (s.find_first_of(".eEni") == std::string::npos) s += ".0";
    return s;
  }
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  return std::get<std::string>(v);
}

std::string FormatSpecs(const std::vector<ParamSpec>& specs) {
  std::ostringstream os;
  for (const auto& s : specs) {
    os << "  " << s.name << " (" << ParamTypeName(s.type) << ", default " << s.default_text;
    if (!s.choices.empty()) os << ", one of " << Join(s.choices, "|");
    if (std::isfinite(s.min) || std::isfinite(s.max)) {
      // Integer parameters show integer bounds.
      auto bound = [&](double b) {
        return s.type == ParamType::kInt && std::isfinite(b) ? std::to_string(static_cast<long long>(b))
                                                             : FormatParamValue(b);
      };
      os << ", range [" << bound(s.min) << ", " << bound(s.max) << "]";
    }
    os << "): " << s.help << "\n";
  }
  return os.str();
}

}  // namespace qmoe
