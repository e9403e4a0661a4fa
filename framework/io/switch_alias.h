// Name aliases of Switch checkpoints: the tied embedding stored once as shared.weight or as one of
// encoder/decoder.embed_tokens.weight, and c-2048's head stored as decoder.lm_head.weight.
#pragma once
#include "framework/io/checkpoint.h"

#include <string>

namespace qmoe {

// The name under which `name` is stored in `ckpt`: `name` itself when present, else
//   encoder.embed_tokens.weight / decoder.embed_tokens.weight -> shared.weight
//   shared.weight -> encoder.embed_tokens.weight, then decoder.embed_tokens.weight
//   lm_head.weight -> decoder.lm_head.weight (c-2048)
// Throws Error naming the tensor, the checkpoint and the names tried when none is present.
std::string ResolveSwitchAlias(const Checkpoint& ckpt, const std::string& name);

}  // namespace qmoe
