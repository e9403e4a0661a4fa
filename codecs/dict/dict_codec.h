// The dictionary codec ("dict") on raw arrays (no torch): ternary symbols -> pairs -> per-row
// greedy codewords of the static dictionary, the one validator of untrusted input, the fast
// decoder and its plain twin, pack/unpack of the stored fields, and size accounting. The layout
// and the decode helpers are in dict_format.h.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "codecs/dict/dict_format.h"
#include "codecs/ternary/packed_fields.h"
#include "codecs/ternary/ternary_symbols.h"

namespace qmoe::codecs {
struct Codec;
}

namespace qmoe::dict {

// One encoded matrix [rows, cols], owning its arrays (the stored layout of dict_format.h).
struct EncodedMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<uint16_t> codes;        // Σ codewords, rows concatenated ("w_comp")
  std::vector<int32_t> row_off;       // [rows + 1], row_off[0] = 0
  std::vector<uint16_t> minmax_bf16;  // [2 * rows], interleaved (min_r, max_r) ("ter_minmax")
};

EncodedMatrix Encode(const ternary::TernarySymbols& s);

// The view of an EncodedMatrix (sizes unchecked: Validate checks them) and an owning copy of a view.
DictView ViewOf(const EncodedMatrix& m);
EncodedMatrix ToEncoded(const DictView& v);

// Checks the decode table: n in 1..14 and equal in both words, no symbol 3, unused slots 0.
void ValidateDecodeTable(const uint32_t* dec);

// The O(1) part of Validate, which every kernel entry point repeats: shape, pointers,
// row_off[0] == 0 and row_off[rows] == num_codes.
void ValidateShape(const DictView& m, std::string_view what);

// The one validator of the format, so that every decoder and kernel may trust what passes:
// shape within int32 (0 rows or 0 columns are a valid empty matrix); non-null arrays where
// needed; row_off[0] = 0, non-decreasing, row_off[rows] = num_codes; each row's codewords cover
// exactly ceil(cols/2) pairs (a codeword overrunning the row is an error); an odd width's padding
// symbol is 0; every row's min/max finite with min <= max. `dec` is the decode table (checked
// separately by ValidateDecodeTable). One qmoe::Error naming `what` and the first problem; never
// reads out of bounds.
void Validate(const DictView& m, const uint32_t* dec, std::string_view what = "dict matrix");
// A stored matrix: additionally rows, cols >= 1 and the array sizes (row_off rows + 1, minmax
// 2 rows) against the shape.
void Validate(const EncodedMatrix& m, const std::string& what = "encoded matrix");

// Validates, then decodes to row-major [rows, cols] fp32 (bit-exact: symbol 0 -> 0, 1 -> min,
// 2 -> max). Decode is the fast decoder (the packed table with fixed 28-slot unpacking);
// DecodeRef walks Entries() pair by pair (the plain twin).
void Decode(const EncodedMatrix& m, float* out);
void DecodeRef(const EncodedMatrix& m, float* out);
std::vector<float> Decode(const EncodedMatrix& m);
// The fast decoder itself on a view that passed Validate: rows [r0, r1) into out[(r - r0)·cols].
// The kernels' dense decompress runs the same function.
void DecodeRows(const DictView& m, const uint32_t* dec, int64_t r0, int64_t r1, float* out);

// The stored fields: "w_comp", "row_off", "ter_minmax", and "shape" int32 {rows, cols}.
ternary::Fields Pack(const EncodedMatrix& m);
// A validated view of stored fields (no copy: it points into `fields`). The shape comes from the
// "shape" field when present (a method's checkpoint) or from rows/cols (the published layout,
// where the model config fixes it); when both are given they must agree.
DictView Unpack(const ternary::FieldViews& fields, const std::string& what, int64_t rows = -1, int64_t cols = -1);

// Exact bytes of the stored fields without "shape": 2·Σcw + 4·(rows + 1) + 4·rows.
int64_t ExactBytes(const EncodedMatrix& m);
// The reference's "ideal rate", labelled as such: 16·h·w / (16·Σcw + 64·(h + 1)), i.e. a
// compression ratio against bf16 that charges 16 bits per codeword and 64 bits per row.
double ReferenceIdealRate(int64_t rows, int64_t cols, int64_t codewords);

// The "dict" row of the codec table (codecs/codec.h).
codecs::Codec DictCodec();

}  // namespace qmoe::dict
