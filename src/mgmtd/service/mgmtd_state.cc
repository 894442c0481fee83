#include "mgmtd/service/mgmtd_state.h"

namespace hf3fs::mgmtd {

void MgmtdState::RecordHeartbeat(NodeId node, const HeartbeatReq& req, uint64_t now_unix_ms) {
  std::lock_guard lock(mu_);
  auto& n = nodes_[node];
  n.heartbeat_version = req.heartbeat_version();
  n.last_heartbeat = Clock::now();
  n.last_heartbeat_unix_ms = now_unix_ms;
  n.last = req;
}

uint64_t MgmtdState::HeartbeatVersion(NodeId node) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? 0 : it->second.heartbeat_version;
}

std::optional<NodeSoftState> MgmtdState::Node(NodeId node) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

bool MgmtdState::Alive(NodeId node, Clock::duration timeout) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  return it != nodes_.end() && Clock::now() - it->second.last_heartbeat < timeout;
}

std::set<NodeId> MgmtdState::AliveNodes(Clock::duration timeout) const {
  std::lock_guard lock(mu_);
  std::set<NodeId> out;
  auto now = Clock::now();
  for (auto& [id, n] : nodes_) {
    if (now - n.last_heartbeat < timeout) out.insert(id);
  }
  return out;
}

void MgmtdState::Forget(NodeId node) {
  std::lock_guard lock(mu_);
  nodes_.erase(node);
}

void MgmtdState::SetPrimary(bool primary, uint64_t term, Clock::duration bootstrap,
                            Clock::time_point valid_until) {
  std::lock_guard lock(mu_);
  bool was = primary_ && Clock::now() < valid_until_;
  if (primary && (!was || term != term_)) bootstrap_until_ = Clock::now() + bootstrap;
  primary_ = primary;
  term_ = term;
  valid_until_ = valid_until;
}

bool MgmtdState::IsPrimary() const {
  std::lock_guard lock(mu_);
  return primary_ && Clock::now() < valid_until_;
}

bool MgmtdState::Bootstrapping() const {
  std::lock_guard lock(mu_);
  return primary_ && Clock::now() < bootstrap_until_;
}

bool MgmtdState::LivenessChanged(const std::set<NodeId>& alive) const {
  std::lock_guard lock(mu_);
  return !published_once_ || alive != published_alive_;
}

void MgmtdState::SetPublishedLiveness(std::set<NodeId> alive) {
  std::lock_guard lock(mu_);
  published_alive_ = std::move(alive);
  published_once_ = true;
}

std::shared_ptr<const RoutingInfo> MgmtdState::CachedRouting(uint64_t version) const {
  std::lock_guard lock(mu_);
  // Target local states and space come from heartbeats and change without a version bump;
  // rebuilding at most once a second keeps them fresh enough for listings.
  if (routing_ && routing_->version() == version && Clock::now() - routing_built_ < std::chrono::seconds(1)) {
    return routing_;
  }
  return nullptr;
}

void MgmtdState::CacheRouting(std::shared_ptr<const RoutingInfo> info) {
  std::lock_guard lock(mu_);
  routing_ = std::move(info);
  routing_built_ = Clock::now();
}

}  // namespace hf3fs::mgmtd
