// One contiguous buffer ("arena") holding many dict matrices (codes, row offsets, min/max), so a
// GPU receives its packed experts in ONE upload and keeps them for the life of the server. Pure
// host code: the layout and the packing are tested on the CPU (dict_arena_test) by running the CPU
// kernels on views into a host arena; DictExpertsCuda uploads the same bytes.
//
// Each array starts at a multiple of kArenaAlign bytes (cudaMalloc's own alignment), so the
// kernels' loads are as aligned inside the arena as in separate allocations.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/dict_matvec/dict_matvec.h"

namespace qmoe {

constexpr int64_t kArenaAlign = 256;

struct ArenaSlot {
  int64_t rows = 0, cols = 0, num_codes = 0;
  int64_t codes = 0, row_off = 0, minmax = 0;  // byte offsets of the three arrays
};

struct ArenaLayout {
  std::vector<ArenaSlot> slots;  // one per matrix, in the order given
  int64_t bytes = 0;             // total size (a multiple of kArenaAlign)
};

// Offsets for `mats` (only their shapes and code counts are read).
ArenaLayout PlanArena(const std::vector<kernels::DictView>& mats);

// Copies every matrix into `arena` (layout.bytes bytes, host memory) at its slot.
void FillArena(const std::vector<kernels::DictView>& mats, const ArenaLayout& layout, uint8_t* arena);

// Views of the slots at `base`: the host arena (tests) or its device copy (serving).
std::vector<kernels::DictView> ArenaViews(const ArenaLayout& layout, const uint8_t* base);

}  // namespace qmoe
