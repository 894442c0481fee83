// Balanced placement of targets and chains (ARCHITECTURE.md 3.5).
//
// Given N storage nodes with D disks each, T targets per disk and replication R, produces N*D*T
// targets and N*D*T/R chains of R targets on R distinct nodes, such that every pair of nodes shares
// about the same number of chains: when a node fails, its chains' reads and recovery spread evenly
// over all other nodes. Deterministic for a given input (own PRNG, no std::shuffle).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/status.h"

namespace hf3fs::mgmtd {

struct PlacementRequest {
  std::vector<NodeId> nodes;  // storage node ids
  uint32_t disks_per_node = 1;
  uint32_t targets_per_disk = 1;
  uint32_t replicas = 3;
  ChainId first_chain_id{1};
  uint64_t seed = 1;
};

struct PlacedTarget {
  TargetId id;
  NodeId node;
  uint32_t disk_index = 0;
};

struct PlacedChain {
  ChainId id;
  std::vector<TargetId> targets;  // initial (preferred) order; heads spread over nodes
};

struct Placement {
  std::vector<PlacedTarget> targets;
  std::vector<PlacedChain> chains;
  uint32_t min_pair_chains = 0;  // over all node pairs: chains they share
  uint32_t max_pair_chains = 0;
};

// kInvalidArgument when R > N, R == 0, or N*D*T is not a multiple of R.
Result<Placement> GeneratePlacement(const PlacementRequest& request);

// Target ids are derived from the node and disk so they read well in listings:
// node * 100000 + disk * 1000 + index (index < 1000, disk < 100).
TargetId MakeTargetId(NodeId node, uint32_t disk, uint32_t index);

}  // namespace hf3fs::mgmtd
