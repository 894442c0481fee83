// SlotAllocator: the in-memory bitmap of one size class.
//
// Slots are numbered 0.. and grouped in groups of `slots_per_group`. Allocation returns the lowest
// free slot of the lowest group that has one and opens a new group only when every existing group
// is full, so live chunks stay packed at the front of the class's files and empty groups at the
// back can be punched.
//
// Not thread-safe: DataFiles guards each class's allocator with that class's mutex.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

namespace hf3fs::chunk {

class SlotAllocator {
 public:
  // max_groups bounds the class (slot indexes are 32-bit).
  SlotAllocator(uint32_t slots_per_group, uint32_t max_groups);

  // Marks `index` used, opening groups up to it (rebuild at open). False if it was already used
  // or lies beyond max_groups.
  bool MarkUsed(uint32_t index);
  // Lowest free slot; nullopt when every slot of max_groups groups is used.
  std::optional<uint32_t> Allocate();
  // Frees a used slot (a bug if it is not used). Returns true when its group became empty.
  bool Free(uint32_t index);
  // Makes sure groups [0, count) exist (groups already on disk at open).
  void EnsureGroups(uint32_t count);

  bool IsUsed(uint32_t index) const;
  uint32_t GroupOf(uint32_t index) const { return index / slots_per_group_; }
  uint32_t GroupUsed(uint32_t group) const { return groups_[group].used; }
  uint32_t group_count() const { return static_cast<uint32_t>(groups_.size()); }
  uint32_t slots_per_group() const { return slots_per_group_; }
  uint64_t used_slots() const { return used_; }
  // Free slots inside existing groups.
  uint64_t free_slots() const { return uint64_t{group_count()} * slots_per_group_ - used_; }

 private:
  struct Group {
    std::vector<uint64_t> bits;
    uint32_t used = 0;
  };
  void AddGroup();

  const uint32_t slots_per_group_;
  const uint32_t max_groups_;
  std::vector<Group> groups_;
  std::set<uint32_t> groups_with_free_;
  uint64_t used_ = 0;
};

}  // namespace hf3fs::chunk
