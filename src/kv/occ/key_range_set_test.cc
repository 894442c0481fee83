#include "kv/occ/key_range_set.h"

#include <gtest/gtest.h>

namespace hf3fs::kv::occ {
namespace {

TEST(KeyRangeSet, NormalizeMergesOverlappingAndAdjacentRanges) {
  KeyRangeSet s;
  s.AddRange("d", "f");
  s.AddRange("a", "b");
  s.AddRange("b", "c");  // adjacent to [a, b)
  s.AddRange("e", "g");  // overlaps [d, f)
  s.AddRange("x", "x");  // empty: ignored
  s.AddKey("m");
  s.Normalize();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s.ranges()[0].begin, "a");
  EXPECT_EQ(s.ranges()[0].end, "c");
  EXPECT_EQ(s.ranges()[1].begin, "d");
  EXPECT_EQ(s.ranges()[1].end, "g");
  EXPECT_EQ(s.ranges()[2].begin, "m");
  EXPECT_EQ(s.ranges()[2].end, std::string("m\0", 2));
}

TEST(KeyRangeSet, IntersectsOnlyWhenAKeyIsShared) {
  KeyRangeSet reads;
  reads.AddRange("b", "d");
  reads.AddKey("k");
  reads.Normalize();

  auto writes = [](std::initializer_list<std::pair<std::string, std::string>> ranges) {
    KeyRangeSet w;
    for (const auto& [b, e] : ranges) w.AddRange(b, e);
    w.Normalize();
    return w;
  };
  EXPECT_FALSE(reads.Intersects(writes({{"a", "b"}})));  // ends where the read begins
  EXPECT_FALSE(reads.Intersects(writes({{"d", "e"}})));  // begins where the read ends
  EXPECT_TRUE(reads.Intersects(writes({{"a", "b\x01"}})));
  EXPECT_TRUE(reads.Intersects(writes({{"c", "c\x01"}})));
  EXPECT_FALSE(reads.Intersects(writes({{"j", "k"}, {std::string("k\0", 2), "z"}})));  // around k
  EXPECT_TRUE(reads.Intersects(writes({{"j", "k\x01"}})));
  EXPECT_FALSE(reads.Intersects(KeyRangeSet()));
}

TEST(KeyRangeSet, ContainsUsesHalfOpenRanges) {
  KeyRangeSet s;
  s.AddRange("b", "d");
  s.AddKey("");
  s.Normalize();
  EXPECT_TRUE(s.Contains(""));
  EXPECT_FALSE(s.Contains(std::string("\0", 1)));
  EXPECT_FALSE(s.Contains("a"));
  EXPECT_TRUE(s.Contains("b"));
  EXPECT_TRUE(s.Contains("czzz"));
  EXPECT_FALSE(s.Contains("d"));
}

}  // namespace
}  // namespace hf3fs::kv::occ
