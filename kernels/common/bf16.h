// The bf16 storage type and its conversions for kernels: the one definition in
// codecs/ternary/bf16.h (exact to fp32; from fp32 nearest even, NaN kept), named in this namespace.
#pragma once
#include "codecs/ternary/bf16.h"

namespace qmoe::kernels {

using qmoe::Bf16;
using qmoe::Bf16ToFloat;
using qmoe::FloatToBf16;

}  // namespace qmoe::kernels
