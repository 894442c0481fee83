// Routing info: KV records + the primary's soft state, cached per routing version.
#include "mgmtd/ops/ops.h"
#include "mgmtd/store/mgmtd_store.h"

namespace hf3fs::mgmtd {

Result<std::shared_ptr<const RoutingInfo>> BuildRoutingInfo(OpContext& ctx) {
  auto info = std::make_shared<RoutingInfo>();
  auto st = kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Status {
    info->Clear();
    HF3FS_TRY_ASSIGN(uint64_t version, store::GetRoutingVersion(txn, true));
    info->set_version(version);
    HF3FS_TRY_ASSIGN(auto cluster, store::Get<ClusterRecord>(txn, store::ClusterKey(), true));
    if (cluster) info->set_cluster_id(cluster->cluster_id());
    HF3FS_TRY_ASSIGN(auto nodes, store::List<NodeRecord>(txn, store::NodePrefix(), true));
    HF3FS_TRY_ASSIGN(auto targets, store::List<TargetRecord>(txn, store::TargetPrefix(), true));
    HF3FS_TRY_ASSIGN(auto chains, store::List<ChainRecord>(txn, store::ChainPrefix(), true));
    HF3FS_TRY_ASSIGN(auto tables,
                     store::List<ChainTableRecord>(txn, store::ChainTablePrefix(), true));
    auto timeout = ctx.config.heartbeat_timeout.Get();
    for (const auto& n : nodes) {
      auto* ni = info->add_nodes();
      ni->set_node_id(n.node_id());
      ni->set_type(n.type());
      *ni->mutable_tags() = n.tags();
      auto soft = ctx.state.Node(NodeId(n.node_id()));
      bool alive = ctx.state.Alive(NodeId(n.node_id()), timeout);
      ni->set_status(!n.enabled() ? NODE_DISABLED
                     : alive      ? NODE_HEARTBEAT_CONNECTED
                                  : NODE_HEARTBEAT_FAILED);
      if (soft) {
        ni->set_address(soft->last.address());
        ni->set_http_address(soft->last.http_address());
        ni->set_last_heartbeat_unix_ms(soft->last_heartbeat_unix_ms);
      }
    }
    std::map<uint64_t, PublicTargetState> public_state;
    for (const auto& c : chains) {
      for (const auto& t : c.targets()) public_state[t.target_id()] = t.state();
    }
    for (const auto& t : targets) {
      auto* ti = info->add_targets();
      ti->set_target_id(t.target_id());
      ti->set_node_id(t.node_id());
      ti->set_disk_index(t.disk_index());
      ti->set_chain_id(t.chain_id());
      auto ps = public_state.find(t.target_id());
      ti->set_public_state(ps == public_state.end() ? OFFLINE : ps->second);
      ti->set_local_state(LOCAL_OFFLINE);
      if (ctx.state.Alive(NodeId(t.node_id()), timeout)) {
        auto soft = ctx.state.Node(NodeId(t.node_id()));
        for (const auto& th : soft->last.targets()) {
          if (th.target_id() != t.target_id()) continue;
          ti->set_local_state(th.local_state());
          ti->set_used_bytes(th.used_bytes());
          ti->set_free_bytes(th.free_bytes());
        }
      }
    }
    for (auto& c : chains) *info->add_chains() = std::move(c);
    for (auto& t : tables) *info->add_chain_tables() = std::move(t);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  info->set_bootstrapping(ctx.state.Bootstrapping());
  return std::shared_ptr<const RoutingInfo>(std::move(info));
}

Result<GetRoutingInfoRsp> GetRoutingInfo(OpContext& ctx, const GetRoutingInfoReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  auto version = kv::RunTransaction(ctx.engine, ctx.retry,
                                    [&](kv::Transaction& txn) -> Result<uint64_t> {
                                      return store::GetRoutingVersion(txn, true);
                                    });
  if (!version.ok()) return version.status();
  GetRoutingInfoRsp rsp;
  if (req.known_version() != 0 && req.known_version() == *version) {
    rsp.set_unchanged(true);
    return rsp;
  }
  auto cached = ctx.state.CachedRouting(*version);
  if (!cached) {
    HF3FS_TRY_ASSIGN(cached, BuildRoutingInfo(ctx));
    ctx.state.CacheRouting(cached);
  }
  *rsp.mutable_info() = *cached;
  return rsp;
}

Result<GetPrimaryRsp> GetPrimary(OpContext& ctx, const GetPrimaryReq&) {
  auto lease = kv::RunTransaction(ctx.engine, ctx.retry,
                                  [&](kv::Transaction& txn) -> Result<std::optional<LeaseRecord>> {
                                    return store::Get<LeaseRecord>(txn, store::LeaseKey(), true);
                                  });
  if (!lease.ok()) return lease.status();
  GetPrimaryRsp rsp;
  rsp.set_is_primary(ctx.state.IsPrimary());
  if (*lease && (*lease)->expires_unix_ms() > ctx.now_unix_ms()) {
    rsp.set_primary_node_id((*lease)->node_id());
    rsp.set_primary_address((*lease)->address());
    rsp.set_term((*lease)->term());
  }
  return rsp;
}

}  // namespace hf3fs::mgmtd
