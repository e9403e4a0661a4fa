// The codec traits table: one row per codec of ternary matrices, the one place the rest of the
// tree learns which codecs exist. The method registry makes one method per row (methods/codec),
// and `qmoe codec rate`, codec_bench, the kernels experiment and the fuzz loop iterate over it.
// Adding a codec: see codecs/README.md (a folder with its .h/.cpp/CMakeLists.txt and one line in
// all_codecs.cpp).
#pragma once
#include <any>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "codecs/ternary/packed_fields.h"
#include "codecs/ternary/ternary_symbols.h"
#include "framework/core/params.h"
#include "framework/core/registry.h"

namespace qmoe::codecs {

// An encoded matrix of some codec (the codec's own struct, e.g. dict::EncodedMatrix).
using Coded = std::any;

// One line of the `qmoe codec rate` table: a size in bits and a note.
struct RateLine {
  std::string label;
  double bits = 0;
  std::string note;
};

// One decoder of a codec: the fast path(s) beside the plain twin, each run by tests and fuzzing.
struct Decoder {
  std::string name;                               // e.g. "auto", "scalar", "avx2"
  std::function<bool()> available;                // false where this CPU lacks the path
  std::function<void(const Coded&, float*)> run;  // validates, then decodes [rows, cols] fp32
};

struct Codec {
  std::string name;  // method registry key, packed format name and kernel folder prefix: permanent
  int version = 1;   // the method version: bump when stored results change
  std::string help;  // one line for `qmoe methods`
  std::vector<ParamSpec> params;  // codec options: method parameters and `qmoe codec rate` flags
  // Encodes the symbols of one matrix with the options (absent keys take their defaults).
  std::function<Coded(const ternary::TernarySymbols&, const ParamMap&)> encode;
  std::function<void(const Coded&, const std::string& what)> validate;  // one qmoe::Error
  std::vector<Decoder> decoders;                     // decoders[0] is the default fast path
  std::function<void(const Coded&, float*)> decode_ref;  // the plain twin (validates first)
  std::function<double(const Coded&)> storage_bits;  // exact bits of the stored fields but "shape"
  std::function<ternary::Fields(const Coded&)> pack;
  std::function<Coded(const ternary::FieldViews&, const std::string& what)> unpack;  // validated
  // Per-matrix statistics the method records beside the shared ones (h: the symbols' entropy).
  std::function<std::map<std::string, double>(const Coded&, const ternary::Entropy& h)> stats;
  // The lines `qmoe codec rate` prints for this codec.
  std::function<std::vector<RateLine>(const Coded&)> rate_lines;
  // Metrics the kernels experiment records beside rate_<name> and decode_<name>_gweights_per_s.
  std::function<std::map<std::string, double>(const Coded&)> metrics;
  std::string fused_kernel;  // folder under kernels/ with a fused decode + matvec, or ""
};

using CodecRegistry = Registry<Codec>;

// The one list of codecs (codecs/all_codecs.cpp), and the process-wide registry filled from it.
void RegisterAllCodecs(CodecRegistry& r);
const CodecRegistry& Codecs();

// Shorthands for the rows: the options of a codec as a Visit-able struct, and the coded value.
template <class T>
const T& As(const Coded& c) {
  return std::any_cast<const T&>(c);
}

}  // namespace qmoe::codecs
