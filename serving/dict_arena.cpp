#include "serving/dict_arena.h"

#include <cstring>

#include "framework/core/error.h"

namespace qmoe {
namespace {

int64_t Aligned(int64_t n) { return (n + kArenaAlign - 1) / kArenaAlign * kArenaAlign; }

}  // namespace

ArenaLayout PlanArena(const std::vector<kernels::DictView>& mats) {
  ArenaLayout l;
  int64_t at = 0;
  for (const auto& m : mats) {
    QMOE_CHECK(m.rows >= 0 && m.cols >= 0 && m.num_codes >= 0, "dict arena: bad matrix ", m.rows, "x", m.cols, " with ",
               m.num_codes, " codes");
    ArenaSlot s{m.rows, m.cols, m.num_codes};
    s.codes = at;
    at = Aligned(at + 2 * m.num_codes);
    s.row_off = at;
    at = Aligned(at + 4 * (m.rows + 1));
    s.minmax = at;
    at = Aligned(at + 2 * 2 * m.rows);
    l.slots.push_back(s);
  }
  l.bytes = at;
  return l;
}

void FillArena(const std::vector<kernels::DictView>& mats, const ArenaLayout& layout, uint8_t* arena) {
  QMOE_ASSERT(mats.size() == layout.slots.size(), "arena: ", mats.size(), " matrices for ", layout.slots.size(), " slots");
  std::memset(arena, 0, size_t(layout.bytes));  // padding is deterministic
  for (size_t i = 0; i < mats.size(); ++i) {
    const auto& m = mats[i];
    const ArenaSlot& s = layout.slots[i];
    QMOE_ASSERT(m.rows == s.rows && m.cols == s.cols && m.num_codes == s.num_codes, "arena slot ", i, " shape");
    if (m.num_codes) std::memcpy(arena + s.codes, m.codes, size_t(2 * m.num_codes));
    std::memcpy(arena + s.row_off, m.row_off, size_t(4 * (m.rows + 1)));
    if (m.rows) std::memcpy(arena + s.minmax, m.minmax, size_t(4 * m.rows));
  }
}

std::vector<kernels::DictView> ArenaViews(const ArenaLayout& layout, const uint8_t* base) {
  std::vector<kernels::DictView> out;
  for (const ArenaSlot& s : layout.slots)
    out.push_back(kernels::DictView{s.rows, s.cols, reinterpret_cast<const uint16_t*>(base + s.codes), s.num_codes,
                                    reinterpret_cast<const int32_t*>(base + s.row_off),
                                    reinterpret_cast<const kernels::Bf16*>(base + s.minmax)});
  return out;
}

}  // namespace qmoe
