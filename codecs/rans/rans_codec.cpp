#include "codecs/rans/rans_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "codecs/codec.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "codecs/rans/rans_decode_simd.h"

namespace qmoe::rans {
namespace {


std::array<uint32_t, kSymbols + 1> Cumulative(const std::array<uint16_t, kSymbols>& f) {
  std::array<uint32_t, kSymbols + 1> c{};
  for (int s = 0; s < kSymbols; ++s) c[s + 1] = c[s] + f[s];
  return c;
}

// Decoded pairs -> weights of one row (pair k covers columns 2k and 2k+1; an odd width's last
// pair covers only the last column and must have a zero second symbol).
void ExpandRow(const uint8_t* pairs, int64_t cols, float lo, float hi, float* out, const std::string& what,
               int64_t row, DecodePath path) {
  const float lev[3] = {0.0f, lo, hi};
  float tab[kSymbols][2];
  for (int r = 0; r < kSymbols; ++r) tab[r][0] = lev[r % 3], tab[r][1] = lev[r / 3];
  const int64_t full = cols / 2;
  if (path == DecodePath::kAvx512) detail::ExpandPairsAvx512(pairs, full, lo, hi, out);
  else if (path == DecodePath::kAvx2) detail::ExpandPairsAvx2(pairs, full, lo, hi, out);
  else for (int64_t k = 0; k < full; ++k) std::memcpy(out + 2 * k, tab[pairs[k]], sizeof tab[0]);
  if (cols % 2) {
    QMOE_CHECK(pairs[full] < 3, what, ": row ", row, " has a nonzero padding symbol after the last column");
    out[cols - 1] = tab[pairs[full]][0];
  }
}

}  // namespace

std::array<uint16_t, kSymbols> QuantizeFrequencies(const std::array<int64_t, kSymbols>& counts) {
  int64_t total = 0;
  for (int64_t c : counts) {
    QMOE_CHECK(c >= 0, "rans: negative symbol count");
    total += c;
  }
  QMOE_CHECK(total > 0, "rans: no symbols to model");
  std::array<int64_t, kSymbols> f{};
  int64_t sum = 0;
  for (int s = 0; s < kSymbols; ++s) {
    if (counts[s] == 0) continue;
    f[s] = std::max<int64_t>(1, std::llround(double(counts[s]) * kScale / double(total)));
    sum += f[s];
  }
  // Repair the sum one step at a time, choosing the step that costs the fewest coded bits.
  while (sum != int64_t(kScale)) {
    int best = -1;
    double best_cost = INFINITY;
    for (int s = 0; s < kSymbols; ++s) {
      if (counts[s] == 0) continue;
      const int64_t nf = sum > int64_t(kScale) ? f[s] - 1 : f[s] + 1;
      if (nf < 1) continue;
      const double cost = double(counts[s]) * std::log2(double(f[s]) / double(nf));
      if (cost < best_cost) best_cost = cost, best = s;
    }
    QMOE_ASSERT(best >= 0, "frequency repair found no step");
    if (sum > int64_t(kScale)) f[best]--, sum--;
    else f[best]++, sum++;
  }
  std::array<uint16_t, kSymbols> out{};
  for (int s = 0; s < kSymbols; ++s) out[s] = uint16_t(f[s]);
  return out;
}

int AutoStreams(int64_t rows, int64_t cols) { return rows * cols >= (int64_t(1) << 20) ? 32 : 8; }

RansMatrix Encode(const ternary::TernarySymbols& s, int64_t chunk_weights, int streams) {
  QMOE_CHECK(s.rows >= 1 && s.cols >= 1 && s.sym.size() == size_t(s.rows * s.cols) &&
                 s.minmax_bf16.size() == size_t(2 * s.rows),
             "rans encode: inconsistent TernarySymbols (", s.rows, "x", s.cols, ")");
  QMOE_CHECK(chunk_weights >= 1, "rans encode: chunk_weights must be >= 1, got ", chunk_weights);
  QMOE_CHECK(streams >= 0 && streams <= kMaxStreams, "rans encode: streams must be in [1, ", kMaxStreams,
             "] or 0 (auto), got ", streams);
  if (streams == kAutoStreams) streams = AutoStreams(s.rows, s.cols);
  const int64_t np = ternary::PairsPerRow(s.cols);
  std::vector<uint8_t> pairs(static_cast<size_t>(s.rows * np));
  for (int64_t r = 0; r < s.rows; ++r) ternary::RowPairs(s.sym.data() + r * s.cols, s.cols, pairs.data() + r * np);
  std::array<int64_t, kSymbols> counts{};
  for (uint8_t p : pairs) counts[p]++;

  RansMatrix m;
  m.rows = s.rows;
  m.cols = s.cols;
  m.chunk_rows = int32_t(std::clamp<int64_t>(chunk_weights / s.cols, 1, s.rows));
  m.streams = streams;
  m.freq = QuantizeFrequencies(counts);
  m.minmax_bf16 = s.minmax_bf16;
  const auto cum = Cumulative(m.freq);
  const int64_t chunks = NumChunks(m.rows, m.chunk_rows);
  m.chunk_off.push_back(0);
  std::vector<uint16_t> buf;  // one chunk, emitted back to front
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t r0 = ch * m.chunk_rows, r1 = std::min(m.rows, r0 + m.chunk_rows);
    const uint8_t* sym = pairs.data() + r0 * np;
    const int64_t n = (r1 - r0) * np;
    std::vector<uint32_t> x(size_t(streams), kLow);
    buf.clear();
    for (int64_t i = n - 1; i >= 0; --i) {
      uint32_t& xi = x[size_t(i % streams)];
      const uint32_t f = m.freq[sym[i]], c = cum[sym[i]];
      // Renormalize so that the coded state stays below 2^32 (one word always suffices).
      if (uint64_t(xi) >= (uint64_t(f) << (32 - kScaleBits))) {
        buf.push_back(uint16_t(xi & 0xffff));
        xi >>= 16;
      }
      xi = ((xi / f) << kScaleBits) + (xi % f) + c;
    }
    for (int k = streams - 1; k >= 0; --k) {
      buf.push_back(uint16_t(x[size_t(k)] >> 16));
      buf.push_back(uint16_t(x[size_t(k)] & 0xffff));
    }
    m.words.insert(m.words.end(), buf.rbegin(), buf.rend());
    QMOE_CHECK(m.words.size() <= size_t(INT32_MAX), "rans encode: more than 2^31 words");
    m.chunk_off.push_back(int32_t(m.words.size()));
  }
  return m;
}

void Validate(const RansMatrix& m, const std::string& what) {
  QMOE_CHECK(m.rows >= 1 && m.cols >= 1, what, ": shape must be at least 1x1, got ", m.rows, "x", m.cols);
  QMOE_CHECK(m.rows < (int64_t(1) << 31) && m.cols < (int64_t(1) << 31) && m.rows * m.cols < (int64_t(1) << 48),
             what, ": shape ", m.rows, "x", m.cols, " is too large");
  QMOE_CHECK(m.chunk_rows >= 1, what, ": chunk_rows must be >= 1, got ", m.chunk_rows);
  QMOE_CHECK(m.streams >= 1 && m.streams <= kMaxStreams, what, ": streams must be in [1, ", kMaxStreams, "], got ",
             m.streams);
  uint32_t sum = 0;
  for (uint16_t f : m.freq) sum += f;
  QMOE_CHECK(sum == kScale, what, ": frequencies sum to ", sum, ", expected ", kScale);
  const int64_t chunks = NumChunks(m.rows, m.chunk_rows);
  QMOE_CHECK(m.chunk_off.size() == size_t(chunks + 1), what, ": chunk_off has ", m.chunk_off.size(),
             " entries, expected chunks + 1 = ", chunks + 1);
  QMOE_CHECK(m.chunk_off[0] == 0, what, ": chunk_off[0] is ", m.chunk_off[0], ", expected 0");
  QMOE_CHECK(int64_t(m.chunk_off[chunks]) == int64_t(m.words.size()), what, ": chunk_off[", chunks, "] is ",
             m.chunk_off[chunks], ", expected the word count ", m.words.size());
  for (int64_t ch = 0; ch < chunks; ++ch) {
    QMOE_CHECK(int64_t(m.chunk_off[ch + 1]) - m.chunk_off[ch] >= 2 * m.streams, what, ": chunk ", ch, " has ",
               int64_t(m.chunk_off[ch + 1]) - m.chunk_off[ch], " words, fewer than its ", 2 * m.streams,
               " state words (or chunk_off decreases)");
  }
  QMOE_CHECK(m.minmax_bf16.size() == size_t(2 * m.rows), what, ": ter_minmax has ", m.minmax_bf16.size(),
             " entries, expected 2 * rows = ", 2 * m.rows);
  for (int64_t r = 0; r < m.rows; ++r) {
    const float lo = Bf16BitsToFloat(m.minmax_bf16[2 * r]), hi = Bf16BitsToFloat(m.minmax_bf16[2 * r + 1]);
    QMOE_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, what, ": row ", r, " has min/max (", lo,
               ", ", hi, "), expected finite min <= max");
  }
}

namespace {

// Reads a chunk's initial states; checks they are normalized.
void InitStates(const uint16_t* w, int streams, uint32_t* x, const std::string& what, int64_t ch) {
  for (int k = 0; k < streams; ++k) {
    x[k] = uint32_t(w[2 * k]) | (uint32_t(w[2 * k + 1]) << 16);
    QMOE_CHECK(x[k] >= kLow, what, ": chunk ", ch, " state ", k, " is ", x[k], ", below 2^16");
  }
}

void CheckChunkEnd(const uint32_t* x, int streams, int64_t pos, int64_t end, const std::string& what, int64_t ch) {
  QMOE_CHECK(pos <= end, what, ": chunk ", ch, " reads past its end (corrupt stream)");
  QMOE_CHECK(pos == end, what, ": chunk ", ch, " has ", end - pos, " unread words");
  for (int k = 0; k < streams; ++k)
    QMOE_CHECK(x[k] == kLow, what, ": chunk ", ch, " state ", k, " ends at ", x[k], ", expected 2^16 (corrupt stream)");
}

// One decode step of state xi: its symbol to *dst, then renormalization. Branchless: the read
// index is clamped into the chunk (which holds >= 2 words), and a read past the end shows as
// pos > end, checked once after the chunk.
inline void Step(const uint32_t* lut, const uint16_t* w, int64_t& pos, int64_t end, uint32_t& xi, uint8_t* dst) {
  const uint32_t e = lut[xi & (kScale - 1)];
  *dst = uint8_t(e & 15u);
  xi = ((e >> 4) & 0x1fffu) * (xi >> kScaleBits) + (xi & (kScale - 1)) - (e >> 17);
  const bool need = xi < kLow;
  const uint32_t word = w[pos < end ? pos : end - 1];
  xi = need ? (xi << 16) | word : xi;
  pos += need;
}

// Symbols [i, n) of a chunk whose steps before i are done (i is a multiple of the stream count).
// S > 0 unrolls the S independent states of a step; S = 0 takes the stream count at run time.
template <int S>
void DecodeSteps(const uint32_t* lut, const uint16_t* w, int64_t& pos, int64_t end, uint32_t* x, int streams,
                 uint8_t* pairs, int64_t i, int64_t n) {
  if constexpr (S > 0) {
    for (; i + S <= n; i += S)
      for (int k = 0; k < S; ++k) Step(lut, w, pos, end, x[k], &pairs[i + k]);
  }
  for (; i < n; ++i) Step(lut, w, pos, end, x[i % streams], &pairs[i]);
}

}  // namespace

std::vector<uint32_t> SlotTable(const std::array<uint16_t, kSymbols>& freq) {
  const auto cum = Cumulative(freq);
  std::vector<uint32_t> lut(kScale);
  for (int s = 0; s < kSymbols; ++s)
    for (uint32_t j = cum[s]; j < cum[s + 1]; ++j) lut[j] = uint32_t(s) | (uint32_t(freq[s]) << 4) | (cum[s] << 17);
  return lut;
}

bool DecodePathAvailable(DecodePath path) {
  switch (path) {
    case DecodePath::kAvx2: return detail::HaveAvx2();
    case DecodePath::kAvx512: return detail::HaveAvx512();
    default: return true;
  }
}

DecodePath ResolveDecodePath(DecodePath path, int streams) {
  QMOE_CHECK(DecodePathAvailable(path), "rans decode: the ", path == DecodePath::kAvx2 ? "AVX2" : "AVX-512",
             " path was requested but this CPU does not support it");
  if (path != DecodePath::kAuto) return path;
  return detail::HaveAvx512() && streams % 16 == 0 ? DecodePath::kAvx512
         : detail::HaveAvx2()                       ? DecodePath::kAvx2
                                                    : DecodePath::kScalar;
}

ChunkDecoder::ChunkDecoder(const RansMatrix& m, int64_t chunk, DecodePath path, const uint32_t* lut,
                           const std::string& what)
    : m_(m), lut_(lut), what_(what), path_(path), chunk_(chunk) {
  QMOE_ASSERT(path != DecodePath::kAuto && chunk >= 0 && chunk < NumChunks(m.rows, m.chunk_rows));
  const int64_t r0 = chunk * m.chunk_rows, r1 = std::min(m.rows, r0 + m.chunk_rows);
  n_ = (r1 - r0) * ternary::PairsPerRow(m.cols);
  pos_ = m.chunk_off[chunk] + 2 * m.streams;
  end_ = m.chunk_off[chunk + 1];
  InitStates(m.words.data() + m.chunk_off[chunk], m.streams, x_, what, chunk);
}

void ChunkDecoder::Next(uint8_t* pairs, int64_t n) {
  QMOE_ASSERT(n >= 0 && done_ + n <= n_ && (n % m_.streams == 0 || done_ + n == n_),
              "ChunkDecoder::Next: ", n, " symbols after ", done_, " of ", n_, " with ", m_.streams, " streams");
  const uint16_t* w = m_.words.data();
  int64_t i = 0;
  if (path_ == DecodePath::kAvx512) i = detail::DecodeStepsAvx512(m_.freq.data(), w, pos_, end_, x_, m_.streams, pairs, n);
  if (path_ == DecodePath::kAvx2) i = detail::DecodeStepsAvx2(m_.freq.data(), w, pos_, end_, x_, m_.streams, pairs, n);
  Continue(pairs, i, n);
}

void ChunkDecoder::Continue(uint8_t* pairs, int64_t i, int64_t n) {
  const uint16_t* w = m_.words.data();
  switch (m_.streams) {
    case 4: DecodeSteps<4>(lut_, w, pos_, end_, x_, m_.streams, pairs, i, n); break;
    case 8: DecodeSteps<8>(lut_, w, pos_, end_, x_, m_.streams, pairs, i, n); break;
    case 16: DecodeSteps<16>(lut_, w, pos_, end_, x_, m_.streams, pairs, i, n); break;
    case 32: DecodeSteps<32>(lut_, w, pos_, end_, x_, m_.streams, pairs, i, n); break;
    default: DecodeSteps<0>(lut_, w, pos_, end_, x_, m_.streams, pairs, i, n); break;
  }
  done_ += n;
}

void ChunkDecoder::NextTogether(ChunkDecoder* const* d, uint8_t* const* pairs, int count, int64_t n) {
  QMOE_ASSERT(count >= 1 && count <= kMaxTogether, "ChunkDecoder::NextTogether: count ", count);
  if (count == 1 || d[0]->path_ != DecodePath::kAvx512 || d[0]->m_.streams != 32) {
    for (int c = 0; c < count; ++c) d[c]->Next(pairs[c], n);
    return;
  }
  int64_t* pos[kMaxTogether];
  int64_t end[kMaxTogether];
  uint32_t* x[kMaxTogether];
  for (int c = 0; c < count; ++c) {
    const ChunkDecoder& e = *d[c];
    QMOE_ASSERT(&e.m_ == &d[0]->m_ && e.path_ == d[0]->path_ && e.done_ == d[0]->done_ && e.n_ == d[0]->n_ &&
                    e.done_ + n <= e.n_ && (n % e.m_.streams == 0 || e.done_ + n == e.n_),
                "ChunkDecoder::NextTogether: decoders not in step");
    pos[c] = &d[c]->pos_, end[c] = e.end_, x[c] = d[c]->x_;
  }
  const int64_t i = detail::DecodeSteps32TogetherAvx512(d[0]->m_.freq.data(), d[0]->m_.words.data(), count, pos, end,
                                                        x, pairs, n);
  for (int c = 0; c < count; ++c) d[c]->Continue(pairs[c], i, n);
}

void ChunkDecoder::Finish() const {
  QMOE_ASSERT(done_ == n_, "ChunkDecoder::Finish after ", done_, " of ", n_, " symbols");
  CheckChunkEnd(x_, m_.streams, pos_, end_, what_, chunk_);
}

void Decode(const RansMatrix& m, float* out, DecodePath path) {
  const std::string what = "rans matrix";
  path = ResolveDecodePath(path, m.streams);
  Validate(m, what);
  const std::vector<uint32_t> lut = SlotTable(m.freq);
  const int64_t np = ternary::PairsPerRow(m.cols), chunks = NumChunks(m.rows, m.chunk_rows);
  std::vector<uint8_t> pairs(static_cast<size_t>(std::min<int64_t>(m.chunk_rows, m.rows) * np));  // a chunk never exceeds the matrix
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t r0 = ch * m.chunk_rows, r1 = std::min(m.rows, r0 + m.chunk_rows);
    ChunkDecoder d(m, ch, path, lut.data(), what);
    d.Next(pairs.data(), d.symbols());
    d.Finish();
    for (int64_t r = r0; r < r1; ++r)
      ExpandRow(pairs.data() + (r - r0) * np, m.cols, Bf16BitsToFloat(m.minmax_bf16[2 * r]),
                Bf16BitsToFloat(m.minmax_bf16[2 * r + 1]), out + r * m.cols, what, r, path);
  }
}

void DecodeRef(const RansMatrix& m, float* out) {
  const std::string what = "rans matrix";
  Validate(m, what);
  const auto cum = Cumulative(m.freq);
  const int64_t np = ternary::PairsPerRow(m.cols), chunks = NumChunks(m.rows, m.chunk_rows);
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t r0 = ch * m.chunk_rows, r1 = std::min(m.rows, r0 + m.chunk_rows);
    int64_t pos = m.chunk_off[ch] + 2 * m.streams;
    const int64_t end = m.chunk_off[ch + 1];
    std::vector<uint32_t> x(size_t(m.streams));
    InitStates(m.words.data() + m.chunk_off[ch], m.streams, x.data(), what, ch);
    std::vector<uint8_t> pairs;
    for (int64_t i = 0; i < (r1 - r0) * np; ++i) {
      uint32_t& xi = x[size_t(i % m.streams)];
      const uint32_t slot = xi % kScale;
      int s = 0;
      while (!(slot >= cum[s] && slot < cum[s + 1])) ++s;  // sum == 4096, so some s matches
      pairs.push_back(uint8_t(s));
      xi = m.freq[s] * (xi / kScale) + slot - cum[s];
      if (xi < kLow) {
        QMOE_CHECK(pos < end, what, ": chunk ", ch, " reads past its end (corrupt stream)");
        xi = xi * 65536u + m.words[pos++];
      }
    }
    CheckChunkEnd(x.data(), m.streams, pos, end, what, ch);
    for (int64_t r = r0; r < r1; ++r)
      ExpandRow(pairs.data() + (r - r0) * np, m.cols, Bf16BitsToFloat(m.minmax_bf16[2 * r]),
                Bf16BitsToFloat(m.minmax_bf16[2 * r + 1]), out + r * m.cols, what, r, DecodePath::kScalar);
  }
}

ternary::Fields Pack(const RansMatrix& m) {
  return {{"rans_words", ternary::I16Field(m.words)},
          {"chunk_off", ternary::I32Field(m.chunk_off)},
          {"freq", ternary::I16Field(std::vector<uint16_t>(m.freq.begin(), m.freq.end()))},
          {"rans_meta", ternary::I32Field({m.chunk_rows, m.streams})},
          {"ter_minmax", ternary::Bf16Field(m.minmax_bf16)},
          {"shape", ternary::I32Field({int32_t(m.rows), int32_t(m.cols)})}};
}

RansMatrix Unpack(const ternary::FieldViews& fields, const std::string& what) {
  const auto shape = ternary::ReadI32(fields, "shape", what, 2);
  QMOE_CHECK(shape[0] >= 1 && shape[1] >= 1, what, ": packed shape is ", shape[0], "x", shape[1],
             ", expected at least 1x1");
  const auto meta = ternary::ReadI32(fields, "rans_meta", what, 2);
  RansMatrix m;
  m.rows = shape[0];
  m.cols = shape[1];
  m.chunk_rows = meta[0];
  m.streams = meta[1];  // Validate checks the range
  const auto freq = ternary::ReadI16(fields, "freq", what, kSymbols);
  std::copy(freq.begin(), freq.end(), m.freq.begin());
  const auto words = ternary::ReadI16(fields, "rans_words", what);
  m.words.assign(words.begin(), words.end());
  const auto chunk_off = ternary::ReadI32(fields, "chunk_off", what);
  m.chunk_off.assign(chunk_off.begin(), chunk_off.end());
  const auto minmax = ternary::ReadBf16(fields, "ter_minmax", what, 2 * m.rows);
  m.minmax_bf16.assign(minmax.begin(), minmax.end());
  Validate(m, what);
  return m;
}

int64_t StorageBits(const RansMatrix& m) {
  return 16 * int64_t(m.words.size()) + 32 * int64_t(m.chunk_off.size()) + 16 * kSymbols + 64 + 32 * m.rows;
}

codecs::Codec RansCodec() {
  using codecs::As;
  using codecs::Coded;
  codecs::Codec c;
  c.name = "rans";
  c.version = 2;  // 2: streams (default 8, was 4)
  c.help = "ternary (gptq|rtn) + rANS over ternary pairs, per-matrix 12-bit frequencies";
  c.fused_kernel = "rans_matvec";
  c.params = SpecsOf<Options>();
  c.encode = [](const ternary::TernarySymbols& s, const ParamMap& p) -> Coded {
    const Options o = FromParamMap<Options>(p);
    QMOE_CHECK(o.chunk_weights >= 1, "rans: chunk_weights must be >= 1, got ", o.chunk_weights);
    QMOE_CHECK(o.streams >= 0 && o.streams <= kMaxStreams, "rans: streams must be in [1, ", kMaxStreams,
               "] or 0 (auto), got ", o.streams);
    return Encode(s, o.chunk_weights, int(o.streams));
  };
  c.validate = [](const Coded& m, const std::string& what) { Validate(As<RansMatrix>(m), what); };
  const std::pair<const char*, DecodePath> paths[] = {{"auto", DecodePath::kAuto},
                                                      {"scalar", DecodePath::kScalar},
                                                      {"avx2", DecodePath::kAvx2},
                                                      {"avx512", DecodePath::kAvx512}};
  for (const auto& named : paths) {
    const DecodePath path = named.second;  // a copy: lambdas may not capture structured bindings (clang)
    c.decoders.push_back({named.first, [path] { return DecodePathAvailable(path); },
                          [path](const Coded& m, float* out) { Decode(As<RansMatrix>(m), out, path); }});
  }
  c.decode_ref = [](const Coded& m, float* out) { DecodeRef(As<RansMatrix>(m), out); };
  c.storage_bits = [](const Coded& m) { return double(StorageBits(As<RansMatrix>(m))); };
  c.pack = [](const Coded& m) { return Pack(As<RansMatrix>(m)); };
  c.unpack = [](const ternary::FieldViews& f, const std::string& what) -> Coded { return Unpack(f, what); };
  c.stats = [](const Coded& coded, const ternary::Entropy& h) {
    const auto& m = As<RansMatrix>(coded);
    // Coded bits without the per-row min/max, over the empirical pair entropy.
    const double coded_bits = double(StorageBits(m)) - 32.0 * double(m.rows);
    const double ideal = h.pair_bits * double(m.rows * m.cols);
    return std::map<std::string, double>{{"rans_words", double(m.words.size())},
                                         {"chunks", double(m.chunk_off.size() - 1)},
                                         {"coding_overhead", ideal > 0 ? coded_bits / ideal - 1.0 : 0.0}};
  };
  c.rate_lines = [](const Coded& coded) {
    const auto& m = As<RansMatrix>(coded);
    const double bits = double(StorageBits(m));
    return std::vector<codecs::RateLine>{
        {"rans, exact bits", bits,
         StrCat(m.words.size(), " words, ", m.chunk_off.size() - 1, " chunks of ", m.chunk_rows, " rows, ", m.streams,
                " streams")},
        {"rans, without per-row min/max", bits - 32.0 * double(m.rows), ""}};
  };
  c.metrics = [](const Coded& coded) {
    return std::map<std::string, double>{{"rans_streams", double(As<RansMatrix>(coded).streams)}};
  };
  return c;
}

}  // namespace qmoe::rans
