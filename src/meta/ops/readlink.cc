// readlink: the target of a symlink (EINVAL for anything else).
#include "meta/ops/common.h"

namespace hf3fs::meta {

Result<ReadlinkRsp> Readlink(OpContext& ctx, const ReadlinkReq& req) {
  return kv::RunTransaction(
      ctx.engine, ctx.retry,
      [&](kv::Transaction& txn) -> Result<ReadlinkRsp> {
        Resolver r(txn, req.user(), ctx.limits);
        HF3FS_TRY_ASSIGN(auto inode, r.Resolve(req.path(), false));
        if (inode.type() != INODE_SYMLINK) {
          return MakeStatus(StatusCode::kMetaInvalid, "inode {} is not a symlink", inode.id());
        }
        ReadlinkRsp rsp;
        rsp.set_target(inode.symlink_target());
        return rsp;
      },
      kv::TxnOptions{.read_only = true});
}

}  // namespace hf3fs::meta
