// link: a new entry for an existing non-directory inode; nlink + 1 and ctime on the inode.
// The source is not followed when it is a symlink (linkat without AT_SYMLINK_FOLLOW).
#include "meta/ops/common.h"
#include "meta/quota.h"

namespace hf3fs::meta {

Result<LinkRsp> Link(OpContext& ctx, const LinkReq& req) {
  return RunIdempotent<LinkRsp>(
      ctx, req.ids(), META_LINK,
      [&](kv::Transaction& txn) -> Result<LinkRsp> {
        Resolver r(txn, req.user(), ctx.limits);
        HF3FS_TRY_ASSIGN(auto inode, r.Resolve(req.old_path(), false));
        HF3FS_TRY_ASSIGN(auto p, r.Parent(req.new_path()));
        HF3FS_TRY(CheckCanAddEntry(req.user(), p));
        if (inode.type() == INODE_DIRECTORY) {
          return MakeStatus(StatusCode::kMetaNotPermitted, "inode {} is a directory", inode.id());
        }
        if (inode.nlink() == 0) {
          return MakeStatus(StatusCode::kMetaNotFound, "inode {} was removed", inode.id());
        }
        HF3FS_TRY(quota::CheckSameQuota(inode.quota_dirs(), p.dir));
        if (inode.nlink() >= ctx.limits.max_links) {
          return MakeStatus(StatusCode::kMetaTooManyLinks, "inode {} has {} links", inode.id(),
                            inode.nlink());
        }
        inode.set_nlink(inode.nlink() + 1);
        inode.set_ctime_ns(ctx.now_ns());
        HF3FS_TRY(store::PutInode(txn, inode));
        HF3FS_TRY(store::PutEntry(txn, InodeId(p.dir.id()), p.name, inode));
        LinkRsp rsp;
        *rsp.mutable_inode() = std::move(inode);
        *rsp.mutable_parent() = p.dir;
        return rsp;
      },
      PrefetchKeys(req.new_path()));
}

}  // namespace hf3fs::meta
