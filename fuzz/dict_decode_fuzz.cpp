// libFuzzer target: dict Validate + Decode/DecodeRef on untrusted EncodedMatrix fields. Two input
// modes (first byte, bit 0): raw fields, or a valid encoding of fuzzer-chosen symbols followed by
// fuzzer-chosen corruptions (reaches deep into the row-width checks). Invariants: only
// qmoe::Error may escape; when decoding succeeds, the fast and plain decoders agree bit-exactly
// and (mode 1 without corruption) reproduce the symbols' values.
#include <cstring>
#include <vector>

#include "framework/core/error.h"
#include "fuzz/fuzz_input.h"
#include "methods/dict/dict_codec.h"

using namespace qmoe::dict;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qmoe::fuzz::Input in(data, size);
  const uint8_t mode = in.U8();
  EncodedMatrix m;
  m.rows = 1 + in.U8() % 8;
  m.cols = 1 + in.U16() % 200;
  if (mode & 1) {
    TernarySymbols s;
    s.rows = m.rows;
    s.cols = m.cols;
    for (int64_t i = 0; i < m.rows * m.cols; ++i) s.sym.push_back(uint8_t(in.U8() % 7 == 0 ? 1 + in.U8() % 2 : 0));
    for (int64_t r = 0; r < m.rows; ++r) s.minmax_bf16.insert(s.minmax_bf16.end(), {0xbf80, 0x3f80});  // -1, +1
    m = Encode(s);
    const int corruptions = in.U8() % 4;
    for (int k = 0; k < corruptions; ++k) {
      const uint8_t what = in.U8() % 4;
      const uint32_t at = in.U32(), val = in.U32();
      if (what == 0 && !m.codes.empty()) m.codes[at % m.codes.size()] = uint16_t(val);
      if (what == 1) m.row_off[at % m.row_off.size()] = int32_t(val);
      if (what == 2) m.codes.resize(at % (m.codes.size() + 2));
      if (what == 3) m.minmax_bf16[at % m.minmax_bf16.size()] = uint16_t(val);
    }
  } else {
    m.row_off.resize(size_t(m.rows + 1));
    for (auto& o : m.row_off) o = int32_t(in.U32() % 512) - 16;
    for (int64_t i = 0; i < 2 * m.rows; ++i) m.minmax_bf16.push_back(in.U16());
    while (in.left() >= 2) m.codes.push_back(in.U16());
  }
  std::vector<float> fast(size_t(m.rows * m.cols)), ref(fast.size());
  try {
    Decode(m, fast.data());
  } catch (const qmoe::Error&) {
    return 0;
  }
  DecodeRef(m, ref.data());  // must not throw after Decode succeeded
  if (std::memcmp(fast.data(), ref.data(), fast.size() * sizeof(float)) != 0) __builtin_trap();
  return 0;
}
