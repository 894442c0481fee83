// readdir: one page of a directory's entries in name order after the cursor, optionally with each
// child's inode. Needs read permission on the directory (EACCES), ENOTDIR otherwise. Read-only.
#include "meta/ops/common.h"
#include "meta/permission.h"

namespace hf3fs::meta {

Result<ReaddirRsp> Readdir(OpContext& ctx, const ReaddirReq& req) {
  uint32_t limit =
      req.limit() == 0 ? ctx.limits.readdir_default : std::min(req.limit(), ctx.limits.readdir_max);
  return kv::RunTransaction(
      ctx.engine, ctx.retry,
      [&](kv::Transaction& txn) -> Result<ReaddirRsp> {
        Resolver r(txn, req.user(), ctx.limits);
        HF3FS_TRY_ASSIGN(auto dir, r.Resolve(req.path(), true));
        if (dir.type() != INODE_DIRECTORY) {
          return MakeStatus(StatusCode::kMetaNotDirectory, "inode {} is not a directory", dir.id());
        }
        HF3FS_TRY(CheckAccess(req.user(), dir, kMayRead));
        auto prefix = store::EntryPrefix(InodeId(dir.id()));
        auto begin = req.cursor().empty() ? prefix : kv::KeyAfter(prefix + req.cursor());
        HF3FS_TRY_ASSIGN(auto range, txn.SnapshotGetRange(begin, kv::PrefixEnd(prefix), limit));
        ReaddirRsp rsp;
        rsp.set_has_more(range.has_more);
        for (const auto& kv : range.kvs) {
          DirEntry e;
          if (!e.ParseFromString(kv.value)) {
            return Status(StatusCode::kDataCorruption, "directory entry does not parse");
          }
          auto* out = rsp.add_entries();
          out->set_name(std::string(store::NameOfEntryKey(kv.key)));
          out->set_inode_id(e.inode_id());
          out->set_type(e.type());
          if (!req.with_inodes() || (req.inodes_limit() != 0 &&
                                     rsp.entries_size() > static_cast<int>(req.inodes_limit()))) {
            continue;
          }
          HF3FS_TRY_ASSIGN(auto inode, store::GetInode(txn, InodeId(e.inode_id()), true));
          if (inode) *out->mutable_inode() = std::move(*inode);
        }
        return rsp;
      },
      kv::TxnOptions{.read_only = true});
}

}  // namespace hf3fs::meta
