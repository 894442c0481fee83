// Extended attributes: get, set, list, remove, in the user., trusted. (root only) and security.
// namespaces, with Linux's xattr_permission rules. Values live under XATR + inode + name.
// system.* (POSIX ACLs) is not served yet: EOPNOTSUPP.
#include "meta/ops/common.h"
#include "meta/permission.h"

namespace hf3fs::meta {

namespace {

constexpr uint32_t kXattrCreate = 1;
constexpr uint32_t kXattrReplace = 2;

Status CheckName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return MakeStatus(StatusCode::kMetaXattrRange, "attribute name of {} bytes", name.size());
  }
  if (name.starts_with("user.") || name.starts_with("trusted.") || name.starts_with("security.")) {
    return Status::Ok();
  }
  return Status(StatusCode::kMetaNotSupported, "unsupported attribute namespace");
}

// Linux xattr_permission: trusted.* needs root; user.* only on files and directories (writes
// EPERM, reads ENODATA elsewhere) and a sticky directory only by its owner; then the access mode.
Status CheckPermission(const UserInfo& user, const Inode& inode, std::string_view name,
                       uint32_t mask) {
  if (name.starts_with("trusted.")) {
    if (IsRoot(user)) return Status::Ok();
    return Status(StatusCode::kMetaNotPermitted, "trusted attributes need root");
  }
  if (name.starts_with("user.")) {
    if (inode.type() != INODE_FILE && inode.type() != INODE_DIRECTORY) {
      if (mask & kMayWrite) {
        return Status(StatusCode::kMetaNotPermitted, "user attributes on a special file");
      }
      return Status(StatusCode::kMetaNoXattr, "no user attributes on special files");
    }
    if (inode.type() == INODE_DIRECTORY && (inode.mode() & kSticky) && (mask & kMayWrite) &&
        !IsOwnerOrRoot(user, inode)) {
      return Status(StatusCode::kMetaNotPermitted, "sticky directory");
    }
  }
  return CheckAccess(user, inode, mask);
}

template <typename Req>
Result<Inode> Target(OpContext& ctx, kv::Transaction& txn, const Req& req) {
  Resolver r(txn, req.user(), ctx.limits);
  return r.Resolve(req.path(), req.follow());
}

}  // namespace

Result<GetXattrRsp> GetXattr(OpContext& ctx, const GetXattrReq& req) {
  HF3FS_TRY(CheckName(req.name()));
  return kv::RunTransaction(
      ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<GetXattrRsp> {
        HF3FS_TRY_ASSIGN(auto inode, Target(ctx, txn, req));
        HF3FS_TRY(CheckPermission(req.user(), inode, req.name(), kMayRead));
        HF3FS_TRY_ASSIGN(auto v, txn.Get(store::XattrKey(InodeId(inode.id()), req.name())));
        if (!v) return Status(StatusCode::kMetaNoXattr, "no such attribute");
        GetXattrRsp rsp;
        rsp.set_value(std::move(*v));
        return rsp;
      });
}

Result<SetXattrRsp> SetXattr(OpContext& ctx, const SetXattrReq& req) {
  HF3FS_TRY(CheckName(req.name()));
  if (req.value().size() > ctx.limits.max_xattr_value) {
    return MakeStatus(StatusCode::kMetaXattrTooBig, "attribute value of {} bytes",
                      req.value().size());
  }
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<SetXattrRsp> {
                              HF3FS_TRY_ASSIGN(auto inode, Target(ctx, txn, req));
                              HF3FS_TRY(CheckPermission(req.user(), inode, req.name(), kMayWrite));
                              auto key = store::XattrKey(InodeId(inode.id()), req.name());
                              HF3FS_TRY_ASSIGN(auto v, txn.Get(key));
                              if (v && (req.flags() & kXattrCreate))
                                return Status(StatusCode::kMetaExists, "exists");
                              if (!v && (req.flags() & kXattrReplace))
                                return Status(StatusCode::kMetaNoXattr, "absent");
                              HF3FS_TRY(txn.Set(key, req.value()));
                              inode.set_ctime_ns(ctx.now_ns());
                              HF3FS_TRY(store::PutInode(txn, inode));
                              return SetXattrRsp();
                            });
}

Result<ListXattrRsp> ListXattr(OpContext& ctx, const ListXattrReq& req) {
  return kv::RunTransaction(
      ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<ListXattrRsp> {
        HF3FS_TRY_ASSIGN(auto inode, Target(ctx, txn, req));
        auto prefix = store::XattrPrefix(InodeId(inode.id()));
        HF3FS_TRY_ASSIGN(auto range, txn.SnapshotGetRange(prefix, kv::PrefixEnd(prefix), 0));
        ListXattrRsp rsp;
        for (const auto& kv : range.kvs) {
          std::string name = kv.key.substr(prefix.size());
          if (name.starts_with("trusted.") && !IsRoot(req.user())) continue;
          rsp.add_names(std::move(name));
        }
        return rsp;
      });
}

Result<RemoveXattrRsp> RemoveXattr(OpContext& ctx, const RemoveXattrReq& req) {
  HF3FS_TRY(CheckName(req.name()));
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<RemoveXattrRsp> {
                              HF3FS_TRY_ASSIGN(auto inode, Target(ctx, txn, req));
                              HF3FS_TRY(CheckPermission(req.user(), inode, req.name(), kMayWrite));
                              auto key = store::XattrKey(InodeId(inode.id()), req.name());
                              HF3FS_TRY_ASSIGN(auto v, txn.Get(key));
                              if (!v) return Status(StatusCode::kMetaNoXattr, "no such attribute");
                              HF3FS_TRY(txn.Clear(key));
                              inode.set_ctime_ns(ctx.now_ns());
                              HF3FS_TRY(store::PutInode(txn, inode));
                              return RemoveXattrRsp();
                            });
}

}  // namespace hf3fs::meta
