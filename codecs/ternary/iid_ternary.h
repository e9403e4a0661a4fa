// Synthetic ternary matrices for rate checks, tests and benchmarks: each weight is 0 with
// probability p0, else the row's min or max level with probability (1 − p0)/2 each (the
// i.i.d. model the dictionary is built for). Deterministic for a seed (std::mt19937_64; the same on every platform).
#pragma once
#include <cstdint>
#include <vector>

namespace qmoe::ternary {

// Row-major [rows, cols] fp32. Row r's levels are lo_r < 0 < hi_r, distinct bf16 values.
std::vector<float> RandomTernaryMatrix(int64_t rows, int64_t cols, double p0, uint64_t seed);

}  // namespace qmoe::ternary
