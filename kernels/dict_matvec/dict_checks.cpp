// The O(1) checks every fast entry point makes (the full validator is dict::Validate).
#include "codecs/dict/dict_codec.h"
#include "framework/core/error.h"
#include "kernels/dict_matvec/dict_internal.h"

namespace qmoe::kernels::dict_matvec {

void CheckCall(const DictView& m, const uint32_t* dec, const void* x, int64_t k, const void* y,
               std::string_view where) {
  dict::ValidateShape(m, where);
  QMOE_CHECK(dec != nullptr, where, ": dec is null (expected the uint32[2*65536] decode table)");
  QMOE_CHECK(k >= 1 && k <= kDictMaxBatch, where, ": batch k = ", k, " (expected 1..",
             kDictMaxBatch, "; decompress with DictDecompress and use a GEMM for larger batches)");
  QMOE_CHECK(x != nullptr || m.cols == 0, where, ": x is null (expected [", k, "][", m.cols, "])");
  QMOE_CHECK(y != nullptr || m.rows == 0, where, ": y is null (expected [", k, "][", m.rows, "])");
}

}  // namespace qmoe::kernels::dict_matvec
