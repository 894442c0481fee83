// Client sessions: how meta tells live clients from dead ones.
#include "common/logging.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/store/mgmtd_store.h"

namespace hf3fs::mgmtd {
namespace {
uint64_t TimeoutMs(OpContext& ctx) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             ctx.config.client_session_timeout.Get())
      .count();
}
}  // namespace

Result<ExtendClientSessionRsp> ExtendClientSession(OpContext& ctx,
                                                   const ExtendClientSessionReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  if (req.client_id() == 0) return Status(StatusCode::kInvalidArgument, "client id 0 is reserved");
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<ExtendClientSessionRsp> {
    HF3FS_TRY(store::RequireCluster(txn));
    auto key = store::SessionKey(ClientId(req.client_id()));
    HF3FS_TRY_ASSIGN(auto old, store::Get<ClientSessionRecord>(txn, key));
    ClientSessionRecord rec = old.value_or(ClientSessionRecord());
    uint64_t now = ctx.now_unix_ms();
    if (!old) rec.set_start_unix_ms(now);
    rec.set_client_id(req.client_id());
    rec.set_hostname(req.hostname());
    rec.set_description(req.description());
    rec.set_last_extend_unix_ms(now);
    HF3FS_TRY(store::Put(txn, key, rec));
    ExtendClientSessionRsp rsp;
    rsp.set_session_timeout_ms(TimeoutMs(ctx));
    auto prefix = store::ConfigPrefix(NODE_CLIENT);
    HF3FS_TRY_ASSIGN(auto last, txn.SnapshotGetRange(prefix, kv::PrefixEnd(prefix), 1, true));
    if (!last.kvs.empty()) {
      ConfigRecord cfg;
      if (cfg.ParseFromString(last.kvs[0].value) && cfg.version() > req.config_version()) {
        *rsp.mutable_config() = cfg;
      }
    }
    return rsp;
  });
}

Result<ListClientSessionsRsp> ListClientSessions(OpContext& ctx, const ListClientSessionsReq&) {
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<ListClientSessionsRsp> {
    HF3FS_TRY_ASSIGN(auto sessions,
                     store::List<ClientSessionRecord>(txn, store::SessionPrefix(), true));
    ListClientSessionsRsp rsp;
    uint64_t now = ctx.now_unix_ms(), timeout = TimeoutMs(ctx);
    for (auto& s : sessions) {
      if (s.last_extend_unix_ms() + timeout > now) *rsp.add_sessions() = std::move(s);
    }
    rsp.set_session_timeout_ms(timeout);
    rsp.set_now_unix_ms(now);
    return rsp;
  });
}

Result<uint32_t> ExpireClientSessions(OpContext& ctx) {
  if (!ctx.state.IsPrimary()) return uint32_t{0};
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<uint32_t> {
    HF3FS_TRY_ASSIGN(auto sessions, store::List<ClientSessionRecord>(txn, store::SessionPrefix()));
    uint64_t now = ctx.now_unix_ms(), timeout = TimeoutMs(ctx);
    uint32_t n = 0;
    for (const auto& s : sessions) {
      if (s.last_extend_unix_ms() + timeout > now) continue;
      HF3FS_TRY(txn.Clear(store::SessionKey(ClientId(s.client_id()))));
      HF3FS_LOG_INFO("mgmtd.client_session_expired client={} host={}", s.client_id(),
                     s.hostname());
      ++n;
    }
    return n;
  });
}

}  // namespace hf3fs::mgmtd
