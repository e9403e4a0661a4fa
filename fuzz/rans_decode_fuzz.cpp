// libFuzzer target: rans Validate + Decode/DecodeRef on untrusted RansMatrix fields, in the same
// two modes as dict_decode_fuzz (raw fields, or a valid encoding plus corruptions). Invariants:
// only qmoe::Error escapes; every decode path the CPU runs (scalar, AVX2, AVX-512) agrees with
// the plain decoder on success and on failure, and on the floats. Stream counts 0-39 (0 = auto on
// encode; 0 and 33+ are invalid in raw fields).
#include <cstring>
#include <vector>

#include "framework/core/error.h"
#include "fuzz/fuzz_input.h"
#include "methods/rans/rans_codec.h"

using namespace qmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t mode = in.U8();
  rans::RansMatrix m;
  m.rows = 1 + in.U8() % 8;
  m.cols = 1 + in.U16() % 200;
  if (mode & 1) {
    dict::TernarySymbols s;
    s.rows = m.rows;
    s.cols = m.cols;
    for (int64_t i = 0; i < m.rows * m.cols; ++i) s.sym.push_back(uint8_t(in.U8() % 7 == 0 ? 1 + in.U8() % 2 : 0));
    for (int64_t r = 0; r < m.rows; ++r) s.minmax_bf16.insert(s.minmax_bf16.end(), {0xbf80, 0x3f80});
    m = rans::Encode(s, 1 + in.U16() % 600, in.U8() % (rans::kMaxStreams + 1));  // 0 = auto
    const int corruptions = in.U8() % 4;
    for (int k = 0; k < corruptions; ++k) {
      const uint8_t what = in.U8() % 6;
      const uint32_t at = in.U32(), val = in.U32();
      if (what == 0 && !m.words.empty()) m.words[at % m.words.size()] = uint16_t(val);
      if (what == 1) m.chunk_off[at % m.chunk_off.size()] = int32_t(val);
      if (what == 2) m.words.resize(at % (m.words.size() + 2));
      if (what == 3) m.freq[at % rans::kSymbols] = uint16_t(val % 5000);
      if (what == 4) m.chunk_rows = int32_t(val % 10);
      if (what == 5) m.streams = int32_t(val % 40);
    }
  } else {
    m.chunk_rows = int32_t(in.U8() % 10);
    m.streams = int32_t(in.U8() % 40);
    for (auto& f : m.freq) f = uint16_t(in.U16() % 4097);
    const int64_t chunks = m.chunk_rows > 0 ? rans::NumChunks(m.rows, m.chunk_rows) : 1;
    m.chunk_off.resize(size_t(chunks + 1));
    for (auto& o : m.chunk_off) o = int32_t(in.U32() % 1024) - 16;
    for (int64_t i = 0; i < 2 * m.rows; ++i) m.minmax_bf16.push_back(in.U16());
    while (in.left() >= 2) m.words.push_back(in.U16());
  }
  std::vector<float> ref(size_t(m.rows * m.cols));
  bool ref_ok = true;
  try {
    rans::DecodeRef(m, ref.data());
  } catch (const Error&) {
    ref_ok = false;
  }
  // Every decode path this CPU runs must agree with the reference on error vs floats.
  for (rans::DecodePath path : {rans::DecodePath::kScalar, rans::DecodePath::kAvx2, rans::DecodePath::kAvx512}) {
    if (!rans::DecodePathAvailable(path)) continue;
    std::vector<float> fast(ref.size());
    bool fast_ok = true;
    try {
      rans::Decode(m, fast.data(), path);
    } catch (const Error&) {
      fast_ok = false;
    }
    if (fast_ok != ref_ok) __builtin_trap();
    if (fast_ok && std::memcmp(fast.data(), ref.data(), fast.size() * sizeof(float)) != 0) __builtin_trap();
  }
  return 0;
}
