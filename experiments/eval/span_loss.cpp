#include "experiments/eval/span_loss.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"

namespace qmoe {

double AggregateSpanLoss(const std::vector<double>& sample_loss, const std::vector<int64_t>& decoder_len) {
  QMOE_ASSERT(sample_loss.size() == decoder_len.size(), "loss/length size mismatch");
  double num = 0, den = 0;
  for (size_t i = 0; i < sample_loss.size(); ++i) {
    num += sample_loss[i] * double(decoder_len[i]);
    den += double(decoder_len[i]);
  }
  return den > 0 ? num / den : 0.0;
}

void SpanLossByDomain::AddTo(Sum& s, double loss, int64_t len) {
  s.weighted += loss * double(len);
  s.length += double(len);
  s.samples += 1;
  s.targets += len - 1;
}

void SpanLossByDomain::Add(const std::string& domain, double sample_loss, int64_t decoder_len) {
  QMOE_ASSERT(domain != "all", "'all' names the aggregate over every domain, not a domain");
  AddTo(per_domain_[domain], sample_loss, decoder_len);
  AddTo(all_, sample_loss, decoder_len);
}

void SpanLossByDomain::AddAll(const std::string& domain, const SpanLoss& l) {
  QMOE_ASSERT(l.sample_loss.size() == l.decoder_len.size(), "loss/length size mismatch");
  for (size_t i = 0; i < l.sample_loss.size(); ++i) Add(domain, l.sample_loss[i], l.decoder_len[i]);
}

std::map<std::string, DomainLoss> SpanLossByDomain::Losses() const {
  auto done = [](const Sum& s) {
    return DomainLoss{s.length > 0 ? s.weighted / s.length : 0.0, s.samples, s.targets};
  };
  std::map<std::string, DomainLoss> out;
  for (const auto& [d, s] : per_domain_) out[d] = done(s);
  if (all_.samples > 0) out["all"] = done(all_);
  return out;
}

SpanLoss EvaluateSpanCorruption(SwitchModel& model, const std::vector<data::Sample>& samples, int64_t batch_size) {
  QMOE_CHECK(batch_size >= 1, "EvaluateSpanCorruption: batch_size must be >= 1, got ", batch_size);
  at::NoGradGuard no_grad;
  SpanLoss out;
  const int64_t pad = model.config().pad_token_id, V = model.config().vocab_size;
  for (size_t start = 0; start < samples.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(samples.size(), start + static_cast<size_t>(batch_size));
    std::vector<std::vector<int64_t>> enc, dec, tgt;
    for (size_t i = start; i < end; ++i) {
      const auto& s = samples[i];
      QMOE_CHECK(s.decoder.size() >= 2, "EvaluateSpanCorruption: sample ", i, " (", s.doc_id,
                 ") has a decoder sequence of length ", s.decoder.size(), ", expected >= 2");
      for (int32_t id : s.encoder)
        QMOE_CHECK(id >= 0 && id < V, "EvaluateSpanCorruption: sample ", i, " (", s.doc_id, ") has token id ", id,
                   " outside the model's vocabulary [0, ", V, ")");
      enc.emplace_back(s.encoder.begin(), s.encoder.end());
      dec.emplace_back(s.decoder.begin(), s.decoder.end());
      tgt.emplace_back(s.decoder.begin() + 1, s.decoder.end());
    }
    PaddedBatch pe = PadBatch(enc, pad), pd = PadBatch(dec, pad), pt = PadBatch(tgt, 0);
    // Logits at positions 0..L-2 predict d_1..d_{L-1}; the last position's logits are unused.
    at::Tensor logits = model.Forward(pe.ids, pd.ids, pe.mask, pd.mask);
    const int64_t T = pt.ids.size(1);
    at::Tensor logp = at::log_softmax(logits.narrow(1, 0, T).to(at::kFloat), -1);
    at::Tensor nll = -logp.gather(-1, pt.ids.to(logp.device()).unsqueeze(-1)).squeeze(-1);  // [B, T]
    at::Tensor m = pt.mask.to(logp.device(), at::kDouble);
    at::Tensor per = ((nll.to(at::kDouble) * m).sum(1) / m.sum(1)).to(at::kCPU).contiguous();
    for (size_t i = start; i < end; ++i) {
      out.sample_loss.push_back(per[static_cast<int64_t>(i - start)].item<double>());
      out.decoder_len.push_back(static_cast<int64_t>(samples[i].decoder.size()));
      out.n_targets += static_cast<int64_t>(samples[i].decoder.size()) - 1;
    }
  }
  out.n_samples = static_cast<int64_t>(samples.size());
  out.loss = AggregateSpanLoss(out.sample_loss, out.decoder_len);
  return out;
}

SpanLoss UnigramSpanLoss(const std::vector<int64_t>& counts, const std::vector<data::Sample>& samples) {
  double total = 0;
  for (int64_t c : counts) total += double(c);
  const double V = double(counts.size());
  SpanLoss out;
  for (const auto& s : samples) {
    double sum = 0;
    for (size_t t = 1; t < s.decoder.size(); ++t) {
      const int32_t id = s.decoder[t];
      QMOE_CHECK(id >= 0 && static_cast<size_t>(id) < counts.size(), "UnigramSpanLoss: token id ", id,
                 " outside [0, ", counts.size(), ")");
      sum -= std::log((double(counts[id]) + 1) / (total + V));
    }
    out.sample_loss.push_back(sum / double(s.decoder.size() - 1));
    out.decoder_len.push_back(static_cast<int64_t>(s.decoder.size()));
    out.n_targets += static_cast<int64_t>(s.decoder.size()) - 1;
  }
  out.n_samples = static_cast<int64_t>(samples.size());
  out.loss = AggregateSpanLoss(out.sample_loss, out.decoder_len);
  return out;
}

}  // namespace qmoe
