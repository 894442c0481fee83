#include "mgmtd/placement.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace hf3fs::mgmtd {
namespace {

PlacementRequest Req(int nodes, uint32_t disks, uint32_t tpd, uint32_t r) {
  PlacementRequest q;
  for (int i = 0; i < nodes; ++i) q.nodes.push_back(NodeId(10001 + i));
  q.disks_per_node = disks;
  q.targets_per_disk = tpd;
  q.replicas = r;
  return q;
}

void CheckWellFormed(const PlacementRequest& q, const Placement& p) {
  std::map<TargetId, NodeId> node_of;
  for (auto& t : p.targets) node_of[t.id] = t.node;
  ASSERT_EQ(node_of.size(), q.nodes.size() * q.disks_per_node * q.targets_per_disk);
  std::set<TargetId> used;
  for (auto& c : p.chains) {
    ASSERT_EQ(c.targets.size(), q.replicas);
    std::set<NodeId> nodes;
    for (auto t : c.targets) {
      EXPECT_TRUE(used.insert(t).second) << "target in two chains";
      nodes.insert(node_of.at(t));
    }
    EXPECT_EQ(nodes.size(), q.replicas) << "two replicas of a chain on one node";
  }
  EXPECT_EQ(used.size(), node_of.size()) << "every target belongs to a chain";
}

TEST(Placement, EveryTargetInExactlyOneChainOnDistinctNodes) {
  for (auto [n, d, t, r] : std::vector<std::tuple<int, uint32_t, uint32_t, uint32_t>>{
           {3, 1, 1, 3}, {3, 2, 6, 3}, {5, 2, 3, 3}, {6, 4, 9, 3}, {4, 1, 4, 2}, {7, 3, 4, 1}}) {
    auto q = Req(n, d, t, r);
    auto p = GeneratePlacement(q);
    ASSERT_TRUE(p.ok()) << p.status();
    CheckWellFormed(q, *p);
  }
}

TEST(Placement, NodePairsShareAboutTheSameNumberOfChains) {
  // 10 nodes x 2 disks x 9 targets, R=3: 60 chains, 180 pairs over 45 node pairs = 4 each.
  auto p = GeneratePlacement(Req(10, 2, 9, 3));
  ASSERT_TRUE(p.ok());
  EXPECT_GE(p->min_pair_chains, 3u);
  EXPECT_LE(p->max_pair_chains, 5u);
  auto q = GeneratePlacement(Req(6, 4, 10, 3));  // 80 chains, 240 pairs / 15 = 16
  ASSERT_TRUE(q.ok());
  EXPECT_LE(q->max_pair_chains - q->min_pair_chains, 2u)
      << q->min_pair_chains << ".." << q->max_pair_chains;
}

TEST(Placement, HeadsSpreadOverNodes) {
  auto p = GeneratePlacement(Req(5, 1, 6, 3));  // 10 chains over 5 nodes
  ASSERT_TRUE(p.ok());
  std::map<uint64_t, int> heads;
  for (auto& c : p->chains) heads[c.targets[0].value() / 100000]++;
  for (auto& [node, count] : heads) EXPECT_EQ(count, 2) << node;
}

TEST(Placement, DeterministicForASeed) {
  auto a = GeneratePlacement(Req(6, 2, 6, 3));
  auto b = GeneratePlacement(Req(6, 2, 6, 3));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->chains.size(), b->chains.size());
  for (size_t i = 0; i < a->chains.size(); ++i) EXPECT_EQ(a->chains[i].targets, b->chains[i].targets);
}

TEST(Placement, RejectsImpossibleRequests) {
  EXPECT_EQ(GeneratePlacement(Req(2, 1, 1, 3)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GeneratePlacement(Req(4, 1, 1, 3)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GeneratePlacement(Req(3, 1, 1, 0)).status().code(), StatusCode::kInvalidArgument);
  auto dup = Req(3, 1, 1, 3);
  dup.nodes[1] = dup.nodes[0];
  EXPECT_EQ(GeneratePlacement(dup).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hf3fs::mgmtd
