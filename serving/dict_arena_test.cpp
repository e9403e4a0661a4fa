// The packed-expert arena (dict_arena.h): layout (aligned, disjoint, in order) and packing, checked
// by running the CPU kernels on views into a host arena: the same bytes a GPU receives.
#include "serving/dict_arena.h"

#include <gtest/gtest.h>

#include <cstring>

#include "kernels/dict_matvec/dict_test_data.h"

namespace qmoe {
namespace {

namespace kk = qmoe::kernels;

TEST(DictArena, LayoutIsAlignedDisjointAndOrdered) {
  std::vector<kk::dict_test::TestMatrix> ms;
  for (auto [r, c] : {std::pair<int64_t, int64_t>{1, 1}, {19, 2081}, {111, 19}, {64, 3072}, {3, 5}})
    ms.push_back(kk::dict_test::RandomTernary(r, c, 0.885, uint64_t(r + c)));
  std::vector<kk::DictView> views;
  for (const auto& m : ms) views.push_back(m.View());
  const ArenaLayout l = PlanArena(views);
  ASSERT_EQ(l.slots.size(), views.size());
  EXPECT_EQ(l.bytes % kArenaAlign, 0);
  int64_t end = 0;
  for (size_t i = 0; i < views.size(); ++i) {
    const ArenaSlot& s = l.slots[i];
    const std::pair<int64_t, int64_t> arrays[3] = {{s.codes, 2 * views[i].num_codes},
                                                   {s.row_off, 4 * (views[i].rows + 1)},
                                                   {s.minmax, 4 * views[i].rows}};
    for (auto [off, len] : arrays) {
      EXPECT_EQ(off % kArenaAlign, 0) << "matrix " << i;
      EXPECT_GE(off, end) << "matrix " << i << ": overlaps the previous array";
      end = off + len;
    }
  }
  EXPECT_LE(end, l.bytes);
  EXPECT_GT(end, l.bytes - kArenaAlign);  // no slack beyond the last array's alignment
}

TEST(DictArena, KernelsOnArenaViewsMatchTheOriginals) {
  std::vector<kk::dict_test::TestMatrix> ms;
  for (auto [r, c] : {std::pair<int64_t, int64_t>{19, 2081}, {111, 19}, {64, 768}})
    ms.push_back(kk::dict_test::RandomTernary(r, c, 0.885, uint64_t(3 * r + c)));
  std::vector<kk::DictView> views;
  for (const auto& m : ms) views.push_back(m.View());
  const ArenaLayout l = PlanArena(views);
  std::vector<uint8_t> arena(size_t(l.bytes), 0xAB);
  FillArena(views, l, arena.data());
  const std::vector<kk::DictView> packed = ArenaViews(l, arena.data());
  const uint32_t* dec = kk::dict_test::DecodeTable().data();
  for (size_t i = 0; i < ms.size(); ++i) {
    const kk::DictView& a = views[i];
    const kk::DictView& b = packed[i];
    ASSERT_EQ(b.rows, a.rows);
    ASSERT_EQ(b.cols, a.cols);
    ASSERT_EQ(b.num_codes, a.num_codes);
    EXPECT_EQ(std::memcmp(a.codes, b.codes, size_t(2 * a.num_codes)), 0);
    EXPECT_EQ(std::memcmp(a.row_off, b.row_off, size_t(4 * (a.rows + 1))), 0);
    EXPECT_EQ(std::memcmp(a.minmax, b.minmax, size_t(4 * a.rows)), 0);
    const int64_t k = 5;
    const auto x = kk::dict_test::RandomBf16(k * a.cols, 21);
    std::vector<float> ya(size_t(k * a.rows)), yb(size_t(k * a.rows));
    kk::DictMatvecBatch(a, dec, x.data(), k, ya.data());
    kk::DictMatvecBatch(b, dec, x.data(), k, yb.data());
    EXPECT_EQ(ya, yb) << "matrix " << i;  // same kernel, same bytes: bit for bit
  }
}

}  // namespace
}  // namespace qmoe
