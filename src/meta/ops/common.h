// Helpers shared by the ops: new inodes, link-count changes, idempotent transactions.
#pragma once

#include <string_view>
#include <vector>

#include "kv/engine.h"
#include "meta.pb.h"
#include "meta/ops/ops.h"
#include "meta/ops/path.h"
#include "meta/store/meta_store.h"

namespace hf3fs::meta {

// A new inode of `type` created by `user` in `dir`: owner = user; group = user's gid, or dir's
// gid when dir is setgid (new directories then inherit the setgid bit); setgid on a non-directory
// is dropped when the caller is neither in its group nor root (Linux inode_init_owner). `umask`
// clears permission bits unless `dir` has a default ACL, which replaces it (as on Linux).
Inode NewInode(OpContext& ctx, InodeId id, InodeType type, uint32_t mode, const UserInfo& user,
               const Inode& dir, uint32_t umask = 0);

// Checks that a new entry may be added to `p.dir`: the last component is a name (EEXIST for
// "/", "." and ".."), it is absent (EEXIST), the directory still exists and the caller may write
// and search it (EACCES).
Status CheckCanAddEntry(const UserInfo& user, const ParentLookup& p);

// Checks that `victim` may be removed from (or renamed out of) `dir`: write+search permission
// (EACCES) and the sticky bit (EPERM).
Status CheckCanRemoveEntry(const UserInfo& user, const Inode& dir, const Inode& victim);

// Drops one link of `victim` (its entry is cleared by the caller): nlink - 1 and ctime; at 0 a
// file is queued for garbage collection (its chunks and any open readers outlive the entry); any
// other inode is deleted with its xattrs. Directories are deleted (nlink is not counted).
Status DropLink(OpContext& ctx, kv::Transaction& txn, Inode victim);

// Quota accounting of an inode entering (EDQUOT past a limit) or leaving the namespace.
Status ChargeNewInode(kv::Transaction& txn, const Inode& inode);
Status UnchargeInode(kv::Transaction& txn, const Inode& inode);

// Queues `inode` (nlink 0) for background deletion: `GCQ_` entry.
Status EnqueueGc(OpContext& ctx, kv::Transaction& txn, const Inode& inode);

// Allocates an inode id, keeping it across transaction attempts (an aborted attempt leaves the
// id unused; ids are never handed out twice).
Result<InodeId> AllocateOnce(OpContext& ctx, std::optional<InodeId>& id);

// Runs `fn` as one transaction, deduplicated by `ids` (client id 0: not deduplicated): a request
// whose (client id, request id) already committed gets the stored reply and nothing is done again;
// otherwise the reply of a successful `fn` is stored in the same transaction.
// `prefetch`: keys `fn` reads first, read ahead together with the idempotency record (one round
// trip on PostgreSQL).
template <typename Rsp, typename Fn>
Result<Rsp> RunIdempotent(OpContext& ctx, const RequestIds& ids, MetaMethod method, Fn&& fn,
                          std::vector<std::string> prefetch = {}) {
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<Rsp> {
    std::string key;
    if (ids.client_id() != 0) {
      key = store::IdempotencyKey(ids.client_id(), ids.request_id());
      std::vector<std::string> keys = prefetch;
      keys.push_back(key);
      HF3FS_TRY(txn.Prefetch(keys));
      HF3FS_TRY_ASSIGN(auto rec, store::Get<IdempotencyRecord>(txn, key));
      if (rec) {
        Rsp rsp;
        if (rec->method() != static_cast<uint32_t>(method) || !rsp.ParseFromString(rec->reply())) {
          return MakeStatus(StatusCode::kMetaInvalid,
                            "request id {} of client {} was used by another request",
                            ids.request_id(), ids.client_id());
        }
        return rsp;
      }
    }
    HF3FS_TRY_ASSIGN(Rsp rsp, fn(txn));
    if (!key.empty()) {
      IdempotencyRecord rec;
      rec.set_created_ns(ctx.now_ns());
      rec.set_method(method);
      rec.set_reply(rsp.SerializeAsString());
      HF3FS_TRY(store::Put(txn, key, rec));
    }
    return rsp;
  });
}

}  // namespace hf3fs::meta

namespace hf3fs::meta {
// The name of the directory in the root that holds every user's trash directory.
inline constexpr std::string_view kTrashDirName = ".hf3fs-trash";

// Moves `victim` (entry `p.name` of `p.dir`) into the caller's trash directory
// /.hf3fs-trash/<uid> (both created on first use; ids from `ids`, allocated once) and records it
// for restore and for the trash cleaner (trash.cc). EBUSY for the trash directories themselves.
Status MoveToTrash(OpContext& ctx, kv::Transaction& txn, const UserInfo& user,
                   const ParentLookup& p, Inode victim, std::vector<InodeId>& ids);

// Opens the existing `inode` with Linux `flags` (open.cc): EISDIR for a directory opened for
// writing or truncation, ENOTDIR for O_DIRECTORY on a non-directory, ELOOP for a symlink,
// EACCES without the access the mode asks for. O_TRUNC empties a regular file (truncate version
// + 1); a write open of a regular file adds a write session for `client_id`.
Result<OpenRsp> OpenInode(OpContext& ctx, kv::Transaction& txn, const UserInfo& user, Inode inode,
                          uint32_t flags, uint64_t client_id);
}  // namespace hf3fs::meta
