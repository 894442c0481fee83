#include "fuse/lookahead.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace hf3fs::fuse {
namespace {

using namespace std::chrono_literals;
using Answer = Lookahead::Answer;
using Clock = Lookahead::Clock;

meta::Inode Ino(uint64_t id) {
  meta::Inode i;
  i.set_id(id);
  i.set_type(meta::INODE_FILE);
  return i;
}

std::string Name(int i) { return fmt::format("f{:05}", i); }

std::vector<std::pair<std::string, meta::Inode>> Listing(int from, int to) {
  std::vector<std::pair<std::string, meta::Inode>> v;
  for (int i = from; i < to; i += 2) v.emplace_back(Name(i), Ino(1000 + i));  // even names only
  return v;
}

TEST(Lookahead, IncreasingMissesStartAFetchWhoseListingAnswersLaterLookups) {
  Lookahead la({.max_entries = 100, .ttl = 1s, .trigger = 3});
  auto t0 = Clock::now();
  EXPECT_EQ(la.Lookup(7, Name(1), t0).fetch_token, 0u);
  EXPECT_EQ(la.Lookup(7, Name(2), t0).fetch_token, 0u);
  auto r = la.Lookup(7, Name(3), t0);
  EXPECT_EQ(r.answer, Answer::kUnknown);  // this one goes to meta
  ASSERT_NE(r.fetch_token, 0u);
  EXPECT_EQ(r.fetch_from, Name(3));
  // Names after f00003: the even ones up to f00200, and more exist.
  la.Fill(7, r.fetch_token, Listing(4, 202), /*to_end=*/false, t0);
  auto found = la.Lookup(7, Name(4), t0 + 1ms);
  EXPECT_EQ(found.answer, Answer::kFound);
  EXPECT_EQ(found.inode.id(), 1004u);
  EXPECT_GT(found.ttl_left, 900ms);
  EXPECT_EQ(la.Lookup(7, Name(5), t0 + 1ms).answer, Answer::kMissing);    // in range, not listed
  EXPECT_EQ(la.Lookup(7, Name(3), t0 + 1ms).answer, Answer::kUnknown);    // the lower bound
  EXPECT_EQ(la.Lookup(7, Name(300), t0 + 1ms).answer, Answer::kUnknown);  // past the range
  EXPECT_EQ(la.Lookup(8, Name(4), t0 + 1ms).answer, Answer::kUnknown);    // another directory
}

TEST(Lookahead, LookupsInAnyOrderOrOnADisabledCacheFetchNothing) {
  Lookahead la({.max_entries = 100, .ttl = 1s, .trigger = 3});
  auto t0 = Clock::now();
  for (int i : {5, 3, 8, 1, 9, 2}) EXPECT_EQ(la.Lookup(7, Name(i), t0).fetch_token, 0u);
  Lookahead off({.max_entries = 0});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(off.Lookup(7, Name(i), t0).fetch_token, 0u);
  EXPECT_EQ(la.Lookup(7, "..", t0).answer, Answer::kUnknown);
}

TEST(Lookahead, AWindowExpiresWithTheEntryTimeout) {
  Lookahead la({.max_entries = 100, .ttl = 1s, .trigger = 1});
  auto t0 = Clock::now();
  auto r = la.Lookup(7, Name(0), t0);
  la.Fill(7, r.fetch_token, Listing(2, 10), /*to_end=*/true, t0);
  EXPECT_EQ(la.Lookup(7, Name(500), t0 + 400ms).answer, Answer::kMissing);  // to the end
  EXPECT_EQ(la.Lookup(7, Name(4), t0 + 1001ms).answer, Answer::kUnknown);
}

TEST(Lookahead, ThisMountsChangesWinEvenWhenMadeDuringTheFetch) {
  Lookahead la({.max_entries = 100, .ttl = 1s, .trigger = 1});
  auto t0 = Clock::now();
  auto r = la.Lookup(7, Name(0), t0);
  ASSERT_NE(r.fetch_token, 0u);
  // While the listing travels, this mount creates f00003 and removes f00004.
  la.Added(7, Name(3), Ino(3));
  la.Removed(7, Name(4));
  la.Fill(7, r.fetch_token, Listing(2, 10), /*to_end=*/true, t0);
  EXPECT_EQ(la.Lookup(7, Name(3), t0).answer, Answer::kFound);
  EXPECT_EQ(la.Lookup(7, Name(4), t0).answer, Answer::kMissing);
  // And after it arrived.
  la.Added(7, Name(7), Ino(7));
  EXPECT_EQ(la.Lookup(7, Name(7), t0).answer, Answer::kFound);
  la.Removed(7, Name(2));
  EXPECT_EQ(la.Lookup(7, Name(2), t0).answer, Answer::kMissing);
  la.Forget(7);
  EXPECT_EQ(la.Lookup(7, Name(3), t0).answer, Answer::kUnknown);
}

TEST(Lookahead, AWalkNearTheEndOfAWindowFetchesTheNextPart) {
  Lookahead la({.max_entries = 40, .ttl = 1s, .trigger = 1});
  auto t0 = Clock::now();
  auto r = la.Lookup(7, Name(0), t0);
  la.Fill(7, r.fetch_token, Listing(2, 82), /*to_end=*/false, t0);  // 40 names, f00002..f00080
  EXPECT_EQ(la.Lookup(7, Name(10), t0).fetch_token, 0u);
  auto near = la.Lookup(7, Name(76), t0);  // two names left
  EXPECT_EQ(near.answer, Answer::kFound);
  ASSERT_NE(near.fetch_token, 0u);
  EXPECT_EQ(near.fetch_from, Name(80));
  EXPECT_EQ(la.Lookup(7, Name(78), t0).fetch_token, 0u);  // one fetch at a time
  la.FetchFailed(7, near.fetch_token);
  EXPECT_NE(la.Lookup(7, Name(80), t0).fetch_token, 0u);  // a failed one may be tried again
}

TEST(Lookahead, StaleFillsAndUnboundedGrowthAreRefused) {
  Lookahead la({.max_entries = 4, .ttl = 1s, .trigger = 1, .max_dirs = 2});
  auto t0 = Clock::now();
  auto r = la.Lookup(7, Name(0), t0);
  la.Forget(7);
  la.Fill(7, r.fetch_token, Listing(2, 10), /*to_end=*/true, t0);
  EXPECT_EQ(la.Lookup(7, Name(2), t0).answer,
            Answer::kUnknown);  // the fill was for a forgotten dir
  // A to-the-end window that this mount's creates keep growing gives up its low end.
  r = la.Lookup(9, Name(0), t0);
  la.Fill(9, r.fetch_token, {}, /*to_end=*/true, t0);
  for (int i = 1; i <= 20; ++i) la.Added(9, Name(i), Ino(i));
  EXPECT_EQ(la.Lookup(9, Name(20), t0).answer, Answer::kFound);
  EXPECT_EQ(la.Lookup(9, Name(1), t0).answer, Answer::kUnknown);
  // At most max_dirs directories are tracked.
  la.Lookup(10, Name(0), t0 + 1ms);
  la.Lookup(11, Name(0), t0 + 2ms);
  EXPECT_EQ(la.Lookup(9, Name(20), t0 + 3ms).answer, Answer::kUnknown);
}

}  // namespace
}  // namespace hf3fs::fuse
