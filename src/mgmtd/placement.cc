#include "mgmtd/placement.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

namespace hf3fs::mgmtd {
namespace {

// splitmix64: a tiny, portable PRNG so placements are identical everywhere.
struct Rng {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

}  // namespace

TargetId MakeTargetId(NodeId node, uint32_t disk, uint32_t index) {
  return TargetId(uint64_t{node.value()} * 100000 + uint64_t{disk} * 1000 + index);
}

Result<Placement> GeneratePlacement(const PlacementRequest& req) {
  const size_t n = req.nodes.size();
  if (req.replicas == 0 || req.replicas > n) {
    return MakeStatus(StatusCode::kInvalidArgument,
                      "replicas must be between 1 and the number of nodes ({}), got {}", n,
                      req.replicas);
  }
  if (req.disks_per_node == 0 || req.disks_per_node >= 100 || req.targets_per_disk == 0 ||
      req.targets_per_disk >= 1000) {
    return Status(StatusCode::kInvalidArgument,
                  "disks per node must be 1..99 and targets per disk 1..999");
  }
  std::set<NodeId> unique(req.nodes.begin(), req.nodes.end());
  if (unique.size() != n) return Status(StatusCode::kInvalidArgument, "node ids repeat");
  uint64_t total = uint64_t{n} * req.disks_per_node * req.targets_per_disk;
  if (total % req.replicas != 0) {
    return MakeStatus(StatusCode::kInvalidArgument,
                      "{} nodes x {} disks x {} targets = {} targets, not a multiple of {} "
                      "replicas: change the targets per disk",
                      n, req.disks_per_node, req.targets_per_disk, total, req.replicas);
  }
  Placement out;
  // Free targets per node, per disk (handed out round-robin over disks).
  std::vector<std::vector<std::vector<TargetId>>> free(n);
  for (size_t i = 0; i < n; ++i) {
    free[i].resize(req.disks_per_node);
    for (uint32_t d = 0; d < req.disks_per_node; ++d) {
      for (uint32_t t = 0; t < req.targets_per_disk; ++t) {
        auto id = MakeTargetId(req.nodes[i], d, t + 1);
        free[i][d].push_back(id);
        out.targets.push_back({id, req.nodes[i], d});
      }
    }
  }
  std::vector<size_t> remaining(n, uint64_t{req.disks_per_node} * req.targets_per_disk);
  std::vector<size_t> next_disk(n, 0);
  std::vector<std::vector<uint32_t>> pair(n, std::vector<uint32_t>(n, 0));
  std::vector<uint32_t> heads(n, 0);
  Rng rng{req.seed};
  const uint64_t chains = total / req.replicas;
  for (uint64_t c = 0; c < chains; ++c) {
    // Greedy: repeatedly add the node that adds the fewest shared-chain pairs, preferring nodes
    // with more free targets (so none is left over at the end), ties broken by the PRNG.
    std::vector<size_t> chosen;
    while (chosen.size() < req.replicas) {
      size_t best = n;
      std::tuple<uint64_t, int64_t, uint64_t> best_key{};
      for (size_t i = 0; i < n; ++i) {
        if (remaining[i] == 0 ||
            std::find(chosen.begin(), chosen.end(), i) != chosen.end()) {
          continue;
        }
        uint64_t cost = 0;
        for (size_t j : chosen) cost += pair[i][j];
        std::tuple<uint64_t, int64_t, uint64_t> key{cost, -static_cast<int64_t>(remaining[i]),
                                                    rng.Next()};
        if (best == n || key < best_key) {
          best = i;
          best_key = key;
        }
      }
      if (best == n) {
        return Status(StatusCode::kInternal, "placement ran out of nodes with free targets");
      }
      chosen.push_back(best);
    }
    // Spread heads: the node that has been head least often goes first.
    std::stable_sort(chosen.begin(), chosen.end(),
                     [&](size_t a, size_t b) { return heads[a] < heads[b]; });
    heads[chosen[0]]++;
    PlacedChain pc{ChainId(req.first_chain_id.value() + static_cast<uint32_t>(c)), {}};
    for (size_t i : chosen) {
      for (size_t j : chosen) {
        if (i != j) pair[i][j]++;
      }
      // Take from the disk with the most free targets, round-robin among equals.
      size_t disk = next_disk[i];
      for (size_t k = 0; k < req.disks_per_node; ++k) {
        size_t d = (next_disk[i] + k) % req.disks_per_node;
        if (free[i][d].size() > free[i][disk].size()) disk = d;
      }
      next_disk[i] = (disk + 1) % req.disks_per_node;
      pc.targets.push_back(free[i][disk].front());
      free[i][disk].erase(free[i][disk].begin());
      remaining[i]--;
    }
    out.chains.push_back(std::move(pc));
  }
  out.min_pair_chains = std::numeric_limits<uint32_t>::max();
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      out.min_pair_chains = std::min(out.min_pair_chains, pair[i][j]);
      out.max_pair_chains = std::max(out.max_pair_chains, pair[i][j]);
    }
  }
  if (n < 2) out.min_pair_chains = out.max_pair_chains = 0;
  return out;
}

}  // namespace hf3fs::mgmtd
