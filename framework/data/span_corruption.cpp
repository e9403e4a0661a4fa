#include "framework/data/span_corruption.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"

namespace qmoe::data {

uint64_t NumpyLegacyRng::Interval(uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  for (int s = 1; s <= 32; s <<= 1) mask |= mask >> s;  // smallest 2^k - 1 >= max
  uint64_t v;
  if (max <= 0xFFFFFFFFull) {
    do v = NextUint32() & mask; while (v > max);
  } else {
    do {
      const uint64_t hi = NextUint32();
      v = ((hi << 32) | NextUint32()) & mask;
    } while (v > max);
  }
  return v;
}

NoiseCounts CountNoise(int64_t length, double noise_density, double mean_span) {
  QMOE_CHECK(length >= 2, "span corruption needs a document of at least 2 tokens, got ", length);
  // nearbyint rounds half to even in the default rounding mode, like numpy's np.round:
  // L = 30 gives 30 * 0.15 = 4.5 -> 4 (std::round would give 5).
  auto noise = static_cast<int64_t>(std::nearbyint(static_cast<double>(length) * noise_density));
  noise = std::clamp<int64_t>(noise, 1, length - 1);
  auto spans = static_cast<int64_t>(std::nearbyint(static_cast<double>(noise) / mean_span));
  return {noise, std::max<int64_t>(spans, 1)};
}

std::vector<int64_t> RandomSegmentation(int64_t num_items, int64_t num_segments, NumpyLegacyRng& rng) {
  QMOE_ASSERT(num_segments >= 1 && num_segments <= num_items, "segments ", num_segments, " items ", num_items);
  // first_in_segment[k + 1] = shuffled[k]: a new part starts after each true entry.
  std::vector<uint8_t> starts(static_cast<size_t>(num_items - 1), 0);
  std::fill(starts.begin(), starts.begin() + (num_segments - 1), 1);
  rng.Shuffle(std::span<uint8_t>(starts));
  std::vector<int64_t> lengths(1, 1);
  for (uint8_t s : starts) {
    if (s) lengths.push_back(1);
    else ++lengths.back();
  }
  return lengths;
}

std::vector<uint8_t> RandomSpansNoiseMask(int64_t length, double noise_density, double mean_span, NumpyLegacyRng& rng) {
  const NoiseCounts c = CountNoise(length, noise_density, mean_span);
  const auto noise_lengths = RandomSegmentation(c.noise, c.spans, rng);
  const auto kept_lengths = RandomSegmentation(length - c.noise, c.spans, rng);
  std::vector<uint8_t> mask;
  mask.reserve(static_cast<size_t>(length));
  for (int64_t k = 0; k < c.spans; ++k) {
    mask.insert(mask.end(), static_cast<size_t>(kept_lengths[k]), 0);
    mask.insert(mask.end(), static_cast<size_t>(noise_lengths[k]), 1);
  }
  QMOE_ASSERT(static_cast<int64_t>(mask.size()) == length);
  return mask;
}

CorruptedSample SpanCorruptWithMask(std::span<const int32_t> doc, std::span<const uint8_t> noise,
                                    const SpanCorruptionConfig& cfg) {
  QMOE_ASSERT(doc.size() == noise.size(), "doc ", doc.size(), " mask ", noise.size());
  CorruptedSample s;
  s.decoder.push_back(cfg.decoder_start_id);
  for (size_t t = 0; t < doc.size(); ++t) {
    if (noise[t]) {
      if (t == 0 || !noise[t - 1]) {  // a noise span starts
        QMOE_CHECK(s.spans < cfg.num_sentinels, "span corruption: document of ", doc.size(), " tokens needs more than ",
                   cfg.num_sentinels, " sentinels");
        const int32_t sentinel = cfg.first_sentinel_id - static_cast<int32_t>(s.spans);
        s.encoder.push_back(sentinel);
        s.decoder.push_back(sentinel);
        ++s.spans;
      }
      s.decoder.push_back(doc[t]);
      ++s.noise;
    } else {
      s.encoder.push_back(doc[t]);
    }
  }
  s.encoder.push_back(cfg.eos_id);
  QMOE_CHECK(s.spans < cfg.num_sentinels, "span corruption: the final sentinel <extra_id_", s.spans,
             "> does not exist (", cfg.num_sentinels, " sentinels)");
  s.decoder.push_back(cfg.first_sentinel_id - static_cast<int32_t>(s.spans));
  return s;
}

CorruptedSample SpanCorrupt(std::span<const int32_t> doc, const SpanCorruptionConfig& cfg, NumpyLegacyRng& rng) {
  const auto mask = RandomSpansNoiseMask(static_cast<int64_t>(doc.size()), cfg.noise_density, cfg.mean_span, rng);
  return SpanCorruptWithMask(doc, mask, cfg);
}

}  // namespace qmoe::data
