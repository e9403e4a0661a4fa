#include "framework/data/spm_model.h"

#include <cstring>

#include "framework/core/error.h"

namespace qmoe::data {
namespace {

// Field numbers of sentencepiece_model.proto that we read.
constexpr int kModelPieces = 1, kModelTrainerSpec = 2, kModelNormalizerSpec = 3;
constexpr int kPieceText = 1, kPieceScore = 2, kPieceType = 3;
constexpr int kTrainerModelType = 3, kTrainerTreatWsAsSuffix = 24, kTrainerByteFallback = 35,
              kTrainerUnkSurface = 44;
constexpr int kNormName = 1, kNormCharsmap = 2, kNormDummyPrefix = 3, kNormRemoveExtraWs = 4,
              kNormEscapeWs = 5, kNormRuleTsv = 6;

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One field of a protobuf message: number, wire type and its value (varint/fixed or bytes).
struct Field {
  int number = 0;
  int wire = 0;
  uint64_t num = 0;
  std::string_view bytes;
};

class WireReader {
 public:
  WireReader(std::string_view buf, const std::string& name, const char* what)
      : buf_(buf), name_(name), what_(what) {}

  bool Next(Field& f) {
    if (pos_ >= buf_.size()) return false;
    uint64_t key = Varint();
    f.number = static_cast<int>(key >> 3);
    f.wire = static_cast<int>(key & 7);
    switch (f.wire) {
      case kVarint: f.num = Varint(); break;
      case kFixed64: f.num = Fixed(8); break;
      case kFixed32: f.num = Fixed(4); break;
      case kLengthDelimited: {
        uint64_t n = Varint();
        Need(n);
        f.bytes = buf_.substr(pos_, n);
        pos_ += n;
        break;
      }
      default:
        QMOE_CHECK(false, name_, ": not a SentencePiece model (bad protobuf wire type ", f.wire,
                   " in ", what_, " at byte ", pos_, ")");
    }
    return true;
  }

 private:
  void Need(uint64_t n) {
    QMOE_CHECK(n <= buf_.size() - pos_, name_, ": truncated SentencePiece model (", what_,
               " needs ", n, " bytes at offset ", pos_, ", has ", buf_.size() - pos_, ")");
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      Need(1);
      auto c = static_cast<uint8_t>(buf_[pos_++]);
      v |= static_cast<uint64_t>(c & 0x7F) << shift;
      if (!(c & 0x80)) return v;
    }
    QMOE_CHECK(false, name_, ": not a SentencePiece model (varint longer than 10 bytes in ", what_, ")");
    return 0;
  }
  uint64_t Fixed(int n) {
    Need(n);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(buf_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }

  std::string_view buf_;
  size_t pos_ = 0;
  const std::string& name_;
  const char* what_;
};

float AsFloat(const Field& f) {
  auto bits = static_cast<uint32_t>(f.num);
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}

SpmPiece ParsePiece(std::string_view bytes, const std::string& name) {
  SpmPiece p;
  WireReader r(bytes, name, "SentencePiece");
  Field f;
  while (r.Next(f)) {
    if (f.number == kPieceText && f.wire == kLengthDelimited) p.text = std::string(f.bytes);
    else if (f.number == kPieceScore && f.wire == kFixed32) p.score = AsFloat(f);
    else if (f.number == kPieceType && f.wire == kVarint) p.type = static_cast<PieceType>(f.num);
  }
  return p;
}

}  // namespace

SpmModel ParseSpmModel(std::string_view bytes, const std::string& name) {
  SpmModel m;
  WireReader top(bytes, name, "ModelProto");
  Field f;
  while (top.Next(f)) {
    if (f.wire != kLengthDelimited) continue;
    if (f.number == kModelPieces) {
      m.pieces.push_back(ParsePiece(f.bytes, name));
      const PieceType t = m.pieces.back().type;
      QMOE_CHECK(static_cast<int>(t) >= 1 && static_cast<int>(t) <= 6, name, ": piece ",
                 m.pieces.size() - 1, " has unknown type ", static_cast<int>(t));
    } else if (f.number == kModelTrainerSpec) {
      WireReader r(f.bytes, name, "TrainerSpec");
      Field t;
      while (r.Next(t)) {
        if (t.number == kTrainerModelType && t.wire == kVarint) m.model_type = static_cast<SpmModelType>(t.num);
        else if (t.number == kTrainerByteFallback && t.wire == kVarint) m.byte_fallback = t.num != 0;
        else if (t.number == kTrainerTreatWsAsSuffix && t.wire == kVarint) m.treat_whitespace_as_suffix = t.num != 0;
        else if (t.number == kTrainerUnkSurface && t.wire == kLengthDelimited) m.unk_surface = std::string(t.bytes);
      }
    } else if (f.number == kModelNormalizerSpec) {
      WireReader r(f.bytes, name, "NormalizerSpec");
      Field t;
      while (r.Next(t)) {
        if (t.number == kNormName && t.wire == kLengthDelimited) m.normalizer_name = std::string(t.bytes);
        else if (t.number == kNormCharsmap && t.wire == kLengthDelimited) m.precompiled_charsmap = std::string(t.bytes);
        else if (t.number == kNormDummyPrefix && t.wire == kVarint) m.add_dummy_prefix = t.num != 0;
        else if (t.number == kNormRemoveExtraWs && t.wire == kVarint) m.remove_extra_whitespaces = t.num != 0;
        else if (t.number == kNormEscapeWs && t.wire == kVarint) m.escape_whitespaces = t.num != 0;
        else if (t.number == kNormRuleTsv && t.wire == kLengthDelimited) m.normalization_rule_tsv = std::string(t.bytes);
      }
    }
  }
  QMOE_CHECK(!m.pieces.empty(), name, ": not a SentencePiece model (no pieces found)");
  return m;
}

}  // namespace qmoe::data
