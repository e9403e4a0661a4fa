// The fuzz loop over the codec table (fuzz/codec_decode_fuzz.cpp runs it under libFuzzer; tests run
// it on fixed inputs). The first input byte picks the codec, the next its mode: raw fields from the
// input, or a valid encoding of input-chosen symbols and options followed by input-chosen
// corruptions of its fields. Invariants: only qmoe::Error escapes unpack and decode; when unpack
// succeeds, every decoder this CPU runs agrees with the plain twin on success vs error and, on
// success, bit for bit (and without corruption, with the symbols' values).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "codecs/codec.h"

namespace qmoe::codecs {

// Runs one input; returns "" or a description of the broken invariant.
std::string FuzzOne(const CodecRegistry& codecs, const uint8_t* data, size_t size);

}  // namespace qmoe::codecs
