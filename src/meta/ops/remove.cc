// unlink, rmdir and recursive remove. Clears the entry and drops the link (ops/common.h). rmdir
// checks emptiness with a range read (read conflict on the directory's entries). A recursive
// remove is O(1): the directory leaves the namespace (nlink 0) and is queued for background
// deletion with everything below it.
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

Status RemoveTree(OpContext& ctx, kv::Transaction& txn, const UserInfo& user, Inode dir) {
  // The whole tree goes, so the caller must be able to empty the top directory itself.
  HF3FS_TRY(CheckAccess(user, dir, kMayWrite | kMayExec));
  dir.set_nlink(0);
  dir.set_ctime_ns(ctx.now_ns());
  HF3FS_TRY(store::PutInode(txn, dir));
  return EnqueueGc(ctx, txn, dir);
}

}  // namespace

Result<RemoveRsp> Remove(OpContext& ctx, const RemoveReq& req) {
  return RunIdempotent<RemoveRsp>(
      ctx, req.ids(), META_REMOVE, [&](kv::Transaction& txn) -> Result<RemoveRsp> {
        Resolver r(txn, req.user(), ctx.limits);
        HF3FS_TRY_ASSIGN(auto p, r.Parent(req.path()));
        HF3FS_TRY(CheckLastComponent(p, req.kind()));
        HF3FS_TRY_ASSIGN(auto victim, r.Load(p.entry->inode_id()));
        HF3FS_TRY(CheckCanRemoveEntry(req.user(), p.dir, victim));  // before the type, as Linux
        HF3FS_TRY(CheckKind(victim, p, req.kind()));
        HF3FS_TRY(txn.Clear(store::EntryKey(InodeId(p.dir.id()), p.name)));
        if (req.kind() == REMOVE_RECURSIVE) {
          HF3FS_TRY(RemoveTree(ctx, txn, req.user(), std::move(victim)));
          return RemoveRsp();
        }
        if (req.kind() == REMOVE_RMDIR) {
          HF3FS_TRY_ASSIGN(bool empty, store::DirectoryEmpty(txn, InodeId(victim.id())));
          if (!empty) {
            return MakeStatus(StatusCode::kMetaNotEmpty, "'{}' is not empty", p.name);
          }
        }
        HF3FS_TRY(DropLink(ctx, txn, std::move(victim)));
        return RemoveRsp();
      });
}

}  // namespace hf3fs::meta
