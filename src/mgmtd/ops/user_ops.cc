// Users and their tokens.
#include <fcntl.h>
#include <unistd.h>

#include "mgmtd/ops/ops.h"
#include "mgmtd/store/mgmtd_store.h"

namespace hf3fs::mgmtd {
namespace {

// 32 hex characters from the kernel's CSPRNG.
Result<std::string> NewToken() {
  unsigned char buf[16];
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, buf, sizeof buf) != sizeof buf) {
    if (fd >= 0) close(fd);
    return Status(StatusCode::kIoError, "cannot read /dev/urandom");
  }
  close(fd);
  std::string out;
  for (unsigned char c : buf) out += fmt::format("{:02x}", c);
  return out;
}

Result<UserRecord> RequireUser(kv::Transaction& txn, uint32_t uid) {
  HF3FS_TRY_ASSIGN(auto u, store::Get<UserRecord>(txn, store::UserKey(uid)));
  if (!u) {
    return MakeStatus(StatusCode::kMgmtdUserNotFound,
                      "user {} does not exist: add it with `hf3fs admin user-add {} <name>`", uid,
                      uid);
  }
  return *u;
}

}  // namespace

Result<AddUserRsp> AddUser(OpContext& ctx, const AddUserReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  if (req.name().empty()) return Status(StatusCode::kInvalidArgument, "the user needs a name");
  HF3FS_TRY_ASSIGN(auto token, NewToken());
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<AddUserRsp> {
    HF3FS_TRY_ASSIGN(auto old, store::Get<UserRecord>(txn, store::UserKey(req.uid())));
    if (old) {
      return MakeStatus(StatusCode::kAlreadyExists, "user {} exists (name {})", req.uid(),
                        old->name());
    }
    UserRecord u;
    u.set_uid(req.uid());
    u.set_name(req.name());
    *u.mutable_gids() = req.gids();
    u.set_admin(req.admin());
    auto* t = u.add_tokens();
    t->set_token(token);
    t->set_expires_unix_ms(req.token_ttl_ms() ? ctx.now_unix_ms() + req.token_ttl_ms() : 0);
    HF3FS_TRY(store::Put(txn, store::UserKey(req.uid()), u));
    AddUserRsp rsp;
    rsp.set_token(token);
    return rsp;
  });
}

Result<RemoveUserRsp> RemoveUser(OpContext& ctx, const RemoveUserReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<RemoveUserRsp> {
    HF3FS_TRY(RequireUser(txn, req.uid()));
    HF3FS_TRY(txn.Clear(store::UserKey(req.uid())));
    return RemoveUserRsp();
  });
}

Result<ListUsersRsp> ListUsers(OpContext& ctx, const ListUsersReq&) {
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<ListUsersRsp> {
    HF3FS_TRY_ASSIGN(auto users, store::List<UserRecord>(txn, store::UserPrefix(), true));
    ListUsersRsp rsp;
    for (auto& u : users) {
      for (auto& t : *u.mutable_tokens()) t.set_token("<redacted>");
      *rsp.add_users() = std::move(u);
    }
    return rsp;
  });
}

Result<SetUserTokenRsp> SetUserToken(OpContext& ctx, const SetUserTokenReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  HF3FS_TRY_ASSIGN(auto token, NewToken());
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<SetUserTokenRsp> {
    HF3FS_TRY_ASSIGN(auto u, RequireUser(txn, req.uid()));
    uint64_t now = ctx.now_unix_ms();
    // Old tokens stay valid for old_token_ttl_ms (a grace period for rotation), then expire.
    UserRecord out = u;
    out.clear_tokens();
    for (const auto& t : u.tokens()) {
      uint64_t exp = req.old_token_ttl_ms() ? now + req.old_token_ttl_ms() : now;
      if (t.expires_unix_ms() != 0) exp = std::min<uint64_t>(exp, t.expires_unix_ms());
      if (exp > now) {
        auto* k = out.add_tokens();
        k->set_token(t.token());
        k->set_expires_unix_ms(exp);
      }
    }
    auto* t = out.add_tokens();
    t->set_token(token);
    t->set_expires_unix_ms(req.token_ttl_ms() ? now + req.token_ttl_ms() : 0);
    HF3FS_TRY(store::Put(txn, store::UserKey(req.uid()), out));
    SetUserTokenRsp rsp;
    rsp.set_token(token);
    return rsp;
  });
}

}  // namespace hf3fs::mgmtd
