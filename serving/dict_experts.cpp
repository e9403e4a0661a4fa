#include "serving/dict_experts.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "serving/compressed_model.h"
#include "framework/core/error.h"
#include "framework/model/switch_names.h"
#include "codecs/dict/dict_codec.h"
#include "codecs/dict/dictionary.h"
#include "kernels/dict_matvec/dict_paths.h"
#include "methods/codec/packed_tensors.h"

namespace qmoe {
namespace {

namespace kk = qmoe::kernels;

const uint32_t* ValidatedTable() {
  static const uint32_t* table = [] {
    const uint32_t* t = dict::DecodeTable().data();
    dict::ValidateDecodeTable(t);
    return t;
  }();
  return table;
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
at::Tensor Decompressed(const kk::DictView& m, const uint32_t* dec) {
  at::Tensor w = at::empty({m.rows, m.cols}, at::TensorOptions().dtype(at::kFloat));
  kk::DictDecompress(m, dec, w.data_ptr<float>());
  return w;
}

}  // namespace

DictExperts::DictExperts(DictExpertsOptions opts) : opts_(opts), dec_(ValidatedTable()) {
  QMOE_CHECK(opts_.gemm_threshold >= 1, "DictExperts: gemm_threshold must be >= 1, got ", opts_.gemm_threshold);
  QMOE_CHECK(opts_.threads >= 0, "DictExperts: threads must be >= 0 (0 = torch's intra-op threads), got ",
             opts_.threads);
  threads_ = opts_.threads > 0 ? opts_.threads : std::max(1, at::get_num_threads());
  if (!opts_.kernel_path.empty()) {
    path_ = &kk::FindDictPath(opts_.kernel_path);
    QMOE_CHECK(kk::CpuSupports(path_->isa), "DictExperts: kernel path '", opts_.kernel_path, "' needs ",
               kk::CpuIsaName(path_->isa), ", which this CPU lacks");
  }
}

void DictExperts::Add(const ExpertId& id, const std::string& matrix, const std::map<std::string, at::Tensor>& packed,
                      int64_t rows, int64_t cols, const std::string& name) {
  QMOE_CHECK(matrix == "wi" || matrix == "wo", name, ": matrix must be 'wi' or 'wo', got '", matrix, "'");
  QMOE_CHECK(rows >= 1 && cols >= 1, name, ": shape ", rows, "x", cols, " must be positive");
  Matrix m;
  codecs::TensorViews fields = codecs::ViewTensors(packed);
  m.view = dict::Unpack(fields.views, name, rows, cols);  // validated once: the fast paths trust it
  m.keep = std::move(fields.keep);
  Expert& e = experts_[KeyOf(id)];
  if (matrix == "wi") {
    if (e.has_wi) packed_bytes_ -= e.wi.Bytes();
    e.wi = std::move(m);
    e.has_wi = true;
  } else {
    if (e.has_wo) packed_bytes_ -= e.wo.Bytes();
    e.wo = std::move(m);
    e.has_wo = true;
  }
  const Matrix& added = matrix == "wi" ? e.wi : e.wo;
  packed_bytes_ += added.Bytes();
}

std::shared_ptr<DictExperts> DictExperts::FromCompressed(const CompressedWeights& w, const SwitchConfig& cfg,
                                                         DictExpertsOptions opts) {
  QMOE_CHECK(w.method_key() == "dict", w.Describe(), ": compressed with method '", w.method_key(),
             "', but the dict kernels serve only 'dict' models");
  auto out = std::make_shared<DictExperts>(opts);
  ForEachExpertMatrix(cfg, [&](const ExpertId& id, const char* mat, const std::string& name) {
    auto it = w.matrices().find(name);
    QMOE_CHECK(it != w.matrices().end(), w.Describe(), ": expert matrix '", name, "' is not in qmoe.json");
    out->Add(id, mat, w.Packed(name), it->second.rows, it->second.cols, name);
  });
  return out;
}

void DictExperts::ForEachExpertMatrix(
    const SwitchConfig& cfg, const std::function<void(const ExpertId&, const char*, const std::string&)>& fn) {
  for (Stack s : {Stack::kEncoder, Stack::kDecoder})
    for (int64_t b = 0; b < cfg.NumBlocks(s); ++b) {
      if (!cfg.IsSparse(s, b)) continue;
      for (int64_t e = 0; e < cfg.num_experts; ++e)
        for (const char* mat : {"wi", "wo"}) fn(ExpertId{s, b, e}, mat, ExpertWeightName(s, b, e, mat));
    }
}

bool DictExperts::Covers(const ExpertId& id) const {
  auto it = experts_.find(KeyOf(id));
  return it != experts_.end() && it->second.has_wi && it->second.has_wo;
}

const DictExperts::Expert& DictExperts::Find(const ExpertId& id) const {
  auto it = experts_.find(KeyOf(id));
  QMOE_CHECK(it != experts_.end() && it->second.has_wi && it->second.has_wo, "DictExperts: no compressed wi/wo for ",
             StackName(id.stack), " block ", id.block, " expert ", id.expert);
  return it->second;
}

at::Tensor DictExperts::Forward(const ExpertId& id, const at::Tensor& z) const {
  const Expert& e = Find(id);
  const int64_t d = e.wi.view.cols, f = e.wi.view.rows;
  QMOE_CHECK(z.dim() == 2 && z.size(1) == d, "DictExperts: z must be [n, ", d, "], got ", z.sizes());
  QMOE_CHECK(e.wo.view.rows == d && e.wo.view.cols == f, "DictExperts: wo is ", e.wo.view.rows, "x", e.wo.view.cols,
             ", expected ", d, "x", f);
  const int64_t n = z.size(0);
  at::Tensor x = z.to(at::kBFloat16).contiguous();
  if (n > opts_.gemm_threshold) {
    // Decompress + GEMM: one decode per matrix amortised over n tokens.
    at::Tensor hid = at::relu(at::matmul(x.to(at::kFloat), Decompressed(e.wi.view, dec_).t()));
    hid = hid.to(at::kBFloat16).to(at::kFloat);
    return at::matmul(hid, Decompressed(e.wo.view, dec_).t()).to(z.scalar_type());
  }
  // hidden: fp32 from the kernel, then bf16 (round to nearest even, as the kernel's bf16 store) and relu.
  at::Tensor hid32 = at::empty({n, f}, at::TensorOptions().dtype(at::kFloat));
  at::Tensor hid = at::empty({n, f}, x.options());
  at::Tensor out = at::empty({n, d}, at::TensorOptions().dtype(at::kFloat));
  const kk::CpuIsa isa = kk::BestCpuIsa();
  for (int64_t t0 = 0; t0 < n; t0 += kk::kDictMaxBatch) {
    const int64_t k = std::min(kk::kDictMaxBatch, n - t0);
    kk::DictMatvecBatchWith(path_ ? *path_ : kk::DefaultDictPath(isa, k), e.wi.view, dec_, Bf16Ptr(x) + t0 * d, k,
                            hid32.data_ptr<float>() + t0 * f, threads_);
  }
  const float* h32 = hid32.data_ptr<float>();
  kk::Bf16* hb = Bf16Ptr(hid);
  for (int64_t i = 0; i < n * f; ++i) hb[i] = kk::FloatToBf16(h32[i]);
  ReluBf16(hid);
  for (int64_t t0 = 0; t0 < n; t0 += kk::kDictMaxBatch) {
    const int64_t k = std::min(kk::kDictMaxBatch, n - t0);
    kk::DictMatvecBatchWith(path_ ? *path_ : kk::DefaultDictPath(isa, k), e.wo.view, dec_, Bf16Ptr(hid) + t0 * f, k,
                            out.data_ptr<float>() + t0 * d, threads_);
  }
  return out.to(z.scalar_type());
}

at::Tensor DictExperts::ForwardRef(const ExpertId& id, const at::Tensor& z) const {
  const Expert& e = Find(id);
  auto dense = [](const Matrix& m) {
    const dict::EncodedMatrix enc = dict::ToEncoded(m.view);
    std::vector<float> w(size_t(enc.rows * enc.cols));
    dict::DecodeRef(enc, w.data());
    return at::from_blob(w.data(), {enc.rows, enc.cols}, at::TensorOptions().dtype(at::kFloat)).to(at::kDouble);
  };
  at::Tensor x = z.to(at::kBFloat16).to(at::kDouble);
  at::Tensor hid = at::relu(at::matmul(x, dense(e.wi).t())).to(at::kFloat).to(at::kBFloat16).to(at::kDouble);
  return at::matmul(hid, dense(e.wo).t()).to(z.scalar_type());
}

at::Tensor DictExperts::Dequantized(const ExpertId& id, const std::string& matrix) const {
  const Expert& e = Find(id);
  QMOE_CHECK(matrix == "wi" || matrix == "wo", "DictExperts::Dequantized: matrix must be 'wi' or 'wo'");
  return Decompressed(matrix == "wi" ? e.wi.view : e.wo.view, dec_);
}

}  // namespace qmoe
