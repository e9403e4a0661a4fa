// Span corruption (docs/method.md#calibration-and-validation-data): RNG equivalence with numpy legacy, exact rounding, the
// worked 568 example, layout invariants and statistics over many seeds.
#include "framework/data/span_corruption.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "framework/core/error.h"

namespace qmoe::data {
namespace {

constexpr int32_t kFirstSentinel = 8099;  // <extra_id_0> of the project tokenizer (8000 pieces + 100)

SpanCorruptionConfig Config() {
  SpanCorruptionConfig c;
  c.first_sentinel_id = kFirstSentinel;
  return c;
}

// Document of `len` tokens ending in EOS (1); the other ids are 3, 4, ... (never 0, 1, 2).
std::vector<int32_t> Doc(int64_t len) {
  std::vector<int32_t> d(static_cast<size_t>(len));
  std::iota(d.begin(), d.end(), 3);
  d.back() = 1;
  return d;
}

TEST(NumpyLegacyRng, Seed0IsMt19937Seed0) {
  // np.random.seed(0) runs init_genrand(0), i.e. std::mt19937(0). numpy's first
  // np.random.random_sample() after seed(0) is the widely quoted 0.5488135039273248; it is
  // built from two 32-bit draws as ((a >> 5) * 2^26 + (b >> 6)) / 2^53.
  NumpyLegacyRng rng(0);
  const uint64_t a = rng.NextUint32() >> 5, b = rng.NextUint32() >> 6;
  EXPECT_EQ(static_cast<double>(a * 67108864 + b) / 9007199254740992.0, 0.5488135039273248);
}

TEST(NumpyLegacyRng, ShuffleHandDerived) {
  // mt19937(0) draws: 2357136044 2546248239 3071714933 3626093760 2588848963 3684848379
  // 2340255427 3638918503 1819583497 2678185683 2774094101 1650906866 1879422756 1277901399
  // 3830135878 243580376 (the first two are confirmed against numpy by Seed0IsMt19937Seed0).
  // Fisher-Yates on 5 items, mask = smallest all-ones >= i:
  //   i=4 mask 7: 2357136044 & 7 = 4 -> j=4 (no-op)
  //   i=3 mask 3: 2546248239 & 3 = 3 -> j=3 (no-op)
  //   i=2 mask 3: 3071714933 & 3 = 1 -> swap(2,1): T F T F F
  //   i=1 mask 1: 3626093760 & 1 = 0 -> swap(1,0): F T T F F
  {
    NumpyLegacyRng draws(0);
    for (uint32_t want : {2357136044u, 2546248239u, 3071714933u, 3626093760u}) ASSERT_EQ(draws.NextUint32(), want);
  }
  NumpyLegacyRng rng(0);
  std::vector<uint8_t> x = {1, 1, 0, 0, 0};
  rng.Shuffle(std::span<uint8_t>(x));
  EXPECT_EQ(x, (std::vector<uint8_t>{0, 1, 1, 0, 0}));
}

TEST(NumpyLegacyRng, ShuffleWithRejectionsHandDerived) {
  // 12 items [0..11], same draws as above; "rej" = masked value > i, drawn again.
  //   i=11 m15: 12 rej, 15 rej, 5 -> swap(11,5)   i=10 m15: 0 -> swap(10,0)
  //   i=9  m15: 3 -> swap(9,3)                     i=8  m15: 11 rej, 3 -> swap(8,3)
  //   i=7  m7: 7 (no-op)                           i=6  m7: 1 -> swap(6,1)
  //   i=5  m7: 3 -> swap(5,3)                      i=4  m7: 5 rej, 2 -> swap(4,2)
  //   i=3  m3: 0 -> swap(3,0)                      i=2  m3: 3 rej, 2 (no-op)
  //   i=1  m1: 0 -> swap(1,0)
  NumpyLegacyRng rng(0);
  std::vector<int> x(12);
  std::iota(x.begin(), x.end(), 0);
  rng.Shuffle(std::span<int>(x));
  EXPECT_EQ(x, (std::vector<int>{6, 11, 4, 10, 2, 8, 1, 7, 9, 3, 0, 5}));
  // All 16 draws listed above were consumed: the next draw is mt19937(0)'s 17th.
  std::mt19937 ref(0);
  ref.discard(16);
  EXPECT_EQ(rng.NextUint32(), static_cast<uint32_t>(ref()));
}

TEST(SpanCorruption, RoundHalfToEven) {
  // L * 0.15 is exactly x.5 for these L; half-to-even gives the even neighbour.
  const std::pair<int64_t, int64_t> cases[] = {{10, 2}, {30, 4}, {50, 8}, {70, 10}, {90, 14}, {110, 16}};
  for (auto [len, noise] : cases) {
    ASSERT_EQ(static_cast<double>(len) * 0.15, std::floor(static_cast<double>(len) * 0.15) + 0.5) << len;
    EXPECT_EQ(CountNoise(len, 0.15, 3.0).noise, noise) << "L=" << len;
  }
  EXPECT_EQ(CountNoise(30, 0.15, 3.0).spans, 1);   // round(4/3) = 1
  EXPECT_EQ(CountNoise(2, 0.15, 3.0).noise, 1);    // clamp to >= 1
  EXPECT_EQ(CountNoise(2, 0.15, 3.0).spans, 1);
  EXPECT_EQ(CountNoise(3, 0.99, 3.0).noise, 2);    // clamp to <= L - 1
  EXPECT_EQ(CountNoise(4, 0.15, 3.0).spans, 1);    // max(round(1/3), 1)
  EXPECT_THROW(CountNoise(1, 0.15, 3.0), Error);
}

TEST(SpanCorruption, WorkedExample568) {
  const auto doc = Doc(568);
  const NoiseCounts c = CountNoise(568, 0.15, 3.0);
  EXPECT_EQ(c.noise, 85);
  EXPECT_EQ(c.spans, 28);
  NumpyLegacyRng rng(0);
  const CorruptedSample s = SpanCorrupt(doc, Config(), rng);
  EXPECT_EQ(s.encoder.size(), 512u);  // 568 - 85 + 28 + 1
  EXPECT_EQ(s.decoder.size(), 115u);  // 1 + 28 + 85 + 1
  EXPECT_EQ(s.decoder.front(), 0);
  EXPECT_EQ(s.decoder.back(), kFirstSentinel - 28);
  EXPECT_EQ(s.encoder.back(), 1);
  EXPECT_EQ(s.decoder[s.decoder.size() - 2], 1);  // the document's EOS is in the last noise span
}

// Rebuilds the document from encoder and decoder: every sentinel in the encoder is replaced by
// the decoder tokens that follow the same sentinel there.
std::vector<int32_t> Reconstruct(const CorruptedSample& s) {
  std::vector<int32_t> out;
  for (size_t i = 0; i + 1 < s.encoder.size(); ++i) {
    const int32_t id = s.encoder[i];
    if (id <= kFirstSentinel && id > kFirstSentinel - 100) {
      auto it = std::find(s.decoder.begin(), s.decoder.end(), id);
      for (++it; it != s.decoder.end() && !(*it <= kFirstSentinel && *it > kFirstSentinel - 100); ++it) out.push_back(*it);
    } else {
      out.push_back(id);
    }
  }
  return out;
}

TEST(SpanCorruption, LayoutInvariantsOverSeeds) {
  for (uint32_t seed = 0; seed < 200; ++seed) {
    NumpyLegacyRng rng(seed);
    for (int64_t len : {2, 3, 10, 30, 57, 200, 568}) {
      const auto doc = Doc(len);
      const NoiseCounts c = CountNoise(len, 0.15, 3.0);
      const CorruptedSample s = SpanCorrupt(doc, Config(), rng);
      ASSERT_EQ(s.noise, c.noise);
      ASSERT_EQ(s.spans, c.spans);  // every span non-empty and separated by kept tokens
      ASSERT_EQ(static_cast<int64_t>(s.encoder.size()), len - c.noise + c.spans + 1);
      ASSERT_EQ(static_cast<int64_t>(s.decoder.size()), 1 + c.spans + c.noise + 1);
      ASSERT_NE(s.encoder.front(), kFirstSentinel) << "layout starts with a kept span";
      ASSERT_EQ(Reconstruct(s), doc) << "seed " << seed << " L " << len;
    }
  }
}

TEST(SpanCorruption, StatisticsOverSeeds) {
  // Density: per document |noise/L - 0.15| <= 0.5/L from rounding alone (no clamp for L >= 7).
  // Mean span: exactly noise/spans per document; here we test that the split into spans is a
  // uniform random composition. For N items in k parts, P(first part has length 1) =
  // C(N-2, k-2) / C(N-1, k-1) = (k-1)/(N-1). Over S seeds the observed frequency has standard
  // deviation sqrt(p(1-p)/S); we allow 5 sigma (false failure rate < 1e-6).
  const int64_t len = 568;
  const NoiseCounts c = CountNoise(len, 0.15, 3.0);
  const double p_noise = static_cast<double>(c.spans - 1) / static_cast<double>(c.noise - 1);
  const double p_kept = static_cast<double>(c.spans - 1) / static_cast<double>(len - c.noise - 1);
  const int seeds = 4000;
  int first_noise_one = 0, first_kept_one = 0;
  double total_noise = 0, total_len = 0;
  for (int seed = 0; seed < seeds; ++seed) {
    NumpyLegacyRng rng(static_cast<uint32_t>(seed));
    const auto mask = RandomSpansNoiseMask(len, 0.15, 3.0, rng);
    size_t t = 0;
    while (!mask[t]) ++t;
    first_kept_one += (t == 1);
    first_noise_one += (mask[t + 1] == 0);
    const int64_t l2 = 7 + seed % 500;
    NumpyLegacyRng rng2(static_cast<uint32_t>(seed));
    const auto m2 = RandomSpansNoiseMask(l2, 0.15, 3.0, rng2);
    const double noise = std::accumulate(m2.begin(), m2.end(), 0.0);
    EXPECT_LE(std::abs(noise / l2 - 0.15), 0.5 / l2 + 1e-12) << "L=" << l2;
    total_noise += noise;
    total_len += l2;
  }
  auto within = [&](int hits, double p) { return std::abs(hits / double(seeds) - p) <= 5 * std::sqrt(p * (1 - p) / seeds); };
  EXPECT_TRUE(within(first_noise_one, p_noise)) << first_noise_one << " vs p=" << p_noise;
  EXPECT_TRUE(within(first_kept_one, p_kept)) << first_kept_one << " vs p=" << p_kept;
  EXPECT_NEAR(total_noise / total_len, 0.15, 0.5 / 7);
  EXPECT_NEAR(static_cast<double>(c.noise) / c.spans, 3.0, 0.5 * 3 / c.spans + 1e-9);  // rounding of n_spans
}

TEST(SpanCorruption, SentinelIdsCountDown) {
  std::vector<int32_t> doc = {10, 11, 12, 13, 14, 15, 1};
  std::vector<uint8_t> mask = {0, 1, 1, 0, 1, 0, 1};
  SpanCorruptionConfig cfg = Config();
  const CorruptedSample s = SpanCorruptWithMask(doc, mask, cfg);
  EXPECT_EQ(s.encoder, (std::vector<int32_t>{10, 8099, 13, 8098, 15, 8097, 1}));
  EXPECT_EQ(s.decoder, (std::vector<int32_t>{0, 8099, 11, 12, 8098, 14, 8097, 1, 8096}));
  cfg.num_sentinels = 3;  // final sentinel <extra_id_3> does not exist
  EXPECT_THROW(SpanCorruptWithMask(doc, mask, cfg), Error);
}

}  // namespace
}  // namespace qmoe::data
