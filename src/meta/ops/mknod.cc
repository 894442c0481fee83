// mknod: fifos, sockets and devices (devices need root, EPERM otherwise, as CAP_MKNOD). Regular
// files go through create; directories through mkdir (EINVAL here, like Linux's mknod(S_IFDIR)).
#include "meta/ops/common.h"
#include "meta/permission.h"

namespace hf3fs::meta {

namespace {
Status CheckType(const MknodReq& req) {
  switch (req.type()) {
    case INODE_FIFO:
    case INODE_SOCKET:
      return Status::Ok();
    case INODE_CHAR_DEVICE:
    case INODE_BLOCK_DEVICE:
      if (IsRoot(req.user())) return Status::Ok();
      return Status(StatusCode::kMetaNotPermitted, "only root creates device nodes");
    default:
      return MakeStatus(StatusCode::kMetaInvalid, "mknod cannot create inodes of type {}",
                        static_cast<int>(req.type()));
  }
}
}  // namespace

Result<MknodRsp> Mknod(OpContext& ctx, const MknodReq& req) {
  std::optional<InodeId> id;
  return RunIdempotent<MknodRsp>(
      ctx, req.ids(), META_MKNOD,
      [&](kv::Transaction& txn) -> Result<MknodRsp> {
        Resolver r(txn, req.user(), ctx.limits);
        HF3FS_TRY_ASSIGN(auto p, r.Parent(req.path()));
        HF3FS_TRY(CheckCanAddEntry(req.user(), p));
        HF3FS_TRY(CheckType(req));
        HF3FS_TRY_ASSIGN(InodeId new_id, AllocateOnce(ctx, id));
        Inode inode = NewInode(ctx, new_id, req.type(), req.mode(), req.user(), p.dir, req.umask());
        if (req.type() == INODE_CHAR_DEVICE || req.type() == INODE_BLOCK_DEVICE) {
          inode.set_rdev(req.rdev());
        }
        HF3FS_TRY(ChargeNewInode(txn, inode));
        HF3FS_TRY(store::PutInode(txn, inode));
        HF3FS_TRY(store::PutEntry(txn, InodeId(p.dir.id()), p.name, inode));
        MknodRsp rsp;
        *rsp.mutable_inode() = std::move(inode);
        *rsp.mutable_parent() = p.dir;
        return rsp;
      },
      PrefetchKeys(req.path()));
}

}  // namespace hf3fs::meta
