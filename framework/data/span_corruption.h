// T5 span corruption exactly as docs/method.md#calibration-and-validation-data: noise density 0.15, mean span 3, round half to
// even, numpy-legacy RNG (mt19937 + masked rejection sampling), sentinels counted down from
// <extra_id_0>. Reproduces the QMoE reference's masks bit for bit given the same seed and order.
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace qmoe::data {

// numpy's legacy RandomState: `np.random.seed(s)` is std::mt19937(s); `np.random.shuffle` is
// Fisher-Yates from the last index down, drawing j in [0, i] by masked rejection sampling.
class NumpyLegacyRng {
 public:
  explicit NumpyLegacyRng(uint32_t seed) : gen_(seed) {}
  uint32_t NextUint32() { return static_cast<uint32_t>(gen_()); }
  // Uniform integer in [0, max]: draws (32-bit, or 64-bit above 2^32-1) masked with the smallest
  // all-ones number >= max until the value is <= max.
  uint64_t Interval(uint64_t max);
  template <class T>
  void Shuffle(std::span<T> x) {
    for (size_t i = x.size(); i-- > 1;) {
      const auto j = static_cast<size_t>(Interval(i));
      std::swap(x[i], x[j]);
    }
  }

 private:
  std::mt19937 gen_;
};

struct SpanCorruptionConfig {
  double noise_density = 0.15;
  double mean_span = 3.0;
  int32_t first_sentinel_id = 0;  // id of <extra_id_0>; sentinel_k = first_sentinel_id - k
  int32_t num_sentinels = 100;
  int32_t eos_id = 1;
  int32_t decoder_start_id = 0;
};

struct NoiseCounts {
  int64_t noise = 0;  // masked tokens
  int64_t spans = 0;  // noise spans
};
// n_noise = clamp(round_half_even(L * density), 1, L - 1); n_spans = max(round_half_even(n_noise / mean), 1).
NoiseCounts CountNoise(int64_t length, double noise_density, double mean_span);

// Lengths of `num_segments` positive parts of `num_items` (numpy reference `random_segmentation`).
std::vector<int64_t> RandomSegmentation(int64_t num_items, int64_t num_segments, NumpyLegacyRng& rng);

// Per-position noise flags for a document of `length` tokens; consumes the RNG (noise lengths
// first, then kept lengths). Layout: kept_0, noise_0, kept_1, noise_1, ... (ends in noise).
std::vector<uint8_t> RandomSpansNoiseMask(int64_t length, double noise_density, double mean_span, NumpyLegacyRng& rng);

struct CorruptedSample {
  std::vector<int32_t> encoder;  // kept tokens, sentinel_k per noise span, then EOS
  std::vector<int32_t> decoder;  // start id, then per span: sentinel_k + its tokens, then sentinel_{spans}
  int64_t noise = 0, spans = 0;
};
// Corrupts one document (its full token list including EOS; length >= 2).
CorruptedSample SpanCorrupt(std::span<const int32_t> doc, const SpanCorruptionConfig& cfg, NumpyLegacyRng& rng);
// Same, from a given noise mask (no RNG).
CorruptedSample SpanCorruptWithMask(std::span<const int32_t> doc, std::span<const uint8_t> noise,
                                    const SpanCorruptionConfig& cfg);

}  // namespace qmoe::data
