// unlink, rmdir and recursive remove, or a move to the trash (ops/trash.cc). Clears the entry and
// drops the link (ops/common.h). rmdir checks emptiness with a range read (read conflict on the
// directory's entries). A recursive remove is O(1): the directory leaves the namespace (nlink 0)
// and is queued for background deletion with everything below it.
#include "meta/ops/common.h"
#include "meta/permission.h"

namespace hf3fs::meta {

namespace {

Status CheckLastComponent(const ParentLookup& p, RemoveKind kind) {
  if (kind == REMOVE_UNLINK && p.kind != LastKind::kNormal) {
    return MakeStatus(StatusCode::kMetaIsDirectory, "'{}' is a directory", p.name);
  }
  if (p.kind == LastKind::kNone) {
    return Status(StatusCode::kMetaBusy, "the root or start directory cannot be removed");
  }
  if (p.kind == LastKind::kDot) return Status(StatusCode::kMetaInvalid, "cannot remove '.'");
  if (p.kind == LastKind::kDotDot) return Status(StatusCode::kMetaNotEmpty, "cannot remove '..'");
  if (!p.entry) return MakeStatus(StatusCode::kMetaNotFound, "no entry '{}'", p.name);
  return Status::Ok();
}

Status CheckKind(const Inode& victim, const ParentLookup& p, RemoveKind kind) {
  bool is_dir = victim.type() == INODE_DIRECTORY;
  if (kind == REMOVE_UNLINK && is_dir) {
    return MakeStatus(StatusCode::kMetaIsDirectory, "'{}' is a directory", p.name);
  }
  if (kind != REMOVE_UNLINK && !is_dir) {
    return MakeStatus(StatusCode::kMetaNotDirectory, "'{}' is not a directory", p.name);
  }
  if (kind == REMOVE_UNLINK && p.trailing_slash) {
    return MakeStatus(StatusCode::kMetaNotDirectory, "'{}/' is not a directory", p.name);
  }
  return Status::Ok();
}

// The whole tree goes (the caller was checked for write and search permission on its top).
Status RemoveTree(OpContext& ctx, kv::Transaction& txn, Inode dir) {
  HF3FS_TRY(UnchargeInode(txn, dir));  // what is below is uncharged as the GC deletes it
  dir.set_nlink(0);
  dir.set_ctime_ns(ctx.now_ns());
  HF3FS_TRY(store::PutInode(txn, dir));
  return EnqueueGc(ctx, txn, dir);
}

Result<RemoveRsp> RemoveTxn(OpContext& ctx, kv::Transaction& txn, const RemoveReq& req,
                            std::vector<InodeId>& trash_ids) {
  if (!RemoveKind_IsValid(req.kind())) {
    // An unknown kind must not fall through the checks below as "not unlink, not rmdir": it
    // removed a non-empty directory without its children.
    return MakeStatus(StatusCode::kMetaInvalid, "unknown remove kind {}",
                      static_cast<int>(req.kind()));
  }
  Resolver r(txn, req.user(), ctx.limits);
  HF3FS_TRY_ASSIGN(auto p, r.Parent(req.path()));
  HF3FS_TRY(CheckLastComponent(p, req.kind()));
  HF3FS_TRY_ASSIGN(auto victim, r.Load(p.entry->inode_id()));
  HF3FS_TRY(CheckCanRemoveEntry(req.user(), p.dir, victim));  // before the type, as Linux
  HF3FS_TRY(CheckKind(victim, p, req.kind()));
  if (req.kind() == REMOVE_RMDIR) {
    HF3FS_TRY_ASSIGN(bool empty, store::DirectoryEmpty(txn, InodeId(victim.id())));
    if (!empty) return MakeStatus(StatusCode::kMetaNotEmpty, "'{}' is not empty", p.name);
  }
  if (req.kind() == REMOVE_RECURSIVE) {
    HF3FS_TRY(CheckAccess(req.user(), victim, kMayWrite | kMayExec));
  }
  bool other_links = victim.type() != INODE_DIRECTORY && victim.nlink() > 1;
  if (req.to_trash() && !other_links) {
    HF3FS_TRY(MoveToTrash(ctx, txn, req.user(), p, std::move(victim), trash_ids));
    RemoveRsp rsp;
    *rsp.mutable_parent() = p.dir;
    return rsp;
  }
  HF3FS_TRY(txn.Clear(store::EntryKey(InodeId(p.dir.id()), p.name)));
  if (req.kind() == REMOVE_RECURSIVE) {
    HF3FS_TRY(RemoveTree(ctx, txn, std::move(victim)));
  } else {
    HF3FS_TRY(DropLink(ctx, txn, std::move(victim)));
  }
  RemoveRsp rsp;
  *rsp.mutable_parent() = p.dir;
  return rsp;
}

}  // namespace

Result<RemoveRsp> Remove(OpContext& ctx, const RemoveReq& req) {
  std::vector<InodeId> trash_ids;  // ids of trash directories created on first use
  return RunIdempotent<RemoveRsp>(
      ctx, req.ids(), META_REMOVE,
      [&](kv::Transaction& txn) { return RemoveTxn(ctx, txn, req, trash_ids); },
      PrefetchKeys(req.path()));
}

}  // namespace hf3fs::meta
