// Cluster initialization and node membership.
#include <algorithm>

#include "common/logging.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/store/mgmtd_store.h"

namespace hf3fs::mgmtd {
namespace {

const char* TypeName(NodeType t) {
  switch (t) {
    case NODE_MGMTD: return "mgmtd";
    case NODE_META: return "meta";
    case NODE_STORAGE: return "storage";
    case NODE_CLIENT: return "client";
    case NODE_FUSE: return "fuse";
    default: return "unknown";
  }
}

Result<NodeRecord> RequireNode(kv::Transaction& txn, uint32_t node_id) {
  HF3FS_TRY_ASSIGN(auto n, store::Get<NodeRecord>(txn, store::NodeKey(NodeId(node_id))));
  if (!n) {
    return MakeStatus(StatusCode::kMgmtdNodeNotFound,
                      "node {} is not registered: run `hf3fs admin register-node {} <type>`",
                      node_id, node_id);
  }
  return *n;
}

}  // namespace

Result<InitClusterRsp> InitCluster(OpContext& ctx, const InitClusterReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  if (req.cluster_id().empty()) {
    return Status(StatusCode::kInvalidArgument, "the cluster id must not be empty");
  }
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<InitClusterRsp> {
    HF3FS_TRY_ASSIGN(auto c, store::Get<ClusterRecord>(txn, store::ClusterKey()));
    if (c) {
      if (c->cluster_id() == req.cluster_id()) return InitClusterRsp();  // idempotent
      return MakeStatus(StatusCode::kAlreadyExists,
                        "the cluster is already initialized with id '{}'", c->cluster_id());
    }
    ClusterRecord rec;
    rec.set_cluster_id(req.cluster_id());
    rec.set_created_unix_ms(ctx.now_unix_ms());
    HF3FS_TRY(store::Put(txn, store::ClusterKey(), rec));
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    return InitClusterRsp();
  });
}

Result<RegisterNodeRsp> RegisterNode(OpContext& ctx, const RegisterNodeReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  if (req.node_id() == 0) return Status(StatusCode::kInvalidArgument, "node id 0 is reserved");
  if (req.type() == NODE_TYPE_UNSPECIFIED) {
    return Status(StatusCode::kInvalidArgument,
                  "give the node type: mgmtd, meta, storage, client or fuse");
  }
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<RegisterNodeRsp> {
    HF3FS_TRY(store::RequireCluster(txn));
    HF3FS_TRY_ASSIGN(auto n, store::Get<NodeRecord>(txn, store::NodeKey(NodeId(req.node_id()))));
    if (n) {
      if (n->type() == req.type()) return RegisterNodeRsp();  // idempotent
      return MakeStatus(StatusCode::kMgmtdNodeExists, "node {} is already registered as {}",
                        req.node_id(), TypeName(n->type()));
    }
    NodeRecord rec;
    rec.set_node_id(req.node_id());
    rec.set_type(req.type());
    rec.set_enabled(true);
    *rec.mutable_tags() = req.tags();
    rec.set_registered_unix_ms(ctx.now_unix_ms());
    HF3FS_TRY(store::Put(txn, store::NodeKey(NodeId(req.node_id())), rec));
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    return RegisterNodeRsp();
  });
}

Result<UnregisterNodeRsp> UnregisterNode(OpContext& ctx, const UnregisterNodeReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  auto r = kv::RunTransaction(ctx.engine, ctx.retry,
                              [&](kv::Transaction& txn) -> Result<UnregisterNodeRsp> {
    HF3FS_TRY(RequireNode(txn, req.node_id()));
    HF3FS_TRY_ASSIGN(auto targets, store::List<TargetRecord>(txn, store::TargetPrefix()));
    for (const auto& t : targets) {
      if (t.node_id() == req.node_id()) {
        return MakeStatus(StatusCode::kFailedPrecondition,
                          "node {} still has target {}: move it out of its chain and remove it "
                          "first",
                          req.node_id(), t.target_id());
      }
    }
    HF3FS_TRY(txn.Clear(store::NodeKey(NodeId(req.node_id()))));
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    return UnregisterNodeRsp();
  });
  if (r.ok()) ctx.state.Forget(NodeId(req.node_id()));
  return r;
}

Result<SetNodeEnabledRsp> SetNodeEnabled(OpContext& ctx, const SetNodeEnabledReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<SetNodeEnabledRsp> {
    HF3FS_TRY_ASSIGN(auto n, RequireNode(txn, req.node_id()));
    if (n.enabled() == req.enabled()) return SetNodeEnabledRsp();
    n.set_enabled(req.enabled());
    HF3FS_TRY(store::Put(txn, store::NodeKey(NodeId(req.node_id())), n));
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    return SetNodeEnabledRsp();
  });
}

Result<SetNodeTagsRsp> SetNodeTags(OpContext& ctx, const SetNodeTagsReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<SetNodeTagsRsp> {
    HF3FS_TRY_ASSIGN(auto n, RequireNode(txn, req.node_id()));
    std::vector<Tag> tags(n.tags().begin(), n.tags().end());
    auto find = [&](const std::string& k) {
      return std::find_if(tags.begin(), tags.end(), [&](const Tag& t) { return t.key() == k; });
    };
    switch (req.mode()) {
      case TAG_REPLACE:
        tags.assign(req.tags().begin(), req.tags().end());
        break;
      case TAG_UPSERT:
        for (const auto& t : req.tags()) {
          auto it = find(t.key());
          if (it == tags.end()) {
            tags.push_back(t);
          } else {
            *it = t;
          }
        }
        break;
      case TAG_REMOVE:
        for (const auto& t : req.tags()) {
          auto it = find(t.key());
          if (it != tags.end()) tags.erase(it);
        }
        break;
      default:
        return Status(StatusCode::kInvalidArgument, "unknown tag mode");
    }
    n.clear_tags();
    for (auto& t : tags) *n.add_tags() = t;
    HF3FS_TRY(store::Put(txn, store::NodeKey(NodeId(req.node_id())), n));
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    SetNodeTagsRsp rsp;
    *rsp.mutable_tags() = n.tags();
    return rsp;
  });
}

Result<ListNodesRsp> ListNodes(OpContext& ctx, const ListNodesReq&) {
  // Node states come from heartbeats, which only the primary receives: a standby would report
  // every node as failed.
  HF3FS_TRY(CheckPrimary(ctx));
  HF3FS_TRY_ASSIGN(auto info, BuildRoutingInfo(ctx));
  ListNodesRsp rsp;
  *rsp.mutable_nodes() = info->nodes();
  return rsp;
}

}  // namespace hf3fs::mgmtd
