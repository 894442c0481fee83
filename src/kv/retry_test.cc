#include "kv/retry.h"

#include <gtest/gtest.h>

#include "kv/memory/memory_engine.h"

namespace hf3fs::kv {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// An attempt that always conflicts: it reads "k", then another transaction writes "k" and commits
// before the attempt commits its own write.
Status ConflictingAttempt(Engine& engine, Transaction& txn, int& attempts) {
  ++attempts;
  HF3FS_TRY(txn.Get("k"));
  {
    auto other = engine.Begin();
    HF3FS_TRY(other);
    HF3FS_TRY((*other)->Set("k", std::to_string(attempts)));
    HF3FS_TRY((*other)->Commit());
  }
  return txn.Set("mine", "x");
}

TEST(RunTransaction, ReturnsTheValueOfTheCommittedAttempt) {
  auto engine = OpenMemoryEngine();
  int calls = 0;
  auto r = RunTransaction(*engine, RetryOptions{}, [&](Transaction& txn) -> Result<int> {
    ++calls;
    HF3FS_TRY(txn.Set("a", "1"));
    return 42;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(calls, 1);
}

TEST(RunTransaction, RerunsFromScratchAfterAConflict) {
  auto engine = OpenMemoryEngine();
  int attempts = 0;
  Status st = RunTransaction(*engine, RetryOptions{}, [&](Transaction& txn) -> Status {
    if (attempts < 2) return ConflictingAttempt(*engine, txn, attempts);
    ++attempts;
    return txn.Set("mine", "final");
  });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(attempts, 3);
  auto txn = engine->Begin();
  ASSERT_TRUE(txn.ok());
  EXPECT_EQ((*txn)->Get("mine")->value_or(""), "final");
}

TEST(RunTransaction, GivesUpAfterMaxAttempts) {
  auto engine = OpenMemoryEngine();
  int attempts = 0;
  RetryOptions retry;
  retry.max_attempts = 4;
  Status st = RunTransaction(
      *engine, retry, [&](Transaction& txn) { return ConflictingAttempt(*engine, txn, attempts); });
  EXPECT_EQ(st.code(), StatusCode::kTxnConflict) << st;
  EXPECT_EQ(attempts, 4);
  EXPECT_NE(st.message().find("after 4 attempts"), std::string::npos) << st;
}

TEST(RunTransaction, StopsAtTheDeadline) {
  auto engine = OpenMemoryEngine();
  int attempts = 0;
  RetryOptions retry;
  retry.max_attempts = 1000000;
  retry.initial_backoff = 5ms;
  retry.max_backoff = 10ms;
  retry.deadline = 100ms;
  auto start = Clock::now();
  Status st = RunTransaction(
      *engine, retry, [&](Transaction& txn) { return ConflictingAttempt(*engine, txn, attempts); });
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(st.code(), StatusCode::kTxnConflict) << st;
  EXPECT_NE(st.message().find("deadline"), std::string::npos) << st;
  EXPECT_LT(elapsed, 1s);
  EXPECT_GE(attempts, 5);  // 100 ms of 5-10 ms backoffs
}

TEST(RunTransaction, ReturnsOtherFailuresAtOnce) {
  auto engine = OpenMemoryEngine();
  int attempts = 0;
  Status st = RunTransaction(*engine, RetryOptions{}, [&](Transaction&) -> Status {
    ++attempts;
    return Status(StatusCode::kUnavailable, "not a kv failure");  // retryable, but not ours
  });
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(attempts, 1);

  attempts = 0;
  st = RunTransaction(*engine, RetryOptions{}, [&](Transaction& txn) {
    ++attempts;
    return txn.Set(std::string(kMaxKeyBytes + 1, 'k'), "v");
  });
  EXPECT_EQ(st.code(), StatusCode::kKvKeyTooLarge);
  EXPECT_EQ(attempts, 1);
}

TEST(RunTransaction, BackoffGrowsAndIsBounded) {
  auto engine = OpenMemoryEngine();
  int attempts = 0;
  RetryOptions retry;
  retry.max_attempts = 8;
  retry.initial_backoff = 1ms;
  retry.max_backoff = 4ms;
  auto start = Clock::now();
  Status st = RunTransaction(
      *engine, retry, [&](Transaction& txn) { return ConflictingAttempt(*engine, txn, attempts); });
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(st.code(), StatusCode::kTxnConflict);
  // 7 sleeps: at least half of 1+2+4+4+4+4+4 ms, and at most all of it plus scheduling slack.
  EXPECT_GE(elapsed, 11ms);
  EXPECT_LT(elapsed, 500ms);
}

}  // namespace
}  // namespace hf3fs::kv
