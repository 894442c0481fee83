// open: permission and type checks for the access mode, O_TRUNC, write sessions.
#include <fcntl.h>

#include "meta/ops/common.h"
#include "meta/permission.h"
#include "meta/quota.h"

namespace hf3fs::meta {

namespace {
uint32_t AccessMask(uint32_t flags) {
  uint32_t mask = 0;
  switch (flags & O_ACCMODE) {
    case O_RDONLY:
      mask = kMayRead;
      break;
    case O_WRONLY:
      mask = kMayWrite;
      break;
    default:
      mask = kMayRead | kMayWrite;
  }
  if (flags & O_TRUNC) mask |= kMayWrite;
  return mask;
}
}  // namespace

Result<OpenRsp> OpenInode(OpContext& ctx, kv::Transaction& txn, const UserInfo& user, Inode inode,
                          uint32_t flags, uint64_t client_id) {
  bool writes = (flags & O_ACCMODE) != O_RDONLY;
  if (inode.type() == INODE_SYMLINK) {
    return MakeStatus(StatusCode::kMetaTooManySymlinks, "inode {} is a symlink (O_NOFOLLOW)",
                      inode.id());
  }
  if (inode.type() == INODE_DIRECTORY && (writes || (flags & O_TRUNC))) {
    return MakeStatus(StatusCode::kMetaIsDirectory, "inode {} is a directory", inode.id());
  }
  if ((flags & O_DIRECTORY) && inode.type() != INODE_DIRECTORY) {
    return MakeStatus(StatusCode::kMetaNotDirectory, "inode {} is not a directory", inode.id());
  }
  HF3FS_TRY(CheckAccess(user, inode, AccessMask(flags)));
  OpenRsp rsp;
  if (inode.type() == INODE_FILE && (flags & O_TRUNC)) {
    HF3FS_TRY(
        quota::Charge(txn, inode.quota_dirs(), -static_cast<int64_t>(inode.length()), 0, false));
    inode.set_length(0);
    inode.set_truncate_version(inode.truncate_version() + 1);
    inode.set_mtime_ns(ctx.now_ns());
    inode.set_ctime_ns(inode.mtime_ns());
    HF3FS_TRY(store::PutInode(txn, inode));
  }
  if (inode.type() == INODE_FILE && writes) {
    WriteSession s;
    s.set_client_id(client_id);
    s.set_session_id(ctx.new_session_id());
    s.set_opened_ns(ctx.now_ns());
    HF3FS_TRY(store::Put(txn, store::SessionKey(InodeId(inode.id()), s.session_id()), s));
    rsp.set_session_id(s.session_id());
  }
  *rsp.mutable_inode() = std::move(inode);
  return rsp;
}

Result<OpenRsp> Open(OpContext& ctx, const OpenReq& req) {
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<OpenRsp> {
    Resolver r(txn, req.user(), ctx.limits);
    HF3FS_TRY_ASSIGN(auto inode, r.Resolve(req.path(), !(req.flags() & O_NOFOLLOW)));
    return OpenInode(ctx, txn, req.user(), std::move(inode), req.flags(), req.client_id());
  });
}

}  // namespace hf3fs::meta
