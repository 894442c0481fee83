#include <chrono>
#include <random>

#include "common/logging.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/store/mgmtd_store.h"

namespace hf3fs::mgmtd {

uint64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status CheckPrimary(OpContext& ctx) {
  if (ctx.state.IsPrimary()) return Status::Ok();
  auto lease = kv::RunTransaction(ctx.engine, ctx.retry,
                                  [&](kv::Transaction& txn) -> Result<std::optional<LeaseRecord>> {
                                    return store::Get<LeaseRecord>(txn, store::LeaseKey(), true);
                                  });
  std::string where = "no mgmtd holds the lease yet; retry shortly";
  if (lease.ok() && *lease && (*lease)->expires_unix_ms() > ctx.now_unix_ms()) {
    where = fmt::format("the primary is node {} at {}", (*lease)->node_id(), (*lease)->address());
  }
  return MakeStatus(StatusCode::kMgmtdNotPrimary, "this mgmtd is a standby: {}", where);
}

Status CheckAdmin(OpContext& ctx, const std::string& token) {
  if (!ctx.config.auth_required.Get()) return Status::Ok();
  if (token.empty()) {
    return Status(StatusCode::kMgmtdAuthFailed,
                  "this cluster requires a token: pass --token or set HF3FS_TOKEN");
  }
  auto users = kv::RunTransaction(ctx.engine, ctx.retry,
                                  [&](kv::Transaction& txn) -> Result<std::vector<UserRecord>> {
                                    return store::List<UserRecord>(txn, store::UserPrefix(), true);
                                  });
  if (!users.ok()) return users.status();
  uint64_t now = ctx.now_unix_ms();
  for (const auto& u : *users) {
    for (const auto& t : u.tokens()) {
      if (t.token() != token) continue;
      if (t.expires_unix_ms() != 0 && t.expires_unix_ms() <= now) {
        return MakeStatus(StatusCode::kMgmtdAuthFailed,
                          "the token of user {} has expired: ask an admin for a new one "
                          "(`hf3fs admin user-set-token {}`)",
                          u.name(), u.uid());
      }
      if (!u.admin()) {
        return MakeStatus(StatusCode::kMgmtdAuthFailed, "user {} is not an admin", u.name());
      }
      return Status::Ok();
    }
  }
  return Status(StatusCode::kMgmtdAuthFailed, "invalid token");
}

Chain ToChain(const ChainRecord& r) {
  Chain c{ChainId(r.chain_id()), ChainVersion(r.version()), {}};
  for (const auto& t : r.targets()) {
    c.targets.push_back({TargetId(t.target_id()), static_cast<PublicState>(t.state())});
  }
  return c;
}

ChainRecord ToRecord(const Chain& c, const ChainRecord& base) {
  ChainRecord r = base;
  r.set_chain_id(c.id.value());
  r.set_version(c.version.value());
  r.clear_targets();
  for (const auto& t : c.targets) {
    auto* ct = r.add_targets();
    ct->set_target_id(t.id.value());
    ct->set_state(static_cast<PublicTargetState>(t.state));
  }
  return r;
}

}  // namespace hf3fs::mgmtd
