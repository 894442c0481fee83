#include "storage/target/target_map.h"

#include "common/logging.h"

namespace hf3fs::storage {

using client::RoutingView;

TargetMap::TargetMap(NodeId self, std::vector<std::unique_ptr<chunk::ChunkEngine>> engines)
    : self_(self), engines_(std::move(engines)) {}

void TargetMap::OnRouting(std::shared_ptr<const RoutingView> view) {
  std::lock_guard lock(mu_);
  if (view_ && view->version() <= view_->version()) return;
  view_ = std::move(view);
  for (const auto& t : view_->info().targets()) {
    if (t.node_id() != self_.value()) continue;
    State& s = states_[t.target_id()];
    const auto* chain = view_->Chain(ChainId(t.chain_id()));
    auto pub = chain ? RoutingView::StateIn(*chain, TargetId(t.target_id()))
                     : mgmtd::PUBLIC_STATE_UNSPECIFIED;
    if (!s.boot_done && pub != mgmtd::SERVING) {
      s.boot_done = true;
      HF3FS_LOG_INFO("storage.target_rejoins target={} chain={} routing_version={}", t.target_id(),
                     t.chain_id(), view_->version());
    }
  }
}

std::shared_ptr<const RoutingView> TargetMap::view() const {
  std::lock_guard lock(mu_);
  return view_;
}

LocalTarget TargetMap::Describe(const mgmtd::TargetInfo& t) const {
  LocalTarget out;
  out.id = TargetId(t.target_id());
  out.disk = t.disk_index();
  out.view = view_;
  out.chain = view_->Chain(ChainId(t.chain_id()));
  if (out.chain) out.public_state = RoutingView::StateIn(*out.chain, out.id);
  if (t.disk_index() < engines_.size()) out.engine = engines_[t.disk_index()].get();
  const State& s = states_[t.target_id()];
  bool disk_ok = out.engine && out.engine->health().ok();
  if (!disk_ok || !s.boot_done) {
    out.local_state = mgmtd::LOCAL_OFFLINE;
  } else if (out.public_state == mgmtd::SERVING ||
             (out.public_state == mgmtd::SYNCING && out.chain &&
              s.synced_version.value() == out.chain->version())) {
    out.local_state = mgmtd::UPTODATE;
  } else {
    out.local_state = mgmtd::ONLINE;
  }
  return out;
}

Result<LocalTarget> TargetMap::ForChain(ChainId chain_id) const {
  std::lock_guard lock(mu_);
  if (!view_) return Status(StatusCode::kUnavailable, "no routing info yet");
  const auto* chain = view_->Chain(chain_id);
  if (!chain) {
    return MakeStatus(StatusCode::kTargetNotFound, "chain {} is not in routing version {}",
                      chain_id, view_->version());
  }
  for (const auto& ct : chain->targets()) {
    const auto* t = view_->Target(TargetId(ct.target_id()));
    if (t && t->node_id() == self_.value()) return Describe(*t);
  }
  return MakeStatus(StatusCode::kTargetNotFound, "chain {} has no target on node {}", chain_id,
                    self_);
}

Result<LocalTarget> TargetMap::ForTarget(TargetId target) const {
  std::lock_guard lock(mu_);
  if (!view_) return Status(StatusCode::kUnavailable, "no routing info yet");
  const auto* t = view_->Target(target);
  if (!t || t->node_id() != self_.value()) {
    return MakeStatus(StatusCode::kTargetNotFound, "target {} is not on node {}", target, self_);
  }
  return Describe(*t);
}

std::vector<LocalTarget> TargetMap::All() const {
  std::lock_guard lock(mu_);
  std::vector<LocalTarget> out;
  if (!view_) return out;
  for (const auto& t : view_->info().targets()) {
    if (t.node_id() == self_.value()) out.push_back(Describe(t));
  }
  return out;
}

Status TargetMap::SyncDone(TargetId target, ChainVersion chain_version) {
  std::lock_guard lock(mu_);
  if (!view_) return Status(StatusCode::kUnavailable, "no routing info yet");
  const auto* t = view_->Target(target);
  if (!t || t->node_id() != self_.value()) {
    return MakeStatus(StatusCode::kTargetNotFound, "target {} is not on node {}", target, self_);
  }
  LocalTarget lt = Describe(*t);
  if (!lt.chain || lt.chain->version() != chain_version.value()) {
    return MakeStatus(StatusCode::kChainVersionMismatch,
                      "sync-done for target {} under chain version {}, but this node sees {}",
                      target, chain_version, lt.chain ? lt.chain->version() : 0);
  }
  if (lt.public_state != mgmtd::SYNCING || lt.local_state == mgmtd::LOCAL_OFFLINE) {
    return MakeStatus(StatusCode::kTargetNotServing, "target {} is not syncing", target);
  }
  states_[target.value()].synced_version = chain_version;
  HF3FS_LOG_INFO("storage.sync_done target={} chain={} chain_version={}", target, t->chain_id(),
                 chain_version);
  return Status::Ok();
}

}  // namespace hf3fs::storage
