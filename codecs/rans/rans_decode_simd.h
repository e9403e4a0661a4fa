// The rans decoder's SIMD paths (rans_decode_simd.cpp), internal to rans_codec.cpp. Each is
// compiled with a per-function target and called only when the CPU reports the ISA; on other
// architectures the Have* functions return false.
#pragma once
#include <cstdint>

namespace qmoe::rans::detail {

bool HaveAvx2();    // checked once
bool HaveAvx512();  // AVX-512 F, BW and VL

// Decode whole steps of `streams` states from the start of a chunk, one vector of 8 (AVX2) or 16
// (AVX-512) lanes per group of states, while every vector's word read stays inside the chunk;
// return the number of symbols decoded (a multiple of streams; 0 when streams is not 8-32 in
// whole vectors) and leave x and pos where the scalar decoder continues. Same arithmetic and word
// order as the scalar step: the lanes of a step renormalize in lane order. freq: the 9 frequencies.
int64_t DecodeStepsAvx2(const uint16_t* freq, const uint16_t* w, int64_t& pos, int64_t end, uint32_t* x, int streams,
                        uint8_t* pairs, int64_t n);
int64_t DecodeStepsAvx512(const uint16_t* freq, const uint16_t* w, int64_t& pos, int64_t end, uint32_t* x,
                          int streams, uint8_t* pairs, int64_t n);

// DecodeStepsAvx512 for S = 32 on `count` (2..4) chunks at once, their steps interleaved; runs
// while every chunk's word reads stay inside it and returns the symbols decoded in each.
int64_t DecodeSteps32TogetherAvx512(const uint16_t* freq, const uint16_t* w, int count, int64_t* const* pos,
                                    const int64_t* end, uint32_t* const* x, uint8_t* const* pairs, int64_t n);

// Write the weights of pairs [0, n) of one row (2 per pair, levels 0, lo, hi). Symbols must be < 9.
void ExpandPairsAvx2(const uint8_t* pairs, int64_t n, float lo, float hi, float* out);
void ExpandPairsAvx512(const uint8_t* pairs, int64_t n, float lo, float hi, float* out);

}  // namespace qmoe::rans::detail
