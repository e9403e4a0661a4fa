#include "methods/dict/codec_cli.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <map>

#include "framework/core/error.h"
#include "framework/core/hash.h"
#include "framework/core/strings.h"
#include "methods/dict/dict_codec.h"
#include "methods/dict/dictionary.h"
#include "methods/dict/iid_ternary.h"
#include "methods/rans/rans_codec.h"

namespace qmoe::dict {
namespace {

constexpr const char* kDecSha = "c09862c453fe122634070a475357ff81a679aff65829d84a56f806c02a54ed45";
constexpr const char* kUsage =
    "usage: qmoe codec dictionary --dump FILE\n"
    "       qmoe codec rate --rows R --cols C [--p0 0.885] [--seed 1] [--symbols reference|exact_zeros]"
    " [--chunk-weights 131072] [--streams 0]";

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
  const auto& dec = DecodeTable();
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
      << "sha256 " << sha << (sha == kDecSha ? "  (matches spec §8.4)" : "  (MISMATCH with spec §8.4)") << "\n";
  return sha == kDecSha ? 0 : 1;
}

int Rate(const std::vector<std::string>& args, std::ostream& out) {
  const auto flags = ParseFlags(args, 1, {"rows", "cols", "p0", "seed", "symbols", "chunk-weights", "streams"},
                                "rate");
  const int64_t rows = Number<int64_t>(flags, "rows", 0, true, "rate");
  const int64_t cols = Number<int64_t>(flags, "cols", 0, true, "rate");
  const double p0 = Number<double>(flags, "p0", 0.885, false, "rate");
  const uint64_t seed = Number<uint64_t>(flags, "seed", 1, false, "rate");
  const int64_t chunk = Number<int64_t>(flags, "chunk-weights", rans::kDefaultChunkWeights, false, "rate");
  QMOE_CHECK(rows >= 1 && cols >= 1 && rows * cols <= (int64_t(1) << 32), "qmoe codec rate: --rows and --cols must be",
             " >= 1 with rows*cols <= 2^32, got ", rows, "x", cols);
  QMOE_CHECK(p0 >= 0 && p0 <= 1, "qmoe codec rate: --p0 must be in [0, 1], got ", p0);
  QMOE_CHECK(chunk >= 1, "qmoe codec rate: --chunk-weights must be >= 1, got ", chunk);
  const int streams = Number<int>(flags, "streams", rans::kAutoStreams, false, "rate");
  QMOE_CHECK(streams >= 0 && streams <= rans::kMaxStreams, "qmoe codec rate: --streams must be in [0, ",
             rans::kMaxStreams, "] (0 = auto), got ", streams);
  const SymbolMode mode =
      ParseSymbolMode(flags.count("symbols") ? flags.at("symbols") : "reference", "qmoe codec rate: --symbols");

  const std::vector<float> w = RandomTernaryMatrix(rows, cols, p0, seed);
  const TernarySymbols s = SymbolsFromTernary(w.data(), rows, cols, mode);
  const EncodedMatrix d = Encode(s);
  const rans::RansMatrix r = rans::Encode(s, chunk, streams);
  const Entropy h = EmpiricalEntropy(s);
  const double n = double(rows * cols), minmax_bits = 32.0 * double(rows);
  auto line = [&](const std::string& what, double bits, const std::string& note) {
    out << "  " << std::left << std::setw(34) << what << std::right << std::fixed << std::setprecision(4)
        << std::setw(9) << bits / n << " bits/w  " << std::setprecision(2) << std::setw(7) << 16.0 * n / bits
        << "x vs bf16  " << note << "\n";
  };
  out << "i.i.d. ternary " << rows << "x" << cols << ", p0 " << p0 << ", seed " << seed << ", symbols "
      << SymbolModeName(mode) << "\n";
  line("dict, exact bytes", 8.0 * double(ExactBytes(d)), StrCat(d.codes.size(), " codewords"));
  line("dict, reference \"ideal rate\"", 16.0 * n / ReferenceIdealRate(rows, cols, int64_t(d.codes.size())),
       "16 bits/codeword + 64 bits/row (§8.9)");
  line("rans, exact bits", double(rans::StorageBits(r)),
       StrCat(r.words.size(), " words, ", r.chunk_off.size() - 1, " chunks of ", r.chunk_rows, " rows, ",
              r.streams, " streams"));
  line("rans, without per-row min/max", double(rans::StorageBits(r)) - minmax_bits, "");
  line("empirical entropy (pairs)", h.pair_bits * n, "");
  line("empirical entropy (i.i.d.)", h.iid_bits * n, "");
  line("entropy + per-row min/max", h.iid_bits * n + minmax_bits, "");
  line("model entropy H(p0)", ModelEntropyBits(p0) * n, "the 25.40x limit at p0 = 0.885");
  return 0;
}

}  // namespace

int RunCodecCommand(const std::vector<std::string>& args, std::ostream& out) {
  QMOE_CHECK(!args.empty(), "qmoe codec: missing subcommand\n", kUsage);
  const std::vector<std::string> cmds = {"dictionary", "rate"};
  if (args[0] == "dictionary") return DumpDictionary(args, out);
  if (args[0] == "rate") return Rate(args, out);
  throw Error(StrCat("qmoe codec: unknown subcommand '", args[0], "'", DidYouMean(args[0], cmds), "\n", kUsage));
}

}  // namespace qmoe::dict
