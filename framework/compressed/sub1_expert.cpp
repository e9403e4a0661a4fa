#include "framework/compressed/sub1_expert.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "framework/compressed/compressed_model.h"
#include "framework/core/error.h"
#include "framework/model/switch_names.h"
#include "methods/dict/dict_codec.h"
#include "methods/dict/dictionary.h"

namespace qmoe {
namespace {

namespace kk = qmoe::kernels;

const uint32_t* ValidatedTable() {
  static const uint32_t* table = [] {
    const uint32_t* t = dict::DecodeTable().data();
    kk::Sub1ValidateDecodeTable(t);
    return t;
  }();
  return table;
}

at::Tensor Field(const std::map<std::string, at::Tensor>& p, const std::string& field, at::ScalarType dt,
                 int64_t numel, const std::string& name) {
  auto it = p.find(field);
  QMOE_CHECK(it != p.end(), name, ": packed field '", field, "' is missing (a dict-compressed matrix has ",
             "w_comp, row_off, ter_minmax)");
  const at::Tensor& t = it->second;
  QMOE_CHECK(t.dim() == 1 && t.scalar_type() == dt, name, ".", field, ": expected a 1-D ", c10::toString(dt),
             " tensor, got ", t.sizes(), " ", t.scalar_type());
  QMOE_CHECK(numel < 0 || t.numel() == numel, name, ".", field, ": expected ", numel, " entries, got ", t.numel());
  return t.contiguous().cpu();
}

const kk::Bf16* Bf16Ptr(const at::Tensor& t) { return reinterpret_cast<const kk::Bf16*>(t.data_ptr<at::BFloat16>()); }
kk::Bf16* Bf16Ptr(at::Tensor& t) { return reinterpret_cast<kk::Bf16*>(t.data_ptr<at::BFloat16>()); }

// relu on bf16 bits (negative values, -0 included, become +0): exact, and commutes with rounding.
void ReluBf16(at::Tensor& t) {
  uint16_t* p = reinterpret_cast<uint16_t*>(t.data_ptr<at::BFloat16>());
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (p[i] & 0x8000u) p[i] = 0;
}

// The matrix as fp32 [rows, cols] through the fast decompress.
at::Tensor Decompressed(const kk::Sub1Matrix& m, const uint32_t* dec) {
  at::Tensor w = at::empty({m.rows, m.cols}, at::TensorOptions().dtype(at::kFloat));
  kk::Sub1Decompress(m, dec, w.data_ptr<float>());
  return w;
}

dict::EncodedMatrix ToEncoded(const kk::Sub1Matrix& m) {
  dict::EncodedMatrix e;
  e.rows = m.rows;
  e.cols = m.cols;
  e.codes.assign(m.codes, m.codes + m.num_codes);
  e.row_off.assign(m.row_off, m.row_off + m.rows + 1);
  e.minmax_bf16.resize(size_t(2 * m.rows));
  for (int64_t i = 0; i < 2 * m.rows; ++i) e.minmax_bf16[size_t(i)] = m.minmax[i].bits;
  return e;
}

}  // namespace

Sub1Experts::Sub1Experts(Sub1ExpertsOptions opts) : opts_(opts), dec_(ValidatedTable()) {
  QMOE_CHECK(opts_.gemm_threshold >= 1, "Sub1Experts: gemm_threshold must be >= 1, got ", opts_.gemm_threshold);
}

void Sub1Experts::Add(const ExpertId& id, const std::string& matrix, const std::map<std::string, at::Tensor>& packed,
                      int64_t rows, int64_t cols, const std::string& name) {
  QMOE_CHECK(matrix == "wi" || matrix == "wo", name, ": matrix must be 'wi' or 'wo', got '", matrix, "'");
  QMOE_CHECK(rows >= 1 && cols >= 1, name, ": shape ", rows, "x", cols, " must be positive");
  Matrix m;
  m.codes = Field(packed, "w_comp", at::kShort, -1, name);
  m.row_off = Field(packed, "row_off", at::kInt, rows + 1, name);
  m.minmax = Field(packed, "ter_minmax", at::kBFloat16, 2 * rows, name);
  m.view = kk::Sub1Matrix{rows, cols, reinterpret_cast<const uint16_t*>(m.codes.data_ptr<int16_t>()), m.codes.numel(),
                          m.row_off.data_ptr<int32_t>(), Bf16Ptr(m.minmax)};
  kk::Sub1Validate(m.view, dec_, name);  // once, so the fast paths may trust the codes
  Expert& e = experts_[KeyOf(id)];
  if (matrix == "wi") {
    if (e.has_wi) packed_bytes_ -= e.wi.codes.nbytes() + e.wi.row_off.nbytes() + e.wi.minmax.nbytes();
    e.wi = std::move(m);
    e.has_wi = true;
  } else {
    if (e.has_wo) packed_bytes_ -= e.wo.codes.nbytes() + e.wo.row_off.nbytes() + e.wo.minmax.nbytes();
    e.wo = std::move(m);
    e.has_wo = true;
  }
  const Matrix& added = matrix == "wi" ? e.wi : e.wo;
  packed_bytes_ += added.codes.nbytes() + added.row_off.nbytes() + added.minmax.nbytes();
}

std::shared_ptr<Sub1Experts> Sub1Experts::FromCompressed(const CompressedWeights& w, const SwitchConfig& cfg,
                                                         Sub1ExpertsOptions opts) {
  QMOE_CHECK(w.method_key() == "dict", w.Describe(), ": compressed with method '", w.method_key(),
             "', but the sub-1-bit kernels serve only 'dict' models");
  auto out = std::make_shared<Sub1Experts>(opts);
  for (Stack s : {Stack::kEncoder, Stack::kDecoder})
    for (int64_t b = 0; b < cfg.NumBlocks(s); ++b) {
      if (!cfg.IsSparse(s, b)) continue;
      for (int64_t e = 0; e < cfg.num_experts; ++e)
        for (const char* mat : {"wi", "wo"}) {
          const std::string name = ExpertWeightName(s, b, e, mat);
          auto it = w.matrices().find(name);
          QMOE_CHECK(it != w.matrices().end(), w.Describe(), ": expert matrix '", name, "' is not in qmoe.json");
          out->Add(ExpertId{s, b, e}, mat, w.Packed(name), it->second.rows, it->second.cols, name);
        }
    }
  return out;
}

bool Sub1Experts::Covers(const ExpertId& id) const {
  auto it = experts_.find(KeyOf(id));
  return it != experts_.end() && it->second.has_wi && it->second.has_wo;
}

const Sub1Experts::Expert& Sub1Experts::Find(const ExpertId& id) const {
  auto it = experts_.find(KeyOf(id));
  QMOE_CHECK(it != experts_.end() && it->second.has_wi && it->second.has_wo, "Sub1Experts: no compressed wi/wo for ",
             StackName(id.stack), " block ", id.block, " expert ", id.expert);
  return it->second;
}

at::Tensor Sub1Experts::Forward(const ExpertId& id, const at::Tensor& z) const {
  const Expert& e = Find(id);
  const int64_t d = e.wi.view.cols, f = e.wi.view.rows;
  QMOE_CHECK(z.dim() == 2 && z.size(1) == d, "Sub1Experts: z must be [n, ", d, "], got ", z.sizes());
  QMOE_CHECK(e.wo.view.rows == d && e.wo.view.cols == f, "Sub1Experts: wo is ", e.wo.view.rows, "x", e.wo.view.cols,
             ", expected ", d, "x", f);
  const int64_t n = z.size(0);
  at::Tensor x = z.to(at::kBFloat16).contiguous();
  if (n > opts_.gemm_threshold) {
    // Decompress + GEMM: one decode per matrix amortised over n tokens.
    at::Tensor hid = at::relu(at::matmul(x.to(at::kFloat), Decompressed(e.wi.view, dec_).t()));
    hid = hid.to(at::kBFloat16).to(at::kFloat);
    return at::matmul(hid, Decompressed(e.wo.view, dec_).t()).to(z.scalar_type());
  }
  at::Tensor hid = at::empty({n, f}, x.options());
  at::Tensor out = at::empty({n, d}, at::TensorOptions().dtype(at::kFloat));
  for (int64_t t0 = 0; t0 < n; t0 += kk::kSub1MaxBatch) {
    const int64_t k = std::min(kk::kSub1MaxBatch, n - t0);
    kk::Sub1MatvecBatch(e.wi.view, dec_, Bf16Ptr(x) + t0 * d, k, Bf16Ptr(hid) + t0 * f);
  }
  ReluBf16(hid);
  for (int64_t t0 = 0; t0 < n; t0 += kk::kSub1MaxBatch) {
    const int64_t k = std::min(kk::kSub1MaxBatch, n - t0);
    kk::Sub1MatvecBatch(e.wo.view, dec_, Bf16Ptr(hid) + t0 * f, k, out.data_ptr<float>() + t0 * d);
  }
  return out.to(z.scalar_type());
}

at::Tensor Sub1Experts::ForwardRef(const ExpertId& id, const at::Tensor& z) const {
  const Expert& e = Find(id);
  auto dense = [](const Matrix& m) {
    const dict::EncodedMatrix enc = ToEncoded(m.view);
    std::vector<float> w(size_t(enc.rows * enc.cols));
    dict::DecodeRef(enc, w.data());
    return at::from_blob(w.data(), {enc.rows, enc.cols}, at::TensorOptions().dtype(at::kFloat)).to(at::kDouble);
  };
  at::Tensor x = z.to(at::kBFloat16).to(at::kDouble);
  at::Tensor hid = at::relu(at::matmul(x, dense(e.wi).t())).to(at::kFloat).to(at::kBFloat16).to(at::kDouble);
  return at::matmul(hid, dense(e.wo).t()).to(z.scalar_type());
}

at::Tensor Sub1Experts::Dequantized(const ExpertId& id, const std::string& matrix) const {
  const Expert& e = Find(id);
  QMOE_CHECK(matrix == "wi" || matrix == "wo", "Sub1Experts::Dequantized: matrix must be 'wi' or 'wo'");
  return Decompressed(matrix == "wi" ? e.wi.view : e.wo.view, dec_);
}

}  // namespace qmoe
