// The arithmetic of meta's storage access: which chains hold a file, where a truncate cuts, the
// length a last chunk implies, and statfs from routing info.
#include "meta/storage_ops.h"

#include <gtest/gtest.h>

#include <set>

#include "meta/layout.h"

namespace hf3fs::meta {
namespace {

Layout TableLayout(uint32_t stripe, uint32_t first, uint64_t seed, uint32_t version = 0) {
  Layout l;
  l.set_chain_table_id(7);
  l.set_chain_table_version(version);
  l.set_chunk_size(1 << 20);
  l.set_stripe_size(stripe);
  l.set_first_chain(first);
  l.set_seed(seed);
  return l;
}

TEST(FileChains, AreTheChainsOfTheFirstStripeOfChunks) {
  std::vector<uint32_t> table = {101, 102, 103, 104, 105, 106, 107, 108};
  auto l = TableLayout(4, 6, 42);
  auto chains = FileChains(l, table);
  ASSERT_TRUE(chains.ok()) << chains.status();
  ASSERT_EQ(chains->size(), 4u);
  std::set<uint32_t> expected;
  for (uint64_t i = 0; i < 4; ++i) expected.insert(*ChainOfChunk(l, table, i));
  EXPECT_EQ(std::set<uint32_t>(chains->begin(), chains->end()), expected);
  // Every later chunk lands on one of them.
  for (uint64_t i = 4; i < 100; ++i) EXPECT_TRUE(expected.count(*ChainOfChunk(l, table, i)));
}

TEST(FileChains, AreDistinctWhenTheStripeWrapsAroundTheTable) {
  std::vector<uint32_t> table = {1, 2, 3};
  auto chains = FileChains(TableLayout(3, 2, 9), table);
  ASSERT_TRUE(chains.ok());
  EXPECT_EQ(std::set<uint32_t>(chains->begin(), chains->end()), (std::set<uint32_t>{1, 2, 3}));
  Layout explicit_list = TableLayout(4, 0, 0);
  for (uint32_t c : {5, 9, 5, 9}) explicit_list.add_chains(c);
  chains = FileChains(explicit_list, {});
  ASSERT_TRUE(chains.ok());
  EXPECT_EQ(*chains, (std::vector<uint32_t>{5, 9}));
}

TEST(FileChains, NoLayoutMeansNoChainsAndAnEmptyTableIsAnError) {
  EXPECT_TRUE(FileChains(Layout(), {})->empty());
  EXPECT_EQ(FileChains(TableLayout(2, 0, 1), {}).status().code(), StatusCode::kMetaInvalid);
}

TEST(ChainTableOf, PicksTheLayoutsVersionOrTheNewest) {
  mgmtd::RoutingInfo info;
  for (uint32_t v : {1, 3, 2}) {
    auto* t = info.add_chain_tables();
    t->set_table_id(7);
    t->set_version(v);
    t->add_chain_ids(v * 10);
  }
  EXPECT_EQ(*ChainTableOf(TableLayout(1, 0, 0, 2), info), std::vector<uint32_t>{20});
  EXPECT_EQ(*ChainTableOf(TableLayout(1, 0, 0, 0), info), std::vector<uint32_t>{30});
  EXPECT_EQ(ChainTableOf(TableLayout(1, 0, 0, 4), info).status().code(), StatusCode::kMetaInvalid);
  Layout other = TableLayout(1, 0, 0);
  other.set_chain_table_id(8);
  EXPECT_EQ(ChainTableOf(other, info).status().code(), StatusCode::kMetaInvalid);
}

TEST(CutAt, RemovesWholeChunksPastTheLengthAndCutsThePartialOne) {
  constexpr uint64_t kCs = 1 << 20;
  auto c = CutAt(0, kCs);
  EXPECT_EQ(c.first_removed, 0u);
  EXPECT_FALSE(c.has_partial);
  c = CutAt(kCs, kCs);  // aligned: chunk 0 stays whole
  EXPECT_EQ(c.first_removed, 1u);
  EXPECT_FALSE(c.has_partial);
  c = CutAt(2 * kCs + 5, kCs);
  EXPECT_EQ(c.first_removed, 3u);
  EXPECT_TRUE(c.has_partial);
  EXPECT_EQ(c.partial_index, 2u);
  EXPECT_EQ(c.partial_length, 5u);
  c = CutAt(kCs - 1, kCs);
  EXPECT_EQ(c.first_removed, 1u);
  EXPECT_EQ(c.partial_index, 0u);
  EXPECT_EQ(c.partial_length, kCs - 1);
}

TEST(LengthThrough, IsIndexTimesChunkSizePlusLength) {
  EXPECT_EQ(LengthThrough(0, 0, 1 << 20), 0u);
  EXPECT_EQ(LengthThrough(0, 100, 1 << 20), 100u);
  EXPECT_EQ(LengthThrough(3, 1 << 20, 1 << 20), 4ull << 20);
  EXPECT_EQ(LengthThrough(1ull << 30, 7, 64ull << 20), (1ull << 30) * (64ull << 20) + 7);
}

mgmtd::TargetInfo* AddTarget(mgmtd::RoutingInfo& info, uint32_t node, uint32_t disk, uint64_t used,
                             uint64_t free) {
  auto* t = info.add_targets();
  t->set_target_id(info.targets_size());
  t->set_node_id(node);
  t->set_disk_index(disk);
  t->set_used_bytes(used);
  t->set_free_bytes(free);
  return t;
}

void AddChain(mgmtd::RoutingInfo& info, int replicas) {
  auto* c = info.add_chains();
  c->set_chain_id(info.chains_size());
  for (int i = 0; i < replicas; ++i) c->add_targets()->set_target_id(i + 1);
}

TEST(StatFsFromRouting, CountsFreeSpaceOncePerDiskAndDividesByReplicas) {
  mgmtd::RoutingInfo info;
  // Node 1 disk 0: two targets reporting the same disk's 1000 free and 300 used bytes (the
  // storage node reports its disk's figures for each target on it).
  AddTarget(info, 1, 0, 300, 1000);
  AddTarget(info, 1, 0, 300, 1000);
  // Node 1 disk 1 and node 2 disk 0: separate disks.
  AddTarget(info, 1, 1, 50, 500);
  AddTarget(info, 2, 0, 0, 1500);
  AddChain(info, 2);
  AddChain(info, 2);
  AddChain(info, 3);  // the most common length wins
  auto s = StatFsFromRouting(info);
  EXPECT_EQ(s.free_bytes(), (1000u + 500 + 1500) / 2);
  EXPECT_EQ(s.total_bytes(), (1300u + 550 + 1500) / 2);
  EXPECT_GE(s.total_bytes(), s.free_bytes());
  EXPECT_EQ(s.used_inodes(), 0u);
}

TEST(StatFsFromRouting, EmptyRoutingIsZeroWithoutDividingByZero) {
  mgmtd::RoutingInfo info;
  auto s = StatFsFromRouting(info);
  EXPECT_EQ(s.total_bytes(), 0u);
  AddTarget(info, 1, 0, 10, 90);
  s = StatFsFromRouting(info);  // no chains: one replica
  EXPECT_EQ(s.total_bytes(), 100u);
}

}  // namespace
}  // namespace hf3fs::meta
