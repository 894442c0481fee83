// Read-only steps the service runs before an op that needs storage (docs/design/0005-meta.md,
// "Storage access"): which file a truncating request would cut, and an inode by id. They change
// nothing; the op that follows re-checks everything in its own transaction.
#include "meta/ops/common.h"
#include "meta/permission.h"

namespace hf3fs::meta {

namespace {
// Namespace errors (ENOENT, EACCES, ...) are the op's to report; anything else (the KV store) is
// a failure of the plan itself.
bool IsNamespaceError(const Status& st) {
  auto n = static_cast<uint32_t>(st.code());
  return n >= static_cast<uint32_t>(StatusCode::kMetaNotFound) && n < 6000;
}
}  // namespace

Result<std::optional<Inode>> PlanTruncate(OpContext& ctx, const UserInfo& user,
                                          const PathAt& path, bool follow, uint64_t new_length) {
  return kv::RunTransaction(
      ctx.engine, ctx.retry,
      [&](kv::Transaction& txn) -> Result<std::optional<Inode>> {
        Resolver r(txn, user, ctx.limits);
        auto inode = r.Resolve(path, follow);
        if (!inode.ok()) {
          if (IsNamespaceError(inode.status())) return std::optional<Inode>();
          return inode.status();
        }
        if (inode->type() != INODE_FILE || inode->layout().chain_table_id() == 0) {
          return std::optional<Inode>();
        }
        if (!CheckAccess(user, *inode, kMayWrite).ok()) return std::optional<Inode>();
        bool cut = new_length < inode->length();
        if (!cut) {  // a writer may have stored chunks past the length it has not reported yet
          auto sp = store::SessionPrefix(InodeId(inode->id()));
          HF3FS_TRY_ASSIGN(auto s, txn.SnapshotGetRange(sp, kv::PrefixEnd(sp), 1));
          cut = !s.kvs.empty();
        }
        if (!cut) return std::optional<Inode>();
        return std::optional<Inode>(std::move(*inode));
      },
      kv::TxnOptions{.read_only = true});
}

Result<std::optional<Inode>> LoadInode(OpContext& ctx, InodeId id) {
  return kv::RunTransaction(
      ctx.engine, ctx.retry,
      [&](kv::Transaction& txn) -> Result<std::optional<Inode>> {
        return store::GetInode(txn, id, /*snapshot=*/true);
      },
      kv::TxnOptions{.read_only = true});
}

}  // namespace hf3fs::meta
