// symlink: a symlink inode holding the target (not resolved) and its entry. Symlinks are
// created with mode 0777 and their permissions are never checked (as Linux).
#include "meta/ops/common.h"

namespace hf3fs::meta {

Result<SymlinkRsp> Symlink(OpContext& ctx, const SymlinkReq& req) {
  if (req.target().empty()) return Status(StatusCode::kMetaNotFound, "empty symlink target");
  if (req.target().size() >= kMaxPathBytes) {
    return MakeStatus(StatusCode::kMetaNameTooLong, "symlink target of {} bytes",
                      req.target().size());
  }
  std::optional<InodeId> id;
  return RunIdempotent<SymlinkRsp>(
      ctx, req.ids(), META_SYMLINK,
      [&](kv::Transaction& txn) -> Result<SymlinkRsp> {
        Resolver r(txn, req.user(), ctx.limits);
        HF3FS_TRY_ASSIGN(auto p, r.Parent(req.path()));
        HF3FS_TRY(CheckCanAddEntry(req.user(), p));
        HF3FS_TRY_ASSIGN(InodeId new_id, AllocateOnce(ctx, id));
        Inode inode = NewInode(ctx, new_id, INODE_SYMLINK, 0777, req.user(), p.dir);
        inode.set_mode(0777);
        inode.set_symlink_target(req.target());
        inode.set_length(req.target().size());
        HF3FS_TRY(ChargeNewInode(txn, inode));
        HF3FS_TRY(store::PutInode(txn, inode));
        HF3FS_TRY(store::PutEntry(txn, InodeId(p.dir.id()), p.name, inode));
        SymlinkRsp rsp;
        *rsp.mutable_inode() = std::move(inode);
        *rsp.mutable_parent() = p.dir;
        return rsp;
      },
      PrefetchKeys(req.path()));
}

}  // namespace hf3fs::meta
