// Reader for SentencePiece `.model` files (a serialized protobuf ModelProto), written against the
// protobuf wire format so qmoe needs neither libprotobuf nor libsentencepiece (docs/build-notes.md#sentencepiece).
// Only the fields the unigram encoder needs are kept; unknown fields are skipped.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qmoe::data {

// Values of sentencepiece.ModelProto.SentencePiece.Type.
enum class PieceType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct SpmPiece {
  std::string text;
  float score = 0.0f;
  PieceType type = PieceType::kNormal;
};

// Values of sentencepiece.TrainerSpec.ModelType.
enum class SpmModelType : int32_t { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

struct SpmModel {
  std::vector<SpmPiece> pieces;
  // TrainerSpec
  SpmModelType model_type = SpmModelType::kUnigram;
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  std::string unk_surface = " \xE2\x81\x87 ";  // " ⁇ ", SentencePiece's default
  // NormalizerSpec (proto defaults)
  std::string normalizer_name;
  std::string precompiled_charsmap;  // empty = identity normalization
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  std::string normalization_rule_tsv;  // custom rules: not supported, rejected by the tokenizer
};

// Parses a ModelProto. `name` (the file path) appears in every error message.
SpmModel ParseSpmModel(std::string_view bytes, const std::string& name);

}  // namespace qmoe::data
