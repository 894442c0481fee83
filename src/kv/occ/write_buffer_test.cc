#include "kv/occ/write_buffer.h"

#include <gtest/gtest.h>

namespace hf3fs::kv::occ {
namespace {

WriteBuffer::Lookup Find(const WriteBuffer& w, std::string_view key, std::string* value = nullptr) {
  const std::string* v = nullptr;
  auto r = w.Find(key, &v);
  if (value && v) *value = *v;
  return r;
}

TEST(WriteBuffer, LaterCallsWin) {
  WriteBuffer w;
  w.Set("a", "1");
  w.Set("a", "2");
  std::string v;
  EXPECT_EQ(Find(w, "a", &v), WriteBuffer::Lookup::kValue);
  EXPECT_EQ(v, "2");
  w.Clear("a");
  EXPECT_EQ(Find(w, "a"), WriteBuffer::Lookup::kCleared);
  EXPECT_EQ(Find(w, "b"), WriteBuffer::Lookup::kNotWritten);
}

TEST(WriteBuffer, ClearRangeDropsEarlierWritesAndKeepsLaterOnes) {
  WriteBuffer w;
  w.Set("b", "old");
  w.Set("z", "outside");
  w.ClearRange("a", "m");
  w.Set("c", "new");
  EXPECT_EQ(Find(w, "b"), WriteBuffer::Lookup::kCleared);
  std::string v;
  EXPECT_EQ(Find(w, "c", &v), WriteBuffer::Lookup::kValue);
  EXPECT_EQ(v, "new");
  EXPECT_EQ(Find(w, "m"), WriteBuffer::Lookup::kNotWritten);
  EXPECT_EQ(Find(w, "z", &v), WriteBuffer::Lookup::kValue);
  EXPECT_EQ(w.points().size(), 2u);  // c and z
}

TEST(WriteBuffer, ClearedRangesMerge) {
  WriteBuffer w;
  w.ClearRange("c", "e");
  w.ClearRange("a", "b");
  w.ClearRange("b", "c");  // joins both neighbours
  w.ClearRange("x", "y");
  w.ClearRange("d", "f");
  ASSERT_EQ(w.cleared().size(), 2u);
  EXPECT_EQ(w.cleared().begin()->first, "a");
  EXPECT_EQ(w.cleared().begin()->second, "f");
  EXPECT_NE(w.ClearedRangeAt("ezz"), nullptr);
  EXPECT_EQ(w.ClearedRangeAt("f"), nullptr);
  EXPECT_EQ(w.ClearedRangeAt("0"), nullptr);
}

TEST(WriteBuffer, WriteSetCoversPointsAndRanges) {
  WriteBuffer w;
  w.Set("k", "v");
  w.Clear("q");
  w.ClearRange("a", "c");
  auto set = w.WriteSet();
  EXPECT_TRUE(set.Contains("k"));
  EXPECT_TRUE(set.Contains("q"));
  EXPECT_TRUE(set.Contains("b"));
  EXPECT_FALSE(set.Contains("c"));
  EXPECT_FALSE(set.Contains("k\x01"));
  EXPECT_EQ(w.bytes(), 1u + 1u + 1u + 2u);
}

}  // namespace
}  // namespace hf3fs::kv::occ
