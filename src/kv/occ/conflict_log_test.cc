#include "kv/occ/conflict_log.h"

#include <gtest/gtest.h>

namespace hf3fs::kv::occ {
namespace {

KeyRangeSet Keys(std::initializer_list<std::string> keys) {
  KeyRangeSet s;
  for (const auto& k : keys) s.AddKey(k);
  s.Normalize();
  return s;
}

TEST(ConflictLog, DetectsOnlyWritesCommittedAfterTheReadVersion) {
  ConflictLog log(1 << 20);
  uint64_t early = log.BeginRead();      // 0
  log.Publish(log.Append(Keys({"a"})));  // version 1
  uint64_t late = log.BeginRead();       // 1
  log.Publish(log.Append(Keys({"b"})));  // version 2

  uint64_t cv = 0;
  Status st = log.Validate(early, Keys({"a"}), &cv);
  EXPECT_EQ(st.code(), StatusCode::kTxnConflict) << st;
  EXPECT_EQ(cv, 1u);
  EXPECT_TRUE(log.Validate(late, Keys({"a"}), &cv).ok());
  EXPECT_EQ(log.Validate(late, Keys({"b"}), &cv).code(), StatusCode::kTxnConflict);
  EXPECT_TRUE(log.Validate(late, Keys({"c"}), &cv).ok());
  log.EndRead(early);
  log.EndRead(late);
}

TEST(ConflictLog, KeepsOnlyWhatRegisteredReadersNeed) {
  ConflictLog log(1 << 20);
  for (int i = 0; i < 10; ++i) log.Publish(log.Append(Keys({"k"})));
  EXPECT_EQ(log.entries(), 0u);  // nobody reads below version 10
  uint64_t rv = log.BeginRead();
  for (int i = 0; i < 5; ++i) log.Publish(log.Append(Keys({"k"})));
  EXPECT_EQ(log.entries(), 5u);
  log.EndRead(rv);
  EXPECT_EQ(log.entries(), 0u);
}

TEST(ConflictLog, ReaderOlderThanTheKeptHistoryIsTooOld) {
  ConflictLog log(4096);  // a few dozen small entries
  uint64_t rv = log.BeginRead();
  for (int i = 0; i < 200; ++i) log.Publish(log.Append(Keys({"key" + std::to_string(i)})));
  EXPECT_LE(log.bytes(), 4096u);
  uint64_t cv = 0;
  Status st = log.Validate(rv, Keys({"unrelated"}), &cv);
  EXPECT_EQ(st.code(), StatusCode::kTxnTooOld) << st;
  EXPECT_TRUE(st.retryable());
  log.EndRead(rv);
  uint64_t fresh = log.BeginRead();
  EXPECT_TRUE(log.Validate(fresh, Keys({"key1"}), &cv).ok());
  log.EndRead(fresh);
}

TEST(ConflictLog, UnpublishedVersionsAreNeverTrimmedAndNotReadable) {
  ConflictLog log(256);
  uint64_t v1 = log.Append(Keys({std::string(300, 'x')}));  // over the byte bound, not visible
  EXPECT_EQ(log.entries(), 1u);
  uint64_t rv = log.BeginRead();
  EXPECT_EQ(rv, 0u);  // readers get the visible version
  uint64_t cv = 0;
  EXPECT_EQ(log.Validate(rv, Keys({std::string(300, 'x')}), &cv).code(), StatusCode::kTxnConflict);
  EXPECT_EQ(cv, v1);
  log.Publish(v1);
  log.EndRead(rv);
}

}  // namespace
}  // namespace hf3fs::kv::occ
