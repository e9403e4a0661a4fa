// libFuzzer target: the fuzz loop over the codec table (codecs/codec_fuzz.h) on untrusted packed
// fields of every codec: unpack (the one validator of each format), then every decoder against
// its plain twin. A broken invariant traps; only qmoe::Error may escape the codecs.
#include <cstdint>
#include <cstdio>
#include <string>

#include "codecs/codec_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string broken = qmoe::codecs::FuzzOne(qmoe::codecs::Codecs(), data, size);
  if (!broken.empty()) {
    std::fprintf(stderr, "%s\n", broken.c_str());
    __builtin_trap();
  }
  return 0;
}
