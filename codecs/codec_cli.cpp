#include "codecs/codec_cli.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <map>

#include "framework/core/error.h"
#include "framework/core/hash.h"
#include "framework/core/strings.h"
#include "codecs/dict/dictionary.h"
#include "codecs/ternary/iid_ternary.h"

namespace qmoe::codecs {
namespace {

constexpr const char* kDecSha = "c09862c453fe122634070a475357ff81a679aff65829d84a56f806c02a54ed45";
constexpr const char* kUsage =
    "usage: qmoe codec dictionary --dump FILE\n"
    "       qmoe codec rate --rows R --cols C [--p0 0.885] [--seed 1] [--symbols reference|exact_zeros]"
    " [codec options as --name value, e.g. --chunk-weights 131072 --streams 0]";

// A codec option's flag: its name with '-' for '_'.
std::string FlagName(const std::string& param) {
  std::string f = param;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

// "--key value" pairs; every key must be in `known`.
std::map<std::string, std::string> ParseFlags(const std::vector<std::string>& args, size_t from,
                                              const std::vector<std::string>& known, const std::string& cmd) {
  std::map<std::string, std::string> flags;
  for (size_t i = from; i < args.size(); i += 2) {
    const std::string& k = args[i];
    QMOE_CHECK(k.rfind("--", 0) == 0, "qmoe codec ", cmd, ": expected a --flag, got '", k, "'\n", kUsage);
    const std::string name = k.substr(2);
    QMOE_CHECK(std::find(known.begin(), known.end(), name) != known.end(), "qmoe codec ", cmd, ": unknown flag '",
               k, "'", DidYouMean(name, known), "\n", kUsage);
    QMOE_CHECK(i + 1 < args.size(), "qmoe codec ", cmd, ": flag '", k, "' needs a value");
    flags[name] = args[i + 1];
  }
  return flags;
}

template <class T>
T Number(const std::map<std::string, std::string>& flags, const std::string& key, T fallback, bool required,
         const std::string& cmd) {
  auto it = flags.find(key);
  QMOE_CHECK(it != flags.end() || !required, "qmoe codec ", cmd, ": --", key, " is required\n", kUsage);
  if (it == flags.end()) return fallback;
  size_t used = 0;
  T v{};
  try {
    if constexpr (std::is_floating_point_v<T>) v = T(std::stod(it->second, &used));
    else v = T(std::stoll(it->second, &used));
  } catch (const std::exception&) {
    used = 0;
  }
  QMOE_CHECK(used == it->second.size() && used > 0, "qmoe codec ", cmd, ": --", key, " expects a number, got '",
             it->second, "'");
  return v;
}

int DumpDictionary(const std::vector<std::string>& args, std::ostream& out) {
  const auto flags = ParseFlags(args, 1, {"dump"}, "dictionary");
  QMOE_CHECK(flags.count("dump"), "qmoe codec dictionary: --dump FILE is required\n", kUsage);
  const std::string& path = flags.at("dump");
  const auto& dec = dict::DecodeTable();
  std::string bytes(dec.size() * 4, '\0');
  for (size_t i = 0; i < dec.size(); ++i)  // little-endian regardless of the host
    for (int b = 0; b < 4; ++b) bytes[4 * i + b] = char((dec[i] >> (8 * b)) & 0xff);
  std::ofstream f(path, std::ios::binary);
  QMOE_CHECK(f.good(), "qmoe codec dictionary: cannot open '", path, "' for writing");
  f.write(bytes.data(), std::streamsize(bytes.size()));
  f.close();
  QMOE_CHECK(f.good(), "qmoe codec dictionary: failed writing '", path, "'");
  const std::string sha = Sha256Hex(bytes);
  out << "wrote " << path << ": " << dec.size() << " little-endian uint32 (" << bytes.size() << " bytes)\n"
      << "sha256 " << sha << (sha == kDecSha ? "  (matches the check value of docs/formats.md)" : "  (MISMATCH with the check value of docs/formats.md)") << "\n";
  return sha == kDecSha ? 0 : 1;
}

// Each codec's options from the flags named after them.
ParamMap CodecOptions(const Codec& c, const std::map<std::string, std::string>& flags) {
  ParamMap m;
  for (const ParamSpec& spec : c.params) {
    auto it = flags.find(FlagName(spec.name));
    if (it != flags.end()) m[spec.name] = ParseParamValue(spec, it->second, "qmoe codec rate: --" + it->first);
  }
  return m;
}

int Rate(const std::vector<std::string>& args, std::ostream& out, const CodecRegistry& codecs) {
  std::vector<std::string> known = {"rows", "cols", "p0", "seed", "symbols"};
  for (const std::string& key : codecs.Keys())
    for (const ParamSpec& spec : codecs.Get(key).params) known.push_back(FlagName(spec.name));
  const auto flags = ParseFlags(args, 1, known, "rate");
  const int64_t rows = Number<int64_t>(flags, "rows", 0, true, "rate");
  const int64_t cols = Number<int64_t>(flags, "cols", 0, true, "rate");
  const double p0 = Number<double>(flags, "p0", 0.885, false, "rate");
  const uint64_t seed = Number<uint64_t>(flags, "seed", 1, false, "rate");
  QMOE_CHECK(rows >= 1 && cols >= 1 && rows * cols <= (int64_t(1) << 32), "qmoe codec rate: --rows and --cols must be",
             " >= 1 with rows*cols <= 2^32, got ", rows, "x", cols);
  QMOE_CHECK(p0 >= 0 && p0 <= 1, "qmoe codec rate: --p0 must be in [0, 1], got ", p0);
  const ternary::SymbolMode mode = ternary::ParseSymbolMode(flags.count("symbols") ? flags.at("symbols") : "reference",
                                                            "qmoe codec rate: --symbols");
  std::map<std::string, ParamMap> options;  // every flag checked before anything is printed
  for (const std::string& key : codecs.Keys()) options[key] = CodecOptions(codecs.Get(key), flags);

  const std::vector<float> w = ternary::RandomTernaryMatrix(rows, cols, p0, seed);
  const ternary::TernarySymbols s = ternary::SymbolsFromTernary(w.data(), rows, cols, mode);
  const ternary::Entropy h = ternary::EmpiricalEntropy(s);
  const double n = double(rows * cols), minmax_bits = 32.0 * double(rows);
  auto line = [&](const RateLine& l) {
    out << "  " << std::left << std::setw(34) << l.label << std::right << std::fixed << std::setprecision(4)
        << std::setw(9) << l.bits / n << " bits/w  " << std::setprecision(2) << std::setw(7) << 16.0 * n / l.bits
        << "x vs bf16  " << l.note << "\n";
  };
  out << "i.i.d. ternary " << rows << "x" << cols << ", p0 " << p0 << ", seed " << seed << ", symbols "
      << ternary::SymbolModeName(mode) << "\n";
  for (const auto& [key, opts] : options) {
    const Codec& c = codecs.Get(key);
    for (const RateLine& l : c.rate_lines(c.encode(s, opts))) line(l);
  }
  line({"empirical entropy (pairs)", h.pair_bits * n, ""});
  line({"empirical entropy (i.i.d.)", h.iid_bits * n, ""});
  line({"entropy + per-row min/max", h.iid_bits * n + minmax_bits, ""});
  line({"model entropy H(p0)", ternary::ModelEntropyBits(p0) * n, "the 25.40x limit at p0 = 0.885"});
  return 0;
}

}  // namespace

int RunCodecCommand(const std::vector<std::string>& args, std::ostream& out, const CodecRegistry& codecs) {
  QMOE_CHECK(!args.empty(), "qmoe codec: missing subcommand\n", kUsage);
  const std::vector<std::string> cmds = {"dictionary", "rate"};
  if (args[0] == "dictionary") return DumpDictionary(args, out);
  if (args[0] == "rate") return Rate(args, out, codecs);
  throw Error(StrCat("qmoe codec: unknown subcommand '", args[0], "'", DidYouMean(args[0], cmds), "\n", kUsage));
}

}  // namespace qmoe::codecs
