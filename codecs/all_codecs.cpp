// The one list of codecs. Names reach results.db and checkpoints: never rename or reuse one.
#include "codecs/codec.h"
#include "codecs/dict/dict_codec.h"
#include "codecs/rans/rans_codec.h"

namespace qmoe::codecs {

void RegisterAllCodecs(CodecRegistry& r) {
  for (const Codec& c : {dict::DictCodec(), rans::RansCodec()}) r.Add(c.name, c);
}

const CodecRegistry& Codecs() {
  static const CodecRegistry* const reg = [] {
    auto* r = new CodecRegistry("codec");  // never destroyed: usable from any static's destructor
    RegisterAllCodecs(*r);
    return r;
  }();
  return *reg;
}

}  // namespace qmoe::codecs
