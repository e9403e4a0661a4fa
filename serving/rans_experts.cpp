#include "serving/rans_experts.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "framework/core/error.h"
#include "framework/model/switch_names.h"
#include "kernels/rans_matvec/rans_matvec.h"
#include "methods/codec/packed_tensors.h"
#include "serving/compressed_model.h"
#include "serving/dict_experts.h"

namespace qmoe {
namespace {

namespace kk = qmoe::kernels;

const kk::Bf16* Bf16Ptr(const at::Tensor& t) { return reinterpret_cast<const kk::Bf16*>(t.data_ptr<at::BFloat16>()); }

at::Tensor Decoded(const rans::RansMatrix& m) {
  at::Tensor w = at::empty({m.rows, m.cols}, at::TensorOptions().dtype(at::kFloat));
  rans::Decode(m, w.data_ptr<float>());
  return w;
}

// y [n, m.rows] fp32 = x [n, m.cols] bf16 · Wᵀ, groups of <= kRansMaxBatch tokens.
void Multiply(const rans::RansMatrix& m, const at::Tensor& x, at::Tensor& y, int threads) {
  const int64_t n = x.size(0);
  for (int64_t t0 = 0; t0 < n; t0 += kk::kRansMaxBatch) {
    const int64_t k = std::min(kk::kRansMaxBatch, n - t0);
    kk::RansMatvecBatch(m, Bf16Ptr(x) + t0 * m.cols, k, y.data_ptr<float>() + t0 * m.rows, threads);
  }
}

}  // namespace

RansExperts::RansExperts(RansExpertsOptions opts) : opts_(opts) {
  QMOE_CHECK(opts_.gemm_threshold >= 1, "RansExperts: gemm_threshold must be >= 1, got ", opts_.gemm_threshold);
  QMOE_CHECK(opts_.threads >= 1, "RansExperts: threads must be >= 1, got ", opts_.threads);
}

void RansExperts::Add(const ExpertId& id, const std::string& matrix, const std::map<std::string, at::Tensor>& packed,
                      int64_t rows, int64_t cols, const std::string& name) {
  QMOE_CHECK(matrix == "wi" || matrix == "wo", name, ": matrix must be 'wi' or 'wo', got '", matrix, "'");
  QMOE_CHECK(rows >= 1 && cols >= 1, name, ": shape ", rows, "x", cols, " must be positive");
  const codecs::TensorViews fields = codecs::ViewTensors(packed);
  rans::RansMatrix m = rans::Unpack(fields.views, name);  // validated once here (the kernel re-checks cheaply)
  QMOE_CHECK(m.rows == rows && m.cols == cols, name, ": packed shape is ", m.rows, "x", m.cols, ", expected ", rows,
             "x", cols);
  Expert& e = experts_[KeyOf(id)];
  rans::RansMatrix& slot = matrix == "wi" ? e.wi : e.wo;
  bool& has = matrix == "wi" ? e.has_wi : e.has_wo;
  if (has) packed_bytes_ -= rans::StorageBits(slot) / 8;
  slot = std::move(m);
  has = true;
  packed_bytes_ += rans::StorageBits(slot) / 8;
}

std::shared_ptr<RansExperts> RansExperts::FromCompressed(const CompressedWeights& w, const SwitchConfig& cfg,
                                                         RansExpertsOptions opts) {
  QMOE_CHECK(w.method_key() == "rans", w.Describe(), ": compressed with method '", w.method_key(),
             "', but the rans kernel serves only 'rans' models");
  auto out = std::make_shared<RansExperts>(opts);
  DictExperts::ForEachExpertMatrix(cfg, [&](const ExpertId& id, const char* mat, const std::string& name) {
    auto it = w.matrices().find(name);
    QMOE_CHECK(it != w.matrices().end(), w.Describe(), ": expert matrix '", name, "' is not in qmoe.json");
    out->Add(id, mat, w.Packed(name), it->second.rows, it->second.cols, name);
  });
  return out;
}

bool RansExperts::Covers(const ExpertId& id) const {
  auto it = experts_.find(KeyOf(id));
  return it != experts_.end() && it->second.has_wi && it->second.has_wo;
}

const RansExperts::Expert& RansExperts::Find(const ExpertId& id) const {
  auto it = experts_.find(KeyOf(id));
  QMOE_CHECK(it != experts_.end() && it->second.has_wi && it->second.has_wo, "RansExperts: no compressed wi/wo for ",
             StackName(id.stack), " block ", id.block, " expert ", id.expert);
  return it->second;
}

at::Tensor RansExperts::Forward(const ExpertId& id, const at::Tensor& z) const {
  const Expert& e = Find(id);
  const int64_t d = e.wi.cols, f = e.wi.rows;
  QMOE_CHECK(z.dim() == 2 && z.size(1) == d, "RansExperts: z must be [n, ", d, "], got ", z.sizes());
  QMOE_CHECK(e.wo.rows == d && e.wo.cols == f, "RansExperts: wo is ", e.wo.rows, "x", e.wo.cols, ", expected ", d,
             "x", f);
  const int64_t n = z.size(0);
  at::Tensor x = z.to(at::kBFloat16).contiguous();
  if (n > opts_.gemm_threshold) {
    at::Tensor hid = at::relu(at::matmul(x.to(at::kFloat), Decoded(e.wi).t()));
    hid = hid.to(at::kBFloat16).to(at::kFloat);
    return at::matmul(hid, Decoded(e.wo).t()).to(z.scalar_type());
  }
  at::Tensor hid = at::empty({n, f}, at::TensorOptions().dtype(at::kFloat));
  Multiply(e.wi, x, hid, opts_.threads);
  // relu commutes with the rounding to bf16 (both keep the sign), as in DictExperts.
  at::Tensor hid16 = at::relu(hid).to(at::kBFloat16).contiguous();
  at::Tensor out = at::empty({n, d}, at::TensorOptions().dtype(at::kFloat));
  Multiply(e.wo, hid16, out, opts_.threads);
  return out.to(z.scalar_type());
}

at::Tensor RansExperts::ForwardRef(const ExpertId& id, const at::Tensor& z) const {
  const Expert& e = Find(id);
  auto dense = [](const rans::RansMatrix& m) {
    at::Tensor w = at::empty({m.rows, m.cols}, at::TensorOptions().dtype(at::kFloat));
    rans::DecodeRef(m, w.data_ptr<float>());
    return w.to(at::kDouble);
  };
  at::Tensor x = z.to(at::kBFloat16).to(at::kDouble);
  at::Tensor hid = at::relu(at::matmul(x, dense(e.wi).t())).to(at::kFloat).to(at::kBFloat16).to(at::kDouble);
  return at::matmul(hid, dense(e.wo).t()).to(z.scalar_type());
}

at::Tensor RansExperts::Dequantized(const ExpertId& id, const std::string& matrix) const {
  const Expert& e = Find(id);
  QMOE_CHECK(matrix == "wi" || matrix == "wo", "RansExperts::Dequantized: matrix must be 'wi' or 'wo'");
  return Decoded(matrix == "wi" ? e.wi : e.wo);
}

}  // namespace qmoe
