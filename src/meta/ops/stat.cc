// stat / lstat: read-only resolution of one path (by inode: an empty path at that inode).
#include "meta/ops/common.h"

namespace hf3fs::meta {

Result<StatRsp> Stat(OpContext& ctx, const StatReq& req) {
  return kv::RunTransaction(
      ctx.engine, ctx.retry,
      [&](kv::Transaction& txn) -> Result<StatRsp> {
        Resolver r(txn, req.user(), ctx.limits);
        StatRsp rsp;
        HF3FS_TRY_ASSIGN(*rsp.mutable_inode(), r.Resolve(req.path(), req.follow()));
        return rsp;
      },
      kv::TxnOptions{.read_only = true});
}

}  // namespace hf3fs::meta
