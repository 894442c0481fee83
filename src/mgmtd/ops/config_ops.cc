// Versioned configuration per node type.
#include "mgmtd/ops/ops.h"
#include "mgmtd/store/mgmtd_store.h"

namespace hf3fs::mgmtd {

Result<SetConfigRsp> SetConfig(OpContext& ctx, const SetConfigReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  if (req.node_type() == NODE_TYPE_UNSPECIFIED) {
    return Status(StatusCode::kInvalidArgument, "give the node type the config is for");
  }
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<SetConfigRsp> {
    HF3FS_TRY(store::RequireCluster(txn));
    auto prefix = store::ConfigPrefix(req.node_type());
    HF3FS_TRY_ASSIGN(auto last, txn.GetRange(prefix, kv::PrefixEnd(prefix), 1, true));
    uint64_t version = 1;
    if (!last.kvs.empty()) {
      ConfigRecord prev;
      if (!prev.ParseFromString(last.kvs[0].value)) {
        return Status(StatusCode::kDataCorruption, "config record does not parse");
      }
      version = prev.version() + 1;
    }
    ConfigRecord rec;
    rec.set_node_type(req.node_type());
    rec.set_version(version);
    rec.set_toml(req.toml());
    rec.set_description(req.description());
    rec.set_created_unix_ms(ctx.now_unix_ms());
    HF3FS_TRY(store::Put(txn, store::ConfigKey(req.node_type(), version), rec));
    SetConfigRsp rsp;
    rsp.set_version(version);
    return rsp;
  });
}

Result<GetConfigRsp> GetConfig(OpContext& ctx, const GetConfigReq& req) {
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<GetConfigRsp> {
    GetConfigRsp rsp;
    if (req.version() != 0) {
      HF3FS_TRY_ASSIGN(auto rec, store::Get<ConfigRecord>(
                                     txn, store::ConfigKey(req.node_type(), req.version()), true));
      if (!rec) {
        return MakeStatus(StatusCode::kNotFound, "no config version {} for node type {}",
                          req.version(), static_cast<int>(req.node_type()));
      }
      *rsp.mutable_config() = *rec;
      return rsp;
    }
    auto prefix = store::ConfigPrefix(req.node_type());
    HF3FS_TRY_ASSIGN(auto last, txn.SnapshotGetRange(prefix, kv::PrefixEnd(prefix), 1, true));
    if (!last.kvs.empty() && !rsp.mutable_config()->ParseFromString(last.kvs[0].value)) {
      return Status(StatusCode::kDataCorruption, "config record does not parse");
    }
    return rsp;
  });
}

}  // namespace hf3fs::mgmtd
