// A tiny cursor over libFuzzer input bytes: reads fixed-size little-endian values, returning 0
// once the input is exhausted (so every input maps to some structure).
#pragma once
#include <cstddef>
#include <cstdint>

namespace qmoe::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  uint8_t U8() { return i_ < n_ ? p_[i_++] : 0; }
  uint16_t U16() { return uint16_t(U8() | (U8() << 8)); }
  uint32_t U32() { return uint32_t(U16()) | (uint32_t(U16()) << 16); }
  size_t left() const { return i_ < n_ ? n_ - i_ : 0; }

 private:
  const uint8_t* p_;
  size_t n_, i_ = 0;
};

}  // namespace qmoe::fuzz
