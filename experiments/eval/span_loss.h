// Span-corruption validation loss: teacher forcing on the full decoder
// sequence d_0..d_{L-1}; loss_i = mean CE (nats) of the L_i - 1 targets d_1..d_{L-1} (sentinels
// included); aggregate = sum_i loss_i * L_i / sum_i L_i (weighted by decoder length, neither per
// token nor per document). Samples are batched with right padding; padding changes nothing
// because keys are masked and padded targets are dropped.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/data/samples.h"
#include "framework/model/switch_model.h"

namespace qmoe {

struct SpanLoss {
  double loss = 0;        // nats, the length-weighted aggregate
  int64_t n_samples = 0;
  int64_t n_targets = 0;  // sum_i (L_i - 1)
  std::vector<double> sample_loss;    // loss_i
  std::vector<int64_t> decoder_len;   // L_i
};

// The aggregate of per-sample losses weighted by decoder lengths.
double AggregateSpanLoss(const std::vector<double>& sample_loss, const std::vector<int64_t>& decoder_len);

// The loss of one validation domain (or of all of them).
struct DomainLoss {
  double loss_nats = 0;  // sum_i loss_i * L_i / sum_i L_i
  int64_t samples = 0;
  int64_t targets = 0;   // sum_i (L_i - 1)
};

// The one per-domain aggregation: samples are added one at a time with their domain; Losses()
// gives every domain added plus "all" (every sample), each with the length-weighted aggregate.
// Samples of a domain are summed in the order they were added, as AggregateSpanLoss does.
class SpanLossByDomain {
 public:
  void Add(const std::string& domain, double sample_loss, int64_t decoder_len);
  void AddAll(const std::string& domain, const SpanLoss& l);  // every sample of one domain's result
  std::map<std::string, DomainLoss> Losses() const;

 private:
  struct Sum {
    double weighted = 0, length = 0;
    int64_t samples = 0, targets = 0;
  };
  static void AddTo(Sum& s, double loss, int64_t len);
  std::map<std::string, Sum> per_domain_;
  Sum all_;
};

// batch_size samples per forward (1 = no padding). Runs without gradients in the model's dtype;
// the log-softmax is taken in fp32.
SpanLoss EvaluateSpanCorruption(SwitchModel& model, const std::vector<data::Sample>& samples, int64_t batch_size = 8);

// Unigram baseline: p(t) = (count_t + 1) / (N + V) from `counts` (length V = vocab rows), then
// the same per-sample mean and length-weighted aggregate.
SpanLoss UnigramSpanLoss(const std::vector<int64_t>& counts, const std::vector<data::Sample>& samples);

}  // namespace qmoe
