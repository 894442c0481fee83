// Extended attributes: get, set, list, remove, in the user., trusted. (root only) and security.
// namespaces, with Linux's xattr_permission rules. Values live under XATR + inode + name.
// POSIX ACLs are the system.posix_acl_access / system.posix_acl_default attributes; they live in
// the inode (meta/acl.h). Other system.* names: EOPNOTSUPP.
#include "meta/acl.h"
#include "meta/ops/common.h"
#include "meta/permission.h"

namespace hf3fs::meta {

namespace {

constexpr uint32_t kXattrCreate = 1;
constexpr uint32_t kXattrReplace = 2;

bool IsAclName(std::string_view name) {
  return name == acl::kAccessXattr || name == acl::kDefaultXattr;
}

const std::string& AclOf(const Inode& inode, std::string_view name) {
  return name == acl::kAccessXattr ? inode.acl_access() : inode.acl_default();
}

// setxattr / removexattr of an ACL (value empty: remove): owner or root (EPERM), as Linux.
Status SetAcl(OpContext& ctx, kv::Transaction& txn, const UserInfo& user, Inode inode,
              std::string_view name, std::string_view value, uint32_t flags) {
  if (!IsOwnerOrRoot(user, inode)) {
    return Status(StatusCode::kMetaNotPermitted, "only the owner sets ACLs");
  }
  bool present = !AclOf(inode, name).empty();
  if (present && (flags & kXattrCreate)) return Status(StatusCode::kMetaExists, "exists");
  if (!present && (flags & kXattrReplace)) return Status(StatusCode::kMetaNoXattr, "absent");
  HF3FS_TRY(acl::SetOnInode(name, value, inode));
  inode.set_ctime_ns(ctx.now_ns());
  return store::PutInode(txn, inode);
}

Status CheckName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return MakeStatus(StatusCode::kMetaXattrRange, "attribute name of {} bytes", name.size());
  }
  if (name.starts_with("user.") || name.starts_with("trusted.") || name.starts_with("security.") ||
      IsAclName(name)) {
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

Result<GetXattrRsp> GetTxn(OpContext& ctx, kv::Transaction& txn, const GetXattrReq& req) {
  HF3FS_TRY_ASSIGN(auto inode, Target(ctx, txn, req));
  GetXattrRsp rsp;
  if (IsAclName(req.name())) {  // reading an ACL needs no permission beyond the lookup
    if (AclOf(inode, req.name()).empty()) return Status(StatusCode::kMetaNoXattr, "no ACL");
    rsp.set_value(AclOf(inode, req.name()));
    return rsp;
  }
  HF3FS_TRY(CheckPermission(req.user(), inode, req.name(), kMayRead));
  HF3FS_TRY_ASSIGN(auto v, txn.Get(store::XattrKey(InodeId(inode.id()), req.name())));
  if (!v) return Status(StatusCode::kMetaNoXattr, "no such attribute");
  rsp.set_value(std::move(*v));
  return rsp;
}

Result<SetXattrRsp> SetTxn(OpContext& ctx, kv::Transaction& txn, const SetXattrReq& req) {
  HF3FS_TRY_ASSIGN(auto inode, Target(ctx, txn, req));
  if (IsAclName(req.name())) {
    if (req.value().empty()) return Status(StatusCode::kMetaInvalid, "empty ACL");
    HF3FS_TRY(SetAcl(ctx, txn, req.user(), std::move(inode), req.name(), req.value(), req.flags()));
    return SetXattrRsp();
  }
  HF3FS_TRY(CheckPermission(req.user(), inode, req.name(), kMayWrite));
  auto key = store::XattrKey(InodeId(inode.id()), req.name());
  HF3FS_TRY_ASSIGN(auto v, txn.Get(key));
  if (v && (req.flags() & kXattrCreate)) return Status(StatusCode::kMetaExists, "exists");
  if (!v && (req.flags() & kXattrReplace)) return Status(StatusCode::kMetaNoXattr, "absent");
  HF3FS_TRY(txn.Set(key, req.value()));
  inode.set_ctime_ns(ctx.now_ns());
  HF3FS_TRY(store::PutInode(txn, inode));
  return SetXattrRsp();
}

Result<ListXattrRsp> ListTxn(OpContext& ctx, kv::Transaction& txn, const ListXattrReq& req) {
  HF3FS_TRY_ASSIGN(auto inode, Target(ctx, txn, req));
  auto prefix = store::XattrPrefix(InodeId(inode.id()));
  HF3FS_TRY_ASSIGN(auto range, txn.SnapshotGetRange(prefix, kv::PrefixEnd(prefix), 0));
  ListXattrRsp rsp;
  if (!inode.acl_access().empty()) rsp.add_names(std::string(acl::kAccessXattr));
  if (!inode.acl_default().empty()) rsp.add_names(std::string(acl::kDefaultXattr));
  for (const auto& kv : range.kvs) {
    std::string name = kv.key.substr(prefix.size());
    if (name.starts_with("trusted.") && !IsRoot(req.user())) continue;
    rsp.add_names(std::move(name));
  }
  return rsp;
}

Result<RemoveXattrRsp> RemoveTxn(OpContext& ctx, kv::Transaction& txn, const RemoveXattrReq& req) {
  HF3FS_TRY_ASSIGN(auto inode, Target(ctx, txn, req));
  if (IsAclName(req.name())) {
    HF3FS_TRY(SetAcl(ctx, txn, req.user(), std::move(inode), req.name(), "", 0));
    return RemoveXattrRsp();
  }
  HF3FS_TRY(CheckPermission(req.user(), inode, req.name(), kMayWrite));
  auto key = store::XattrKey(InodeId(inode.id()), req.name());
  HF3FS_TRY_ASSIGN(auto v, txn.Get(key));
  if (!v) return Status(StatusCode::kMetaNoXattr, "no such attribute");
  HF3FS_TRY(txn.Clear(key));
  inode.set_ctime_ns(ctx.now_ns());
  HF3FS_TRY(store::PutInode(txn, inode));
  return RemoveXattrRsp();
}

}  // namespace

Result<GetXattrRsp> GetXattr(OpContext& ctx, const GetXattrReq& req) {
  HF3FS_TRY(CheckName(req.name()));
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) { return GetTxn(ctx, txn, req); });
}

Result<SetXattrRsp> SetXattr(OpContext& ctx, const SetXattrReq& req) {
  HF3FS_TRY(CheckName(req.name()));
  if (req.value().size() > ctx.limits.max_xattr_value) {
    return MakeStatus(StatusCode::kMetaXattrTooBig, "attribute value of {} bytes",
                      req.value().size());
  }
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) { return SetTxn(ctx, txn, req); });
}

Result<ListXattrRsp> ListXattr(OpContext& ctx, const ListXattrReq& req) {
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) { return ListTxn(ctx, txn, req); });
}

Result<RemoveXattrRsp> RemoveXattr(OpContext& ctx, const RemoveXattrReq& req) {
  HF3FS_TRY(CheckName(req.name()));
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) { return RemoveTxn(ctx, txn, req); });
}

}  // namespace hf3fs::meta
