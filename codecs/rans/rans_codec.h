// "rans" codec: ternary pairs (the 9 symbols r = 3·t[2k+1] + t[2k]) entropy-coded with rANS under one
// per-matrix frequency table quantized to 12 bits. Rows are grouped into chunks of about
// `chunk_weights` weights; each chunk is an independent stream of 16-bit words holding S
// interleaved rANS states (symbol i of a chunk uses state i mod S; S = `streams`, stored per
// matrix), so a decoder can start at any chunk (chunk_off) and keep S independent dependency
// chains in flight. Files written with S = 4 (method version 1) decode unchanged. No torch.
//
// Chunk layout (words, as read by the decoder): the S initial states as (lo16, hi16) pairs, then
// the renormalization words in decode order. States live in [2^16, 2^32); a chunk decodes to its
// pairs and must end with every state back at 2^16 and every word consumed (an integrity check).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "codecs/ternary/packed_fields.h"
#include "framework/core/params.h"
#include "codecs/ternary/ternary_symbols.h"

namespace qmoe::codecs {
struct Codec;
}

namespace qmoe::rans {

constexpr int kSymbols = 9;       // ternary pairs r = 3·t[2k+1] + t[2k]
constexpr int kScaleBits = 12;    // frequencies sum to 2^12
constexpr uint32_t kScale = 1u << kScaleBits;
constexpr int kAutoStreams = 0;     // Encode chooses per matrix (AutoStreams)
constexpr int kMaxStreams = 32;
constexpr uint32_t kLow = 1u << 16;  // lower bound of a normalized state
constexpr int64_t kDefaultChunkWeights = 131072;

struct RansMatrix {
  int64_t rows = 0, cols = 0;
  int32_t chunk_rows = 0;                 // rows per chunk; the last chunk may have fewer
  int32_t streams = 0;                    // interleaved states per chunk, 1..kMaxStreams
  std::array<uint16_t, kSymbols> freq{};  // quantized pair frequencies, Σ = 4096
  std::vector<uint16_t> words;            // all chunks, concatenated
  std::vector<int32_t> chunk_off;         // [chunks + 1] offsets into words; chunk_off[0] = 0
  std::vector<uint16_t> minmax_bf16;      // [2 · rows] interleaved (min_r, max_r), as dict stores them
};

inline int64_t NumChunks(int64_t rows, int64_t chunk_rows) { return (rows + chunk_rows - 1) / chunk_rows; }

// Quantizes symbol counts to frequencies summing to 4096: every present symbol gets >= 1, absent
// symbols 0, and the rounding is repaired greedily by the smallest increase of the code length
// Σ count·log2(4096/freq). All counts zero is an error.
std::array<uint16_t, kSymbols> QuantizeFrequencies(const std::array<int64_t, kSymbols>& counts);

// The stream count kAutoStreams picks: 32 for matrices of >= 2^20 weights (two AVX-512 vectors
// of states: decode as fast as the dictionary's, and the states cost ~1% at the default chunk
// size), else 8 (a small matrix is one chunk, where 32 states would cost ~6% at 128x192).
int AutoStreams(int64_t rows, int64_t cols);

// Encodes symbols (from ternary::SymbolsFromTernary). chunk_rows = max(1, chunk_weights / cols).
// streams: 1..32, or kAutoStreams. More streams give the decoder more independent chains at a
// cost of 32 bits per stream per chunk for the initial states.
RansMatrix Encode(const ternary::TernarySymbols& s, int64_t chunk_weights = kDefaultChunkWeights,
                  int streams = kAutoStreams);

// Checks an untrusted RansMatrix's structure: shape, chunk_rows >= 1, streams in [1, 32], frequencies summing to
// 4096, chunk_off size/start/end/monotonicity, each chunk long enough for its initial states,
// finite min <= max per row. One qmoe::Error naming `what`; stream contents are checked while
// decoding (reading past a chunk, a final state != 2^16, unread words, or a nonzero padding
// symbol of an odd width are errors).
void Validate(const RansMatrix& m, const std::string& what = "rans matrix");

// Validate + decode to row-major [rows, cols] fp32, bit-exact (0, min_r, max_r). Decode is the
// fast path: scalar (slot lookup table, the states of a step unrolled for S = 4, 8, 16, 32), AVX2
// (S = 8..32 in whole 8-lane vectors) or AVX-512 (S = 16 or 32); kAuto takes the fastest this CPU
// and stream count allow, and a path the CPU lacks is an error. DecodeRef decodes one symbol at
// a time with a linear search over the cumulative frequencies. Every path gives the same floats
// and the same errors for corrupt input (tests, fuzz/rans_decode_fuzz).
enum class DecodePath { kAuto, kScalar, kAvx2, kAvx512 };
bool DecodePathAvailable(DecodePath path);
void Decode(const RansMatrix& m, float* out, DecodePath path = DecodePath::kAuto);
void DecodeRef(const RansMatrix& m, float* out);

// The path kAuto resolves to for this CPU and stream count (never kAuto); a path the CPU lacks is
// an error.
DecodePath ResolveDecodePath(DecodePath path, int streams);

// Incremental decoding of one chunk, for fused kernels (kernels/rans_matvec) that consume each
// piece of symbols while it is in L1: Next(pairs, n) decodes the chunk's next n pair symbols,
// Finish() checks the chunk's integrity conditions (as Decode does). Same steps, symbols and errors
// as Decode. `m` must have passed Validate (the offsets are trusted; the stream contents are not:
// reads stay inside the chunk and an overrun is reported by Finish). lut = SlotTable(m.freq);
// path from ResolveDecodePath. n must be a multiple of m.streams except in the chunk's last call,
// and the calls must not decode past the chunk's symbol count. `what` must outlive the decoder.
class ChunkDecoder {
 public:
  ChunkDecoder(const RansMatrix& m, int64_t chunk, DecodePath path, const uint32_t* lut, const std::string& what);
  void Next(uint8_t* pairs, int64_t n);
  // Next(pairs[c], n) on count <= kMaxTogether decoders of the same matrix, path and progress
  // (equal decoded() and symbols()), their steps interleaved: one chunk's S <= 32 states are too
  // few to hide the latency of a SIMD step, several chunks' are not. Same results as Next on each.
  static constexpr int kMaxTogether = 4;
  static void NextTogether(ChunkDecoder* const* d, uint8_t* const* pairs, int count, int64_t n);
  void Finish() const;
  int64_t symbols() const { return n_; }  // pair symbols in the chunk: rows of the chunk x PairsPerRow
  int64_t decoded() const { return done_; }

 private:
  void Continue(uint8_t* pairs, int64_t i, int64_t n);  // the scalar steps of symbols [i, n), then done_ += n

  const RansMatrix& m_;
  const uint32_t* lut_;
  const std::string& what_;
  DecodePath path_;
  int64_t chunk_, n_, done_ = 0, pos_, end_;
  uint32_t x_[kMaxStreams];
};

// The decoder's table, slot -> symbol | freq << 4 | cum << 17 (freq <= 4096 needs 13 bits, cum <
// 4096 needs 12).
std::vector<uint32_t> SlotTable(const std::array<uint16_t, kSymbols>& freq);

// The stored fields: "rans_words" int16 [words], "chunk_off" int32 [chunks+1], "freq" int16 [9],
// "rans_meta" int32 {chunk_rows, streams}, "ter_minmax" bf16 [2 rows], "shape" int32 {rows, cols}.
// Unpack copies them back and validates (errors name `what` and the field).
ternary::Fields Pack(const RansMatrix& m);
RansMatrix Unpack(const ternary::FieldViews& fields, const std::string& what);

// Exact storage: 16·words + 32·(chunks + 1) + 16·9 (freq) + 64 (chunk_rows, streams) + 32·rows
// (min/max).
int64_t StorageBits(const RansMatrix& m);

// The codec options (method parameters "chunk_weights", "streams": permanent names).
struct Options {
  int64_t chunk_weights = kDefaultChunkWeights;
  int64_t streams = kAutoStreams;
  template <class V>
  void Visit(V&& v) {
    v(chunk_weights, "chunk_weights", "weights per independently decodable chunk (whole rows, >= 1 row)",
      Range{1, 1 << 30});
    v(streams, "streams",
      "interleaved rANS states per chunk, 1-32; 0 = auto: 32 for matrices of >= 2^20 weights, else 8 "
      "(version 1 always wrote 4)",
      Range{0, kMaxStreams});
  }
};

// The "rans" row of the codec table (codecs/codec.h).
codecs::Codec RansCodec();

}  // namespace qmoe::rans
