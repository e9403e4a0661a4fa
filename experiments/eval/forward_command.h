// `qmoe forward --model DIR --input FILE --output logits.safetensors [--dtype float32|bfloat16]`:
// teacher-forced logits of a model for given token ids. FILE is .json
// ({"encoder_ids": [[...], ...], "decoder_ids": [[...], ...]}, rows may differ in length: they are
// right-padded and masked) or .safetensors (int64 [B, T] tensors encoder_ids and decoder_ids, no
// padding). Writes float32 "logits" [B, Td, V] (padded positions hold the padded forward's values).
#pragma once
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace qmoe {

struct ForwardInput {
  at::Tensor encoder_ids, decoder_ids;      // int64 [B, T]
  at::Tensor encoder_mask, decoder_mask;    // bool [B, T] or undefined (no padding)
};
// Reads a forward input file; Errors name the file, key and what was expected.
ForwardInput ReadForwardInput(const std::string& path);

int ForwardCommand(const std::vector<std::string>& args);

}  // namespace qmoe
