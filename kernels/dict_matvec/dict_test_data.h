// Test/benchmark-only data for the dict kernels: random ternary matrices encoded with the real
// dictionary and encoder from methods/dict (qmoe_dict). The kernels themselves never depend on
// methods/dict: they take the decode table as a raw pointer.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/common/bf16.h"
#include "kernels/dict_matvec/dict_matvec.h"

namespace qmoe::kernels::dict_test {

// uint32[2*65536]: qmoe::dict::DecodeTable().
const std::vector<uint32_t>& DecodeTable();

// An owning compressed matrix plus the symbols it encodes.
struct TestMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> symbols;  // [rows][cols], 0/1/2
  std::vector<uint16_t> codes;
  std::vector<int32_t> row_off;
  std::vector<Bf16> minmax;
  DictView View() const {
    return DictView{rows, cols, codes.data(), int64_t(codes.size()), row_off.data(), minmax.data()};
  }
  // W[r][c] straight from the symbols (independent of any decoder).
  float Weight(int64_t r, int64_t c) const;
};

// i.i.d. symbols with P(0) = p0, P(1) = P(2) = (1-p0)/2; levels min in [-2, -0.25],
// max in [0.25, 2] (bf16). Every 7th row is all-zero and every 5th row has min == max, so
// the adversarial cases appear at every shape with >= 7 rows. Every other row gets at least one
// non-zero weight.
// adversarial = false gives plain i.i.d. rows (benchmarks).
TestMatrix RandomTernary(int64_t rows, int64_t cols, double p0, uint64_t seed,
                         bool adversarial = true);

// Encodes m.symbols with qmoe::dict::Encode (fills codes and row_off).
void Encode(TestMatrix& m);

// Random bf16 vector with values in [-1, 1].
std::vector<Bf16> RandomBf16(int64_t n, uint64_t seed);

}  // namespace qmoe::kernels::dict_test
