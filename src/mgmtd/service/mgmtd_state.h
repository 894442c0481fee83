// mgmtd's soft state: what heartbeats told the primary, whether this process is primary, and the
// cached routing info. Thread-safe (one mutex); nothing here is durable.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "common/ids.h"
#include "mgmtd.pb.h"
#include "mgmtd/chain_state.h"

namespace hf3fs::mgmtd {

using Clock = std::chrono::steady_clock;

struct NodeSoftState {
  uint64_t heartbeat_version = 0;
  Clock::time_point last_heartbeat{};
  uint64_t last_heartbeat_unix_ms = 0;
  HeartbeatReq last;  // the last accepted heartbeat (address, targets, ...)
};

class MgmtdState {
 public:
  // Records an accepted heartbeat.
  void RecordHeartbeat(NodeId node, const HeartbeatReq& req, uint64_t now_unix_ms);
  // The last heartbeat version seen from `node` (0 if none).
  uint64_t HeartbeatVersion(NodeId node) const;
  std::optional<NodeSoftState> Node(NodeId node) const;
  // Alive = heartbeat within `timeout`.
  bool Alive(NodeId node, Clock::duration timeout) const;
  std::set<NodeId> AliveNodes(Clock::duration timeout) const;
  void Forget(NodeId node);

  // Primary status, valid until `valid_until` (the lease's end by this process's clock, measured
  // from before the renewal started). SetPrimary(true) on a transition starts the bootstrapping
  // window.
  void SetPrimary(bool primary, uint64_t term, Clock::duration bootstrap,
                  Clock::time_point valid_until = Clock::time_point::max());
  bool IsPrimary() const;
  bool Bootstrapping() const;

  // Liveness last published in routing info (to detect changes that bump the version).
  bool LivenessChanged(const std::set<NodeId>& alive) const;
  void SetPublishedLiveness(std::set<NodeId> alive);

  // Routing info cache, valid for one routing version.
  std::shared_ptr<const RoutingInfo> CachedRouting(uint64_t version) const;
  void CacheRouting(std::shared_ptr<const RoutingInfo> info);

 private:
  mutable std::mutex mu_;
  std::unordered_map<NodeId, NodeSoftState> nodes_;
  bool primary_ = false;
  uint64_t term_ = 0;
  Clock::time_point bootstrap_until_{};
  Clock::time_point valid_until_{};
  std::set<NodeId> published_alive_;
  bool published_once_ = false;
  std::shared_ptr<const RoutingInfo> routing_;
  Clock::time_point routing_built_{};
};

}  // namespace hf3fs::mgmtd
