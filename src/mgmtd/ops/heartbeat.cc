// Heartbeats: the primary's only source of liveness and target local states.
#include <cstdlib>

#include "common/logging.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/store/mgmtd_store.h"

namespace hf3fs::mgmtd {

Result<HeartbeatRsp> Heartbeat(OpContext& ctx, const HeartbeatReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  uint64_t now = ctx.now_unix_ms();
  auto skew_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     ctx.config.max_clock_skew.Get())
                     .count();
  int64_t diff = static_cast<int64_t>(req.sent_unix_ms()) - static_cast<int64_t>(now);
  if (std::llabs(diff) > skew_ms) {
    return MakeStatus(StatusCode::kMgmtdClockSkew,
                      "node {}'s clock is {} ms away from mgmtd's (limit {} ms): fix its time "
                      "synchronization",
                      req.node_id(), diff, skew_ms);
  }
  uint64_t seen = ctx.state.HeartbeatVersion(NodeId(req.node_id()));
  if (req.heartbeat_version() <= seen) {
    return MakeStatus(StatusCode::kMgmtdStaleHeartbeat,
                      "heartbeat version {} from node {} is not newer than {}",
                      req.heartbeat_version(), req.node_id(), seen);
  }
  auto rsp = kv::RunTransaction(ctx.engine, ctx.retry,
                                [&](kv::Transaction& txn) -> Result<HeartbeatRsp> {
    HF3FS_TRY_ASSIGN(auto cluster, store::RequireCluster(txn));
    if (!req.cluster_id().empty() && req.cluster_id() != cluster.cluster_id()) {
      return MakeStatus(StatusCode::kInvalidArgument,
                        "node {} is configured for cluster '{}' but this mgmtd serves cluster "
                        "'{}': check the node's cluster_id and mgmtd addresses",
                        req.node_id(), req.cluster_id(), cluster.cluster_id());
    }
    HF3FS_TRY_ASSIGN(auto n, store::Get<NodeRecord>(txn, store::NodeKey(NodeId(req.node_id())),
                                                    true));
    if (!n) {
      if (!ctx.config.allow_auto_register.Get()) {
        return MakeStatus(StatusCode::kMgmtdNodeNotFound,
                          "node {} is not registered: run `hf3fs admin register-node {} <type>`",
                          req.node_id(), req.node_id());
      }
      NodeRecord rec;
      rec.set_node_id(req.node_id());
      rec.set_type(req.type());
      rec.set_enabled(true);
      rec.set_registered_unix_ms(now);
      HF3FS_TRY(store::Put(txn, store::NodeKey(NodeId(req.node_id())), rec));
      HF3FS_TRY(store::BumpRoutingVersion(txn));
      n = rec;
      HF3FS_LOG_INFO("mgmtd.node_auto_registered node={} type={}", req.node_id(),
                     static_cast<int>(req.type()));
    }
    if (n->type() != req.type()) {
      return MakeStatus(StatusCode::kMgmtdWrongNodeType,
                        "node {} is registered with type {}, but heartbeats as type {}",
                        req.node_id(), static_cast<int>(n->type()),
                        static_cast<int>(req.type()));
    }
    if (!n->enabled()) {
      return MakeStatus(StatusCode::kMgmtdNodeDisabled,
                        "node {} is disabled: run `hf3fs admin enable-node {}`", req.node_id(),
                        req.node_id());
    }
    HeartbeatRsp out;
    HF3FS_TRY_ASSIGN(uint64_t version, store::GetRoutingVersion(txn, true));
    out.set_routing_version(version);
    auto latest = txn.SnapshotGetRange(store::ConfigPrefix(req.type()),
                                       kv::PrefixEnd(store::ConfigPrefix(req.type())), 1, true);
    if (!latest.ok()) return latest.status();
    if (!latest->kvs.empty()) {
      ConfigRecord cfg;
      if (cfg.ParseFromString(latest->kvs[0].value) && cfg.version() > req.config_version()) {
        *out.mutable_config() = cfg;
      }
    }
    return out;
  });
  if (!rsp.ok()) return rsp;
  ctx.state.RecordHeartbeat(NodeId(req.node_id()), req, now);
  return rsp;
}

}  // namespace hf3fs::mgmtd
