#include "chunk/slot_allocator.h"

#include <gtest/gtest.h>

namespace hf3fs::chunk {
namespace {

TEST(SlotAllocator, HandsOutLowestFreeSlotAndOpensGroupsOnlyWhenFull) {
  SlotAllocator a(4, 100);
  for (uint32_t i = 0; i < 6; ++i) EXPECT_EQ(a.Allocate(), i);
  EXPECT_EQ(a.group_count(), 2u);
  EXPECT_EQ(a.used_slots(), 6u);
  EXPECT_EQ(a.free_slots(), 2u);
  EXPECT_FALSE(a.Free(1));
  EXPECT_EQ(a.Allocate(), 1u);  // reuse before the tail of group 1
  EXPECT_EQ(a.Allocate(), 6u);
}

TEST(SlotAllocator, ReportsWhenAGroupEmptiesAndReusesLowGroupsFirst) {
  SlotAllocator a(2, 100);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(a.Allocate());
  EXPECT_FALSE(a.Free(2));
  EXPECT_TRUE(a.Free(3));  // group 1 now empty
  EXPECT_EQ(a.GroupUsed(1), 0u);
  EXPECT_FALSE(a.Free(5));
  EXPECT_EQ(a.Allocate(), 2u);  // lowest group with room
  EXPECT_EQ(a.Allocate(), 3u);
  EXPECT_EQ(a.Allocate(), 5u);
}

TEST(SlotAllocator, RebuildMarksSlotsOnceAndRefusesOutOfRange) {
  SlotAllocator a(64, 3);
  EXPECT_TRUE(a.MarkUsed(130));
  EXPECT_FALSE(a.MarkUsed(130));  // named twice
  EXPECT_FALSE(a.MarkUsed(64 * 3));
  EXPECT_EQ(a.group_count(), 3u);
  EXPECT_TRUE(a.IsUsed(130));
  EXPECT_FALSE(a.IsUsed(129));
  EXPECT_FALSE(a.IsUsed(10000));
  EXPECT_EQ(a.Allocate(), 0u);
}

TEST(SlotAllocator, StopsAtMaxGroups) {
  SlotAllocator a(3, 2);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(a.Allocate());
  EXPECT_FALSE(a.Allocate());
  a.Free(4);
  EXPECT_EQ(a.Allocate(), 4u);
}

TEST(SlotAllocator, WideGroupsUseEveryWordOfTheBitmap) {
  SlotAllocator a(200, 2);
  for (uint32_t i = 0; i < 400; ++i) ASSERT_EQ(a.Allocate(), i);
  EXPECT_FALSE(a.Allocate());
  a.Free(199);
  a.Free(130);
  EXPECT_EQ(a.Allocate(), 130u);
  EXPECT_EQ(a.Allocate(), 199u);
  a.EnsureGroups(5);
  EXPECT_EQ(a.group_count(), 2u);  // bounded by max_groups
}

}  // namespace
}  // namespace hf3fs::chunk
