#include "common/durability.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace hf3fs {
namespace {

using namespace std::chrono_literals;

TEST(Durability, ParsesItsTwoNames) {
  EXPECT_EQ(*ParseDurability("window"), Durability::kWindow);
  EXPECT_EQ(*ParseDurability("strict"), Durability::kStrict);
  EXPECT_EQ(ParseDurability("fast").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ToString(Durability::kStrict), "strict");
}

TEST(SharedSync, EveryCallWaitsForAFlushThatStartedAfterIt) {
  // Each flush records the "writes" it covers; a caller's write must be covered by the time its
  // Sync returns, however calls and flushes interleave.
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> flushed{0};
  SharedSync sync([&] {
    uint64_t w = written.load();
    std::this_thread::sleep_for(2ms);
    flushed = w;
    return Status::Ok();
  });
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        uint64_t mine = ++written;
        if (!sync.Sync().ok() || flushed.load() < mine) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  // 160 calls shared far fewer flushes (callers arriving during a flush share the next one).
  EXPECT_LT(sync.flushes(), 160u);
  EXPECT_GE(sync.flushes(), 20u);
}

TEST(SharedSync, AFailedFlushIsReportedAndTheNextOneRecovers) {
  std::atomic<bool> fail{true};
  SharedSync sync([&] {
    return fail ? Status(StatusCode::kIoError, "flush failed") : Status::Ok();
  });
  EXPECT_EQ(sync.Sync().code(), StatusCode::kIoError);
  fail = false;
  EXPECT_TRUE(sync.Sync().ok());
}

TEST(SharedSync, PeriodicFlushRunsOnlyWhileDirty) {
  std::atomic<int> flushes{0};
  std::atomic<bool> dirty{false};
  SharedSync sync([&] {
    ++flushes;
    dirty = false;
    return Status::Ok();
  });
  sync.StartPeriodic(5ms, [&] { return dirty.load(); });
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(flushes.load(), 0);
  dirty = true;
  for (int i = 0; i < 200 && flushes.load() == 0; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(flushes.load(), 1);
  sync.StopPeriodic();
  sync.StopPeriodic();  // idempotent
}

}  // namespace
}  // namespace hf3fs
