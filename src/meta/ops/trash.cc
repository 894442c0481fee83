// Trash: remove-to-trash moves an entry into /.hf3fs-trash/<uid> and records it under
// TRSI + inode (the record) and TRSH + expiry + inode (the cleaner's queue). Restore moves it back
// to where it was; the trash cleaner (background/trash_cleaner.cc) removes expired entries for
// real. Files with other hard links are not trashed (their data lives on through the other links).
#include "meta/ops/common.h"
#include "meta/permission.h"
#include "meta/quota.h"

namespace hf3fs::meta {

namespace {

// The directory `name` in `parent`, created (owned by uid:gid, `mode`) when missing.
Result<Inode> EnsureDir(OpContext& ctx, kv::Transaction& txn, const Inode& parent,
                        const std::string& name, uint32_t mode, const UserInfo& owner,
                        std::vector<InodeId>& ids, size_t& used) {
  HF3FS_TRY_ASSIGN(auto e, store::GetEntry(txn, InodeId(parent.id()), name));
  if (e) {
    HF3FS_TRY_ASSIGN(auto dir, store::GetInode(txn, InodeId(e->inode_id())));
    if (!dir || dir->type() != INODE_DIRECTORY) {
      return MakeStatus(StatusCode::kMetaNotDirectory, "'{}' is not a directory", name);
    }
    return std::move(*dir);
  }
  if (used == ids.size()) {
    HF3FS_TRY_ASSIGN(auto fresh, ctx.inodes.Allocate());
    ids.push_back(fresh);
  }
  Inode dir = NewInode(ctx, ids[used++], INODE_DIRECTORY, mode, owner, parent);
  dir.set_mode(mode);
  dir.set_parent(parent.id());
  dir.set_name(name);
  HF3FS_TRY(ChargeNewInode(txn, dir));
  HF3FS_TRY(store::PutInode(txn, dir));
  HF3FS_TRY(store::PutEntry(txn, InodeId(parent.id()), name, dir));
  return dir;
}

Status MoveEntry(OpContext& ctx, kv::Transaction& txn, Inode& inode, uint64_t from_dir,
                 const std::string& from_name, uint64_t to_dir, const std::string& to_name) {
  HF3FS_TRY(txn.Clear(store::EntryKey(InodeId(from_dir), from_name)));
  if (inode.type() == INODE_DIRECTORY) {
    inode.set_parent(to_dir);
    inode.set_name(to_name);
  }
  inode.set_ctime_ns(ctx.now_ns());
  HF3FS_TRY(store::PutInode(txn, inode));
  return store::PutEntry(txn, InodeId(to_dir), to_name, inode);
}

}  // namespace

Status MoveToTrash(OpContext& ctx, kv::Transaction& txn, const UserInfo& user,
                   const ParentLookup& p, Inode victim, std::vector<InodeId>& ids) {
  HF3FS_TRY_ASSIGN(auto root, store::GetInode(txn, kRootInodeId));
  if (!root) return Status(StatusCode::kMetaNotInitialized, "no root");
  size_t used = 0;
  UserInfo root_user;
  HF3FS_TRY_ASSIGN(auto trash, EnsureDir(ctx, txn, *root, std::string(kTrashDirName), 0755,
                                         root_user, ids, used));
  HF3FS_TRY_ASSIGN(auto mine,
                   EnsureDir(ctx, txn, trash, std::to_string(user.uid()), 0700, user, ids, used));
  if (victim.id() == trash.id() || victim.id() == mine.id() || p.dir.id() == mine.id()) {
    return Status(StatusCode::kMetaBusy, "the trash cannot be moved to the trash");
  }
  int64_t now = ctx.now_ns();
  TrashEntry t;
  t.set_inode_id(victim.id());
  t.set_uid(user.uid());
  t.set_original_parent(p.dir.id());
  t.set_original_name(p.name);
  t.set_trash_dir(mine.id());
  t.set_trash_name(fmt::format("{}.{}.{}", p.name.substr(0, 200), victim.id(), now / 1000000));
  t.set_removed_ns(now);
  t.set_expires_ns(now + ctx.limits.trash_expiry.count());
  t.set_type(victim.type());
  HF3FS_TRY(MoveEntry(ctx, txn, victim, p.dir.id(), p.name, mine.id(), t.trash_name()));
  HF3FS_TRY(store::Put(txn, store::TrashIndexKey(InodeId(victim.id())), t));
  return txn.Set(store::TrashQueueKey(t.expires_ns() / 1000000, InodeId(victim.id())), "");
}

Result<ListTrashRsp> ListTrash(OpContext& ctx, const ListTrashReq& req) {
  return kv::RunTransaction(
      ctx.engine, ctx.retry,
      [&](kv::Transaction& txn) -> Result<ListTrashRsp> {
        std::string prefix(store::kTrashIndexPrefix);
        HF3FS_TRY_ASSIGN(auto r, txn.SnapshotGetRange(prefix, kv::PrefixEnd(prefix), 0));
        ListTrashRsp rsp;
        for (const auto& kv : r.kvs) {
          TrashEntry t;
          if (!t.ParseFromString(kv.value)) return Status(StatusCode::kDataCorruption, "trash");
          if (IsRoot(req.user()) || t.uid() == req.user().uid()) *rsp.add_entries() = t;
        }
        return rsp;
      },
      kv::TxnOptions{.read_only = true});
}

namespace {

// EINVAL when `moved` is `dir` or one of its ancestors.
Status CheckNotBelow(Resolver& r, const Inode& moved, Inode dir) {
  while (dir.id() != kRootInodeId.value()) {
    if (dir.id() == moved.id()) return Status(StatusCode::kMetaInvalid, "restore into itself");
    HF3FS_TRY_ASSIGN(dir, r.Load(dir.parent()));
  }
  return Status::Ok();
}

Result<RestoreTrashRsp> RestoreTxn(OpContext& ctx, kv::Transaction& txn,
                                   const RestoreTrashReq& req) {
  InodeId id(req.inode_id());
  HF3FS_TRY_ASSIGN(auto t, store::Get<TrashEntry>(txn, store::TrashIndexKey(id)));
  if (!t) return MakeStatus(StatusCode::kMetaNotFound, "inode {} is not in the trash", id.value());
  if (!IsRoot(req.user()) && req.user().uid() != t->uid()) {
    return Status(StatusCode::kMetaNotPermitted, "another user's trash");
  }
  Resolver r(txn, req.user(), ctx.limits);
  HF3FS_TRY_ASSIGN(auto in_trash, store::GetEntry(txn, InodeId(t->trash_dir()), t->trash_name()));
  if (!in_trash || in_trash->inode_id() != id.value()) {
    return Status(StatusCode::kMetaNotFound, "the entry left the trash directory");
  }
  HF3FS_TRY_ASSIGN(auto inode, r.Load(id.value()));
  HF3FS_TRY_ASSIGN(auto parent, r.Load(t->original_parent()));
  if (parent.nlink() == 0) return Status(StatusCode::kMetaNotFound, "original directory removed");
  HF3FS_TRY(CheckAccess(req.user(), parent, kMayWrite | kMayExec));
  HF3FS_TRY_ASSIGN(auto taken, store::GetEntry(txn, InodeId(parent.id()), t->original_name()));
  if (taken) return MakeStatus(StatusCode::kMetaExists, "'{}' exists", t->original_name());
  if (inode.type() == INODE_DIRECTORY) HF3FS_TRY(CheckNotBelow(r, inode, parent));
  HF3FS_TRY(quota::CheckSameQuota(inode.quota_dirs(), parent));
  HF3FS_TRY(
      MoveEntry(ctx, txn, inode, t->trash_dir(), t->trash_name(), parent.id(), t->original_name()));
  HF3FS_TRY(txn.Clear(store::TrashIndexKey(id)));
  HF3FS_TRY(txn.Clear(store::TrashQueueKey(t->expires_ns() / 1000000, id)));
  RestoreTrashRsp rsp;
  *rsp.mutable_inode() = std::move(inode);
  return rsp;
}

}  // namespace

Result<RestoreTrashRsp> RestoreTrash(OpContext& ctx, const RestoreTrashReq& req) {
  return RunIdempotent<RestoreTrashRsp>(
      ctx, req.ids(), META_RESTORE_TRASH,
      [&](kv::Transaction& txn) { return RestoreTxn(ctx, txn, req); });
}

}  // namespace hf3fs::meta
