// rename: atomic move of one entry, replacing an existing destination by Linux's rules, or an
// atomic exchange of two entries (RENAME_EXCHANGE). Both parents, both entries and the
// destination parent's ancestors (loop check) are read with read conflicts, so concurrent renames
// that could together create a loop cannot both commit.
// Check order follows Linux's renameat2: EBUSY for "."/".."/"/", ENOENT, EEXIST (no-replace),
// EINVAL (loop), same inode → success, EACCES/EPERM on the source, then the destination.
#include "meta/ops/common.h"
#include "meta/permission.h"
#include "meta/quota.h"

namespace hf3fs::meta {

namespace {

struct Sides {
  ParentLookup src, dst;
  Inode moved;
  std::optional<Inode> replaced;
};

// EINVAL when `moved` (a directory) is `dir` or one of its ancestors.
Status CheckNoLoop(Resolver& r, const Inode& moved, Inode dir) {
  while (true) {
    if (dir.id() == moved.id()) {
      return MakeStatus(StatusCode::kMetaInvalid, "cannot move directory {} into itself",
                        moved.id());
    }
    if (dir.id() == kRootInodeId.value()) return Status::Ok();
    HF3FS_TRY_ASSIGN(dir, r.Load(dir.parent()));
  }
}

Status CheckNames(const ParentLookup& src, const ParentLookup& dst) {
  if (src.kind != LastKind::kNormal || dst.kind != LastKind::kNormal) {
    return Status(StatusCode::kMetaBusy, "cannot rename '.', '..' or '/'");
  }
  if (!src.entry) return MakeStatus(StatusCode::kMetaNotFound, "no entry '{}'", src.name);
  if (dst.dir.nlink() == 0) return Status(StatusCode::kMetaNotFound, "directory was removed");
  return Status::Ok();
}

Status CheckReplace(kv::Transaction& txn, const UserInfo& user, const Sides& s) {
  const Inode& d = *s.replaced;
  bool src_dir = s.moved.type() == INODE_DIRECTORY;
  HF3FS_TRY(CheckCanRemoveEntry(user, s.dst.dir, d));
  if (src_dir && d.type() != INODE_DIRECTORY) {
    return MakeStatus(StatusCode::kMetaNotDirectory, "'{}' is not a directory", s.dst.name);
  }
  if (!src_dir && d.type() == INODE_DIRECTORY) {
    return MakeStatus(StatusCode::kMetaIsDirectory, "'{}' is a directory", s.dst.name);
  }
  if (d.type() == INODE_DIRECTORY) {
    HF3FS_TRY_ASSIGN(bool empty, store::DirectoryEmpty(txn, InodeId(d.id())));
    if (!empty) return MakeStatus(StatusCode::kMetaNotEmpty, "'{}' is not empty", s.dst.name);
  }
  return Status::Ok();
}

Status Apply(OpContext& ctx, kv::Transaction& txn, Sides& s) {
  HF3FS_TRY(txn.Clear(store::EntryKey(InodeId(s.src.dir.id()), s.src.name)));
  if (s.replaced) HF3FS_TRY(DropLink(ctx, txn, std::move(*s.replaced)));
  if (s.moved.type() == INODE_DIRECTORY) {
    s.moved.set_parent(s.dst.dir.id());
    s.moved.set_name(s.dst.name);
  }
  s.moved.set_ctime_ns(ctx.now_ns());
  HF3FS_TRY(store::PutInode(txn, s.moved));
  return store::PutEntry(txn, InodeId(s.dst.dir.id()), s.dst.name, s.moved);
}

// RENAME_EXCHANGE: both names must exist; each inode moves to the other's place. Each side is
// checked as the removal of its entry from its directory and, for a directory that changes
// parent, as a move (no loop, write permission on it, same quota set).
Result<RenameRsp> ExchangeTxn(OpContext& ctx, kv::Transaction& txn, const RenameReq& req) {
  Resolver r(txn, req.user(), ctx.limits);
  Sides s;
  HF3FS_TRY_ASSIGN(s.src, r.Parent(req.src()));
  HF3FS_TRY_ASSIGN(s.dst, r.Parent(req.dst()));
  HF3FS_TRY(CheckNames(s.src, s.dst));
  if (!s.dst.entry) return MakeStatus(StatusCode::kMetaNotFound, "no entry '{}'", s.dst.name);
  HF3FS_TRY_ASSIGN(s.moved, r.Load(s.src.entry->inode_id()));
  HF3FS_TRY_ASSIGN(auto other, r.Load(s.dst.entry->inode_id()));
  bool a_dir = s.moved.type() == INODE_DIRECTORY, b_dir = other.type() == INODE_DIRECTORY;
  if ((!a_dir && s.src.trailing_slash) || (!b_dir && s.dst.trailing_slash)) {
    return Status(StatusCode::kMetaNotDirectory, "a name with a trailing slash is not a directory");
  }
  bool across = s.src.dir.id() != s.dst.dir.id();
  if (across) {
    if (a_dir) HF3FS_TRY(CheckNoLoop(r, s.moved, s.dst.dir));
    if (b_dir) HF3FS_TRY(CheckNoLoop(r, other, s.src.dir));
    HF3FS_TRY(quota::CheckSameQuota(s.moved.quota_dirs(), s.dst.dir));
    HF3FS_TRY(quota::CheckSameQuota(other.quota_dirs(), s.src.dir));
  }
  if (other.id() == s.moved.id()) return RenameRsp();
  HF3FS_TRY(CheckCanRemoveEntry(req.user(), s.src.dir, s.moved));
  HF3FS_TRY(CheckCanRemoveEntry(req.user(), s.dst.dir, other));
  if (across) {
    if (a_dir) HF3FS_TRY(CheckAccess(req.user(), s.moved, kMayWrite));  // its ".." changes
    if (b_dir) HF3FS_TRY(CheckAccess(req.user(), other, kMayWrite));
  }
  int64_t now = ctx.now_ns();
  auto place = [&](Inode& inode, const ParentLookup& at) -> Status {
    if (inode.type() == INODE_DIRECTORY) {
      inode.set_parent(at.dir.id());
      inode.set_name(at.name);
    }
    inode.set_ctime_ns(now);
    HF3FS_TRY(store::PutInode(txn, inode));
    return store::PutEntry(txn, InodeId(at.dir.id()), at.name, inode);
  };
  HF3FS_TRY(place(s.moved, s.dst));
  HF3FS_TRY(place(other, s.src));
  RenameRsp rsp;
  *rsp.mutable_src_parent() = s.src.dir;
  *rsp.mutable_dst_parent() = s.dst.dir;
  return rsp;
}

Result<RenameRsp> RenameTxn(OpContext& ctx, kv::Transaction& txn, const RenameReq& req) {
  if (req.exchange()) {
    if (req.no_replace()) {
      return Status(StatusCode::kMetaInvalid, "RENAME_EXCHANGE and RENAME_NOREPLACE together");
    }
    return ExchangeTxn(ctx, txn, req);
  }
  Resolver r(txn, req.user(), ctx.limits);
  Sides s;
  HF3FS_TRY_ASSIGN(s.src, r.Parent(req.src()));
  HF3FS_TRY_ASSIGN(s.dst, r.Parent(req.dst()));
  HF3FS_TRY(CheckNames(s.src, s.dst));
  HF3FS_TRY_ASSIGN(s.moved, r.Load(s.src.entry->inode_id()));
  bool src_dir = s.moved.type() == INODE_DIRECTORY;
  if (!src_dir && (s.src.trailing_slash || s.dst.trailing_slash)) {
    return MakeStatus(StatusCode::kMetaNotDirectory, "'{}' is not a directory", s.src.name);
  }
  if (req.no_replace() && s.dst.entry) {
    return MakeStatus(StatusCode::kMetaExists, "'{}' exists", s.dst.name);
  }
  if (src_dir && s.src.dir.id() != s.dst.dir.id()) HF3FS_TRY(CheckNoLoop(r, s.moved, s.dst.dir));
  if (s.src.dir.id() != s.dst.dir.id()) {
    HF3FS_TRY(quota::CheckSameQuota(s.moved.quota_dirs(), s.dst.dir));
  }
  if (s.dst.entry && s.dst.entry->inode_id() == s.moved.id()) return RenameRsp();
  HF3FS_TRY(CheckCanRemoveEntry(req.user(), s.src.dir, s.moved));
  if (s.dst.entry) {
    HF3FS_TRY_ASSIGN(s.replaced, r.Load(s.dst.entry->inode_id()));
    HF3FS_TRY(CheckReplace(txn, req.user(), s));
  } else {
    HF3FS_TRY(CheckAccess(req.user(), s.dst.dir, kMayWrite | kMayExec));
  }
  if (src_dir && s.src.dir.id() != s.dst.dir.id()) {
    HF3FS_TRY(CheckAccess(req.user(), s.moved, kMayWrite));  // its ".." changes
  }
  HF3FS_TRY(Apply(ctx, txn, s));
  RenameRsp rsp;
  *rsp.mutable_src_parent() = s.src.dir;
  *rsp.mutable_dst_parent() = s.dst.dir;
  return rsp;
}

}  // namespace

Result<RenameRsp> Rename(OpContext& ctx, const RenameReq& req) {
  return RunIdempotent<RenameRsp>(
      ctx, req.ids(), META_RENAME,
      [&](kv::Transaction& txn) -> Result<RenameRsp> { return RenameTxn(ctx, txn, req); },
      [&] {
        auto keys = PrefetchKeys(req.src());
        auto dst = PrefetchKeys(req.dst());
        keys.insert(keys.end(), dst.begin(), dst.end());
        return keys;
      }());
}

}  // namespace hf3fs::meta
