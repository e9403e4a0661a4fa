// `qmoe codec ...` subcommands (the lead wires RunCodecCommand into the qmoe CLI):
//   dictionary --dump FILE   writes the §8.4 decode table (131,072 little-endian uint32) and
//                            prints its SHA-256 and whether it matches the spec check value
//   rate --rows R --cols C [--p0 0.885] [--seed 1] [--symbols reference|exact_zeros]
//        [--chunk-weights 131072] [--streams 0 (auto)]
//                            i.i.d. ternary matrix at p0: dict rate (exact bytes and the
//                            reference "ideal rate"), rans rate, entropy limit, side by side
// `args` excludes "codec" itself. Bad arguments throw one qmoe::Error; returns 0 on success.
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace qmoe::dict {

int RunCodecCommand(const std::vector<std::string>& args, std::ostream& out);

}  // namespace qmoe::dict
