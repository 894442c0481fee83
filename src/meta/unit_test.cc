// The inode-id allocator, layouts and the shuffle, and permission rules in isolation.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "kv/kv_test_util.h"
#include "meta/layout.h"
#include "meta/permission.h"
#include "meta/store/inode_allocator.h"

namespace hf3fs::meta {
namespace {

using kv::test::TempDir;

TEST(InodeAllocator, IdsAreUniqueAcrossAllocatorsThreadsAndRestarts) {
  TempDir dir;
  std::set<uint64_t> seen;
  for (int restart = 0; restart < 3; ++restart) {
    auto engine = kv::OpenRocksDbEngine(kv::RocksDbEngineOptions{.path = dir.path + "/db"});
    ASSERT_TRUE(engine.ok()) << engine.status();
    kv::RetryOptions retry;
    retry.max_attempts = 100000;
    InodeAllocator a(**engine, retry), b(**engine, retry);
    std::vector<std::vector<uint64_t>> got(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        auto& alloc = t % 2 ? a : b;
        for (int i = 0; i < 3000; ++i) {
          auto id = alloc.Allocate();
          if (!id.ok()) return;
          got[t].push_back(id->value());
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& ids : got) {
      ASSERT_EQ(ids.size(), 3000u);
      for (uint64_t id : ids) {
        EXPECT_GE(id, InodeAllocator::kFirstId);
        EXPECT_TRUE(seen.insert(id).second) << "id " << id << " handed out twice";
      }
    }
  }
  EXPECT_EQ(seen.size(), 3u * 4 * 3000);
}

TEST(Shuffle, IsAFixedPermutation) {
  // Fixed outputs: a change here changes where every existing file's chunks live.
  EXPECT_EQ(ShufflePermutation(0, 1), std::vector<uint32_t>{0});
  EXPECT_EQ(ShufflePermutation(42, 8), (std::vector<uint32_t>{3, 1, 6, 2, 4, 0, 7, 5}));
  EXPECT_EQ(ShufflePermutation(7, 5), (std::vector<uint32_t>{4, 1, 3, 0, 2}));
  uint64_t state = 1;
  EXPECT_EQ(SplitMix64(state), 0x910a2dec89025cc1ull);  // the published SplitMix64 sequence
  EXPECT_EQ(SplitMix64(state), 0xbeeb8da1658eec67ull);
  EXPECT_NE(ShufflePermutation(42, 8), ShufflePermutation(43, 8));
  for (uint32_t n : {1u, 2u, 3u, 7u, 64u, 1000u}) {
    for (uint64_t seed : {0ull, 1ull, 0xdeadbeefull}) {
      auto perm = ShufflePermutation(seed, n);
      std::set<uint32_t> values(perm.begin(), perm.end());
      EXPECT_EQ(values.size(), n);
      EXPECT_EQ(*values.rbegin(), n - 1);
    }
  }
}

TEST(Layout, ChainOfChunkCyclesThroughTheStripe) {
  Layout l;
  l.set_chain_table_id(1);
  l.set_chunk_size(1 << 20);
  l.set_stripe_size(4);
  l.set_first_chain(6);
  l.set_seed(9);
  std::vector<uint32_t> table = {100, 101, 102, 103, 104, 105, 106, 107};
  std::set<uint32_t> chains;
  for (uint64_t i = 0; i < 4; ++i) chains.insert(*ChainOfChunk(l, table, i));
  EXPECT_EQ(chains, (std::set<uint32_t>{106, 107, 100, 101}));  // 4 chains from index 6, wrapped
  for (uint64_t i = 0; i < 4; ++i)
    EXPECT_EQ(*ChainOfChunk(l, table, i), *ChainOfChunk(l, table, i + 4));
  l.add_chains(7);
  EXPECT_FALSE(ValidateLayout(l).ok());  // explicit list must match the stripe
  l.add_chains(8);
  l.add_chains(9);
  l.add_chains(10);
  ASSERT_TRUE(ValidateLayout(l).ok());
  EXPECT_EQ(*ChainOfChunk(l, table, 5), 8u);
  EXPECT_EQ(ChainOfChunk(Layout(), table, 0).status().errno_value(), EINVAL);
  l.set_chunk_size(1000);
  EXPECT_EQ(ValidateLayout(l).errno_value(), EINVAL);
}

TEST(Permission, LinuxClassesAndRoot) {
  Inode f;
  f.set_type(INODE_FILE);
  f.set_uid(10);
  f.set_gid(20);
  f.set_mode(0604);  // owner rw, group none, other r
  UserInfo owner, member, other, root;
  owner.set_uid(10);
  member.set_uid(11);
  member.set_gid(99);
  member.add_groups(20);
  other.set_uid(12);
  EXPECT_TRUE(CheckAccess(owner, f, kMayRead | kMayWrite).ok());
  // The first matching class decides: the group member gets no access although "other" has read.
  EXPECT_EQ(CheckAccess(member, f, kMayRead).errno_value(), EACCES);
  EXPECT_TRUE(CheckAccess(other, f, kMayRead).ok());
  EXPECT_EQ(CheckAccess(other, f, kMayWrite).errno_value(), EACCES);
  EXPECT_TRUE(CheckAccess(root, f, kMayRead | kMayWrite).ok());
  EXPECT_EQ(CheckAccess(root, f, kMayExec).errno_value(), EACCES);  // no x bit anywhere
  f.set_mode(0001);
  EXPECT_TRUE(CheckAccess(root, f, kMayExec).ok());
  Inode d = f;
  d.set_type(INODE_DIRECTORY);
  d.set_mode(01777);
  EXPECT_TRUE(CheckAccess(root, d, kMayExec).ok());
  EXPECT_EQ(CheckSticky(other, d, f).errno_value(), EPERM);
  EXPECT_TRUE(CheckSticky(owner, d, f).ok());
}

}  // namespace
}  // namespace hf3fs::meta
