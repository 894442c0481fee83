// setattr: chmod, chown, utimes, truncate and layout in one transaction on one inode, with the
// permission rules of Linux's setattr_prepare (docs/design/0005-meta.md). Any change sets ctime.
#include "meta/acl.h"
#include "meta/ops/common.h"
#include "meta/permission.h"
#include "meta/quota.h"

namespace hf3fs::meta {

namespace {

Status ApplyChown(const SetAttrReq& req, Inode& inode) {
  const UserInfo& u = req.user();
  uint32_t uid = req.has_uid() ? req.uid() : inode.uid();
  uint32_t gid = req.has_gid() ? req.gid() : inode.gid();
  if (!IsRoot(u)) {
    if (uid != inode.uid()) return Status(StatusCode::kMetaNotPermitted, "only root changes uid");
    if (gid != inode.gid() && (u.uid() != inode.uid() || !InGroup(u, gid))) {
      return MakeStatus(StatusCode::kMetaNotPermitted, "uid {} may not give the file to gid {}",
                        u.uid(), gid);
    }
    if (u.uid() != inode.uid() && (req.has_uid() || req.has_gid())) {
      return Status(StatusCode::kMetaNotPermitted, "only the owner changes the group");
    }
  }
  inode.set_uid(uid);
  inode.set_gid(gid);
  if (inode.type() != INODE_DIRECTORY) {
    uint32_t mode = inode.mode() & ~kSetUid;
    if (mode & 010) mode &= ~kSetGid;  // setgid without group exec is not a privilege
    inode.set_mode(mode);
  }
  return Status::Ok();
}

// `mode_before`: the mode before this request (a truncate in the same request may have cleared
// setuid/setgid already).
Status ApplyChmod(const SetAttrReq& req, Inode& inode, uint32_t mode_before) {
  if (!IsOwnerOrRoot(req.user(), inode)) {
    // What the kernel sends when someone else writes to or truncates a setuid/setgid file: the
    // mode with only those bits cleared. Linux clears them with its own privilege; any writer
    // may drop them here.
    uint32_t old_mode = mode_before & 07777, new_mode = req.mode() & 07777;
    constexpr uint32_t kPrivileged = kSetUid | kSetGid;
    bool only_drops_privilege = new_mode != old_mode && (new_mode & ~old_mode) == 0 &&
                                (new_mode & ~kPrivileged) == (old_mode & ~kPrivileged);
    if (only_drops_privilege && inode.type() == INODE_FILE) {
      HF3FS_TRY(CheckAccess(req.user(), inode, kMayWrite));
      inode.set_mode(new_mode);
      return Status::Ok();
    }
    return Status(StatusCode::kMetaNotPermitted, "only the owner changes the mode");
  }
  uint32_t mode = req.mode() & 07777;
  if (!IsRoot(req.user()) && !InGroup(req.user(), inode.gid())) mode &= ~kSetGid;
  inode.set_mode(mode);
  if (!inode.acl_access().empty()) {  // the ACL's owner, mask and other follow the mode
    HF3FS_TRY_ASSIGN(auto parsed, acl::Parse(inode.acl_access()));
    acl::ApplyMode(parsed, mode);
    inode.set_acl_access(acl::Serialize(parsed));
  }
  return Status::Ok();
}

Status ApplyTimes(OpContext& ctx, const SetAttrReq& req, Inode& inode) {
  bool explicit_time = req.atime() == TIME_SET || req.mtime() == TIME_SET;
  if (!IsOwnerOrRoot(req.user(), inode)) {
    if (explicit_time) return Status(StatusCode::kMetaNotPermitted, "only the owner sets times");
    HF3FS_TRY(CheckAccess(req.user(), inode, kMayWrite));
  }
  int64_t now = ctx.now_ns();
  if (req.atime() != TIME_UNCHANGED) {
    inode.set_atime_ns(req.atime() == TIME_NOW ? now : req.atime_ns());
  }
  if (req.mtime() != TIME_UNCHANGED) {
    inode.set_mtime_ns(req.mtime() == TIME_NOW ? now : req.mtime_ns());
  }
  return Status::Ok();
}

Status ApplyTruncate(OpContext& ctx, kv::Transaction& txn, const SetAttrReq& req, Inode& inode) {
  if (inode.type() == INODE_DIRECTORY) {
    return MakeStatus(StatusCode::kMetaIsDirectory, "inode {} is a directory", inode.id());
  }
  if (inode.type() != INODE_FILE) {
    return MakeStatus(StatusCode::kMetaInvalid, "inode {} is not a regular file", inode.id());
  }
  bool through_open_file = false;
  if (req.session_id() != 0) {
    HF3FS_TRY_ASSIGN(auto session,
                     txn.Get(store::SessionKey(InodeId(inode.id()), req.session_id())));
    through_open_file = session.has_value();
  }
  if (!through_open_file) HF3FS_TRY(CheckAccess(req.user(), inode, kMayWrite));
  int64_t delta = static_cast<int64_t>(req.length()) - static_cast<int64_t>(inode.length());
  HF3FS_TRY(quota::Charge(txn, inode.quota_dirs(), delta, 0, /*enforce=*/delta > 0));
  inode.set_length(req.length());
  inode.set_truncate_version(inode.truncate_version() + 1);
  inode.set_mtime_ns(ctx.now_ns());
  inode.set_mode(inode.mode() & ~kSetUid & ~((inode.mode() & 010) ? kSetGid : 0));
  return Status::Ok();
}

Status ApplyLayout(OpContext& ctx, const SetAttrReq& req, Inode& inode) {
  if (!IsOwnerOrRoot(req.user(), inode)) {
    return Status(StatusCode::kMetaNotPermitted, "only the owner changes the layout");
  }
  HF3FS_TRY(ValidateLayout(req.layout()));
  if (inode.type() == INODE_DIRECTORY) {
    *inode.mutable_default_layout() = req.layout();
    return Status::Ok();
  }
  if (inode.type() != INODE_FILE || inode.length() != 0) {
    return MakeStatus(StatusCode::kMetaInvalid, "inode {} is not an empty file", inode.id());
  }
  *inode.mutable_layout() = ctx.chains.Instantiate(req.layout());
  return Status::Ok();
}

}  // namespace

Result<SetAttrRsp> SetAttr(OpContext& ctx, const SetAttrReq& req) {
  if (!TimeSet_IsValid(req.atime()) || !TimeSet_IsValid(req.mtime())) {
    // An unknown value would set the time it carries while skipping the owner check that
    // TIME_SET gets.
    return MakeStatus(StatusCode::kMetaInvalid, "unknown time setting {}/{}",
                      static_cast<int>(req.atime()), static_cast<int>(req.mtime()));
  }
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<SetAttrRsp> {
    Resolver r(txn, req.user(), ctx.limits);
    HF3FS_TRY_ASSIGN(auto inode, r.Resolve(req.path(), req.follow()));
    const uint32_t mode_before = inode.mode();
    if (req.has_length()) HF3FS_TRY(ApplyTruncate(ctx, txn, req, inode));
    if (req.has_uid() || req.has_gid()) HF3FS_TRY(ApplyChown(req, inode));
    if (req.has_mode()) HF3FS_TRY(ApplyChmod(req, inode, mode_before));
    if (req.atime() != TIME_UNCHANGED || req.mtime() != TIME_UNCHANGED) {
      HF3FS_TRY(ApplyTimes(ctx, req, inode));
    }
    if (req.layout().chain_table_id() != 0) HF3FS_TRY(ApplyLayout(ctx, req, inode));
    inode.set_ctime_ns(ctx.now_ns());
    HF3FS_TRY(store::PutInode(txn, inode));
    SetAttrRsp rsp;
    *rsp.mutable_inode() = std::move(inode);
    return rsp;
  });
}

}  // namespace hf3fs::meta
