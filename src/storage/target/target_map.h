// TargetMap: the targets this storage node serves, the disks (chunk engines) they live on, the
// node's routing view, and each target's local state (design 0006, "Local state machine").
//
// Which targets are local comes from routing info (targets whose node is this node); each names
// the disk index it lives on. Local states:
//   OFFLINE   from process start until routing shows the target not SERVING (restart protocol:
//             mgmtd must take a returning replica out of SERVING before it rejoins), or its disk
//             failed, or its disk index is not configured here.
//   UPTODATE  routing shows it SERVING, or SYNCING with sync-done received for exactly the
//             current chain version.
//   ONLINE    otherwise.
// Thread-safe: routing updates, request checks and heartbeats may come from any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "chunk/chunk_engine.h"
#include "client/routing_view.h"
#include "common/ids.h"
#include "mgmtd.pb.h"

namespace hf3fs::storage {

// What a request handler needs of the local target of one chain, as of one routing view.
struct LocalTarget {
  TargetId id;
  uint32_t disk = 0;
  chunk::ChunkEngine* engine = nullptr;
  std::shared_ptr<const client::RoutingView> view;
  const mgmtd::ChainRecord* chain = nullptr;  // points into *view
  mgmtd::PublicTargetState public_state = mgmtd::PUBLIC_STATE_UNSPECIFIED;
  mgmtd::LocalTargetState local_state = mgmtd::LOCAL_OFFLINE;
};

class TargetMap {
 public:
  // `engines[i]` is disk i (null: the disk could not be opened).
  TargetMap(NodeId self, std::vector<std::unique_ptr<chunk::ChunkEngine>> engines);

  NodeId self() const { return self_; }
  size_t disks() const { return engines_.size(); }
  chunk::ChunkEngine* engine(size_t disk) const { return engines_[disk].get(); }

  // Installs a newer routing view and recomputes local states.
  void OnRouting(std::shared_ptr<const client::RoutingView> view);
  std::shared_ptr<const client::RoutingView> view() const;

  // The local target of `chain` as of the current view: kTargetNotFound when the chain is unknown
  // or has no target on this node.
  Result<LocalTarget> ForChain(ChainId chain) const;
  // The local target `target`: kTargetNotFound when it is not on this node.
  Result<LocalTarget> ForTarget(TargetId target) const;
  // Every local target (heartbeats, resync, admin).
  std::vector<LocalTarget> All() const;

  // Sync-done from the predecessor for `target` under `chain_version`. kChainVersionMismatch when
  // the current view has another version (the resync must run again), kTargetNotServing when the
  // target is not SYNCING.
  Status SyncDone(TargetId target, ChainVersion chain_version);

 private:
  struct State {
    bool boot_done = false;
    ChainVersion synced_version;  // sync-done received under this chain version
  };
  LocalTarget Describe(const mgmtd::TargetInfo& t) const;  // requires mu_

  const NodeId self_;
  std::vector<std::unique_ptr<chunk::ChunkEngine>> engines_;
  mutable std::mutex mu_;
  std::shared_ptr<const client::RoutingView> view_;
  mutable std::map<uint64_t, State> states_;
};

}  // namespace hf3fs::storage
