// Batch stat by inode ids (no permission check: like the kernel's getattr on an inode the caller
// already holds) and by paths (each path resolved with the caller's permissions).
#include "meta/ops/common.h"

namespace hf3fs::meta {

Result<BatchStatRsp> BatchStat(OpContext& ctx, const BatchStatReq& req) {
  return kv::RunTransaction(
      ctx.engine, ctx.retry,
      [&](kv::Transaction& txn) -> Result<BatchStatRsp> {
        BatchStatRsp rsp;
        for (uint64_t id : req.inode_ids()) {
          HF3FS_TRY_ASSIGN(auto inode, store::GetInode(txn, InodeId(id), /*snapshot=*/true));
          *rsp.add_inodes() = inode ? std::move(*inode) : Inode();
        }
        return rsp;
      },
      kv::TxnOptions{.read_only = true});
}

Result<BatchStatByPathRsp> BatchStatByPath(OpContext& ctx, const BatchStatByPathReq& req) {
  return kv::RunTransaction(
      ctx.engine, ctx.retry,
      [&](kv::Transaction& txn) -> Result<BatchStatByPathRsp> {
        BatchStatByPathRsp rsp;
        for (const auto& path : req.paths()) {
          Resolver r(txn, req.user(), ctx.limits);
          auto inode = r.Resolve(path, req.follow());
          auto* out = rsp.add_results();
          if (inode.ok()) {
            *out->mutable_inode() = std::move(*inode);
          } else if (inode.status().code() >= StatusCode::kMetaNotFound &&
                     inode.status().code() <= StatusCode::kMetaNotInitialized) {
            out->set_status_code(static_cast<uint32_t>(inode.status().code()));
          } else {
            return inode.status();  // KV failures fail the whole batch (and are retried)
          }
        }
        return rsp;
      },
      kv::TxnOptions{.read_only = true});
}

}  // namespace hf3fs::meta
