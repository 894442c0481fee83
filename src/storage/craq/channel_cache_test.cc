#include "storage/craq/channel_cache.h"

#include <gtest/gtest.h>

namespace hf3fs::storage {
namespace {

using Outcome = ChannelCache::Outcome;

TEST(ChannelCache, RetryOfFinishedUpdateGetsCachedResponse) {
  ChannelCache c(16);
  EXPECT_EQ(c.Begin(1, 0, 5).outcome, Outcome::kNew);
  EXPECT_EQ(c.Begin(1, 0, 5).outcome, Outcome::kBusy);
  UpdateRsp rsp;
  rsp.set_commit_version(42);
  c.Finish(1, 0, 5, &rsp);
  auto again = c.Begin(1, 0, 5);
  EXPECT_EQ(again.outcome, Outcome::kDuplicate);
  EXPECT_EQ(again.cached.commit_version(), 42u);
  EXPECT_EQ(c.Begin(1, 0, 4).outcome, Outcome::kStale);
  EXPECT_EQ(c.Begin(1, 0, 6).outcome, Outcome::kNew);
}

TEST(ChannelCache, FailedUpdateRunsAgain) {
  ChannelCache c(16);
  EXPECT_EQ(c.Begin(1, 3, 1).outcome, Outcome::kNew);
  c.Finish(1, 3, 1, nullptr);
  EXPECT_EQ(c.Begin(1, 3, 1).outcome, Outcome::kNew);
}

TEST(ChannelCache, ChannelsAreIndependentAndBounded) {
  ChannelCache c(4);
  for (uint32_t ch = 0; ch < 10; ++ch) EXPECT_EQ(c.Begin(9, ch, 1).outcome, Outcome::kNew);
  EXPECT_EQ(c.size(), 4u);
  // Channel 0 was evicted: its sequence starts over as new.
  EXPECT_EQ(c.Begin(9, 0, 1).outcome, Outcome::kNew);
  // Another client's channel 9 is not client 9's.
  EXPECT_EQ(c.Begin(8, 9, 1).outcome, Outcome::kNew);
}

TEST(ChannelCache, ReplicaObservedUpdateIsADuplicateWhenItBecomesHead) {
  ChannelCache c(16);
  // A forward of seq 7 is running here: a client retry reaching this node as the new head waits.
  EXPECT_TRUE(c.Observe(2, 1, 7));
  EXPECT_EQ(c.Begin(2, 1, 7).outcome, Outcome::kBusy);
  UpdateRsp rsp;
  rsp.set_commit_version(3);
  c.Finish(2, 1, 7, &rsp);
  auto retry = c.Begin(2, 1, 7);
  EXPECT_EQ(retry.outcome, Outcome::kDuplicate);
  EXPECT_EQ(retry.cached.commit_version(), 3u);
  // A repeated forward of a finished update, or an older one, has nothing to track.
  EXPECT_FALSE(c.Observe(2, 1, 7));
  EXPECT_FALSE(c.Observe(2, 1, 6));
  // A forward that failed here leaves the sequence runnable at a new head.
  EXPECT_TRUE(c.Observe(2, 1, 8));
  c.Finish(2, 1, 8, nullptr);
  EXPECT_EQ(c.Begin(2, 1, 8).outcome, Outcome::kNew);
}

}  // namespace
}  // namespace hf3fs::storage
