// Relative position buckets against hand check values (docs/switch-semantics.md, relative position bias), including the fp32
// boundaries n = 16, 32, 64, and the tensor implementation against its scalar _ref twin.
#include "framework/model/relative_position.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace qmoe {
namespace {

TEST(RelativePosition, EncoderCheckValues) {
  // rel = key - query -> bucket, as Hugging Face's _relative_position_bucket computes them
  // (docs/switch-semantics.md).
  const std::vector<std::pair<int64_t, int64_t>> want = {
      {-1, 1},   {-8, 8},   {-16, 10}, {-32, 12}, {-64, 14}, {-127, 15}, {-128, 15}, {-1000, 15}, {0, 0},
      {1, 17},   {8, 24},   {16, 26},  {32, 28},  {64, 30},  {127, 31},  {128, 31},  {5000, 31}};
  for (auto [rel, bucket] : want) {
    EXPECT_EQ(RelativePositionBucketRef(rel, true, 32, 128), bucket) << "rel " << rel;
    // The tensor path: query 0, key rel (rel >= 0) or query -rel, key 0.
    const int64_t q = rel < 0 ? -rel : 0, k = rel > 0 ? rel : 0;
    at::Tensor b = RelativePositionBuckets(1, k + 1, true, 32, 128, q);
    EXPECT_EQ(b[0][k].item<int64_t>(), bucket) << "rel " << rel;
  }
}

TEST(RelativePosition, DecoderCheckValues) {
  // n = query - key (past distance) -> bucket; future keys (n < 0) are bucket 0.
  const std::vector<std::pair<int64_t, int64_t>> want = {{0, 0},   {1, 1},   {15, 15}, {16, 16}, {20, 17},
                                                         {32, 21}, {64, 26}, {90, 29}, {127, 31}, {500, 31},
                                                         {-3, 0}};
  for (auto [n, bucket] : want) {
    EXPECT_EQ(RelativePositionBucketRef(-n, false, 32, 128), bucket) << "n " << n;
    const int64_t q = n > 0 ? n : 0, k = n < 0 ? -n : 0;
    at::Tensor b = RelativePositionBuckets(1, std::max<int64_t>(k + 1, 1), false, 32, 128, q);
    EXPECT_EQ(b[0][k].item<int64_t>(), bucket) << "n " << n;
  }
}

TEST(RelativePosition, ExactLogBoundaries) {
  // log(n/8)/log(16)*8 is exactly 2, 4, 6 in fp32 at n = 16, 32, 64: one below stays in the
  // previous bucket, the boundary itself moves up.
  for (auto [n, bucket] : std::vector<std::pair<int64_t, int64_t>>{{15, 9}, {16, 10}, {31, 11}, {32, 12}, {63, 13},
                                                                   {64, 14}}) {
    EXPECT_EQ(RelativePositionBucketRef(-n, true, 32, 128), bucket) << "n " << n;
    EXPECT_EQ(RelativePositionBucketRef(n, true, 32, 128), 16 + bucket) << "n " << n;
  }
}

TEST(RelativePosition, TensorMatchesRef) {
  const int64_t L = 300;
  for (bool bidir : {true, false}) {
    at::Tensor b = RelativePositionBuckets(L, L, bidir, 32, 128);
    auto a = b.accessor<int64_t, 2>();
    int64_t mismatches = 0;
    for (int64_t i = 0; i < L; ++i)
      for (int64_t j = 0; j < L; ++j) mismatches += a[i][j] != RelativePositionBucketRef(j - i, bidir, 32, 128);
    EXPECT_EQ(mismatches, 0) << (bidir ? "encoder" : "decoder");
  }
  // Other bucket counts / distances go through the same formula.
  at::Tensor b = RelativePositionBuckets(40, 40, true, 16, 20);
  for (int64_t i = 0; i < 40; ++i)
    for (int64_t j = 0; j < 40; ++j) ASSERT_EQ(b[i][j].item<int64_t>(), RelativePositionBucketRef(j - i, true, 16, 20));
}

TEST(RelativePosition, QueryOffsetSelectsRows) {
  // Generation computes one query row at position t; it must equal row t of the full matrix.
  at::Tensor full = RelativePositionBuckets(50, 50, false, 32, 128);
  for (int64_t t : {0, 7, 16, 49}) {
    at::Tensor row = RelativePositionBuckets(1, t + 1, false, 32, 128, t);
    EXPECT_TRUE(at::equal(row[0], full[t].narrow(0, 0, t + 1))) << "t " << t;
  }
}

}  // namespace
}  // namespace qmoe
