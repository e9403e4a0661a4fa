// `qmoe codec ...` subcommands:
//   dictionary --dump FILE   writes the dictionary's decode table (131,072 little-endian uint32),
//                            prints its SHA-256 and whether it matches the published check value
//   rate --rows R --cols C [--p0 0.885] [--seed 1] [--symbols reference|exact_zeros] [codec flags]
//                            i.i.d. ternary matrix at p0: every codec of the table (its exact bits
//                            and its own lines), then the entropy limits, side by side. Codec flags
//                            are the codecs' options, '_' written '-' (rans: --chunk-weights,
//                            --streams).
// `args` excludes "codec" itself. Bad arguments throw one qmoe::Error; returns 0 on success.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "codecs/codec.h"

namespace qmoe::codecs {

int RunCodecCommand(const std::vector<std::string>& args, std::ostream& out,
                    const CodecRegistry& codecs = Codecs());

}  // namespace qmoe::codecs
