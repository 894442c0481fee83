#include "chunk/slot_allocator.h"

#include <bit>

#include "common/check.h"

namespace hf3fs::chunk {

SlotAllocator::SlotAllocator(uint32_t slots_per_group, uint32_t max_groups)
    : slots_per_group_(slots_per_group), max_groups_(max_groups) {
  HF3FS_CHECK(slots_per_group > 0 && max_groups > 0);
}

void SlotAllocator::AddGroup() {
  Group g;
  g.bits.assign((slots_per_group_ + 63) / 64, 0);
  groups_with_free_.insert(static_cast<uint32_t>(groups_.size()));
  groups_.push_back(std::move(g));
}

void SlotAllocator::EnsureGroups(uint32_t count) {
  while (groups_.size() < count && groups_.size() < max_groups_) AddGroup();
}

bool SlotAllocator::IsUsed(uint32_t index) const {
  uint32_t g = GroupOf(index);
  if (g >= groups_.size()) return false;
  uint32_t s = index % slots_per_group_;
  return (groups_[g].bits[s / 64] >> (s % 64)) & 1;
}

bool SlotAllocator::MarkUsed(uint32_t index) {
  uint32_t g = GroupOf(index);
  if (g >= max_groups_) return false;
  EnsureGroups(g + 1);
  if (IsUsed(index)) return false;
  Group& group = groups_[g];
  uint32_t s = index % slots_per_group_;
  group.bits[s / 64] |= uint64_t{1} << (s % 64);
  ++group.used;
  ++used_;
  if (group.used == slots_per_group_) groups_with_free_.erase(g);
  return true;
}

std::optional<uint32_t> SlotAllocator::Allocate() {
  if (groups_with_free_.empty()) {
    if (groups_.size() >= max_groups_) return std::nullopt;
    AddGroup();
  }
  uint32_t g = *groups_with_free_.begin();
  const Group& group = groups_[g];
  for (size_t w = 0; w < group.bits.size(); ++w) {
    if (group.bits[w] == ~uint64_t{0}) continue;
    uint32_t s = static_cast<uint32_t>(w * 64 + std::countr_one(group.bits[w]));
    HF3FS_CHECK(s < slots_per_group_);
    uint32_t index = g * slots_per_group_ + s;
    HF3FS_CHECK(MarkUsed(index));
    return index;
  }
  HF3FS_CHECK_MSG(false, "group {} listed with free slots but full", g);
  return std::nullopt;
}

bool SlotAllocator::Free(uint32_t index) {
  HF3FS_CHECK_MSG(IsUsed(index), "freeing slot {} that is not used", index);
  uint32_t g = GroupOf(index);
  Group& group = groups_[g];
  uint32_t s = index % slots_per_group_;
  group.bits[s / 64] &= ~(uint64_t{1} << (s % 64));
  --group.used;
  --used_;
  groups_with_free_.insert(g);
  return group.used == 0;
}

}  // namespace hf3fs::chunk
