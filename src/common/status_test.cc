#include "common/status.h"

#include <gtest/gtest.h>

#include "common/ids.h"

namespace hf3fs {
namespace {

Status FailsWith(StatusCode c) { return Status(c, "because"); }
Result<int> Half(int v) {
  if (v % 2) return MakeStatus(StatusCode::kInvalidArgument, "{} is odd", v);
  return v / 2;
}
Result<int> Quarter(int v) {
  HF3FS_TRY_ASSIGN(int h, Half(v));
  HF3FS_TRY_ASSIGN(int q, Half(h));
  return q;
}
Status Chain() {
  HF3FS_TRY(Status::Ok());
  HF3FS_TRY(FailsWith(StatusCode::kNotFound));
  return Status(StatusCode::kInternal);
}

TEST(Status, OkHasNoMessageAndMapsToZero) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "ok");
  EXPECT_EQ(s.errno_value(), 0);
}

TEST(Status, CodesCarryRetryableFlagAndErrno) {
  EXPECT_TRUE(Status(StatusCode::kRpcConnectionLost).retryable());
  EXPECT_FALSE(Status(StatusCode::kNotFound).retryable());
  EXPECT_EQ(Status(StatusCode::kNotFound).errno_value(), ENOENT);
  EXPECT_EQ(Status(StatusCode::kNoSpace).errno_value(), ENOSPC);
  EXPECT_STREQ(StatusCodeComponent(StatusCode::kRpcTimeout), "net");
  EXPECT_STREQ(StatusCodeComponent(StatusCode::kNotFound), "common");
}

TEST(Status, UnknownWireNumbersBecomeInternal) {
  EXPECT_EQ(StatusCodeFromNumber(2), StatusCode::kNotFound);
  EXPECT_EQ(StatusCodeFromNumber(65000), StatusCode::kInternal);
  EXPECT_EQ(StatusCodeFromNumber(1u << 20), StatusCode::kInternal);
}

TEST(Status, ToStringAndContext) {
  auto s = MakeStatus(StatusCode::kNotFound, "inode {}", 42);
  EXPECT_EQ(s.ToString(), "kNotFound: inode 42");
  EXPECT_EQ(s.WithContext("open /a").ToString(), "kNotFound: open /a: inode 42");
  EXPECT_EQ(fmt::format("{}", s), "kNotFound: inode 42");
}

TEST(Status, TryMacrosPropagateFirstFailure) {
  EXPECT_EQ(Chain().code(), StatusCode::kNotFound);
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "3 is odd");
}

TEST(Result, HoldsValueOrStatus) {
  Result<std::string> a = std::string("x");
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(*a, "x");
  EXPECT_TRUE(a.status().ok());
  Result<std::string> b = Status(StatusCode::kTimeout);
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(b.value_or("d"), "d");
}

TEST(ResultDeathTest, ValueOfFailureAborts) {
  Result<int> r = Status(StatusCode::kTimeout);
  EXPECT_DEATH((void)r.value(), "value\\(\\) on failed Result");
}

TEST(StrongId, DistinctTypesCompareAndFormat) {
  NodeId a(3), b(4);
  EXPECT_LT(a, b);
  EXPECT_FALSE(NodeId().valid());
  EXPECT_EQ(fmt::format("{}", InodeId(77)), "77");
  static_assert(!std::is_convertible_v<NodeId, TargetId>);
  static_assert(!std::is_convertible_v<uint32_t, NodeId>);
  EXPECT_EQ(std::hash<ChainId>()(ChainId(5)), std::hash<uint32_t>()(5));
}

}  // namespace
}  // namespace hf3fs
