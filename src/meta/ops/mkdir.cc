// mkdir and mkdirs: a new directory inode (parent pointer and name set) and its entry. The new
// directory's default layout is the request's or its parent's. mkdirs creates each missing
// component in the same transaction and succeeds when the path is already a directory.
#include "meta/ops/common.h"
#include "meta/permission.h"

namespace hf3fs::meta {

namespace {

Result<Inode> MakeOne(OpContext& ctx, kv::Transaction& txn, const MkdirReq& req,
                      const ParentLookup& p, InodeId id) {
  HF3FS_TRY(CheckCanAddEntry(req.user(), p));
  // As vfs_mkdir: only the permission and sticky bits of the request count.
  Inode inode =
      NewInode(ctx, id, INODE_DIRECTORY, req.mode() & 01777, req.user(), p.dir, req.umask());
  inode.set_parent(p.dir.id());
  inode.set_name(p.name);
  *inode.mutable_default_layout() =
      req.layout().chain_table_id() != 0 ? req.layout() : p.dir.default_layout();
  HF3FS_TRY(ChargeNewInode(txn, inode));
  HF3FS_TRY(store::PutInode(txn, inode));
  HF3FS_TRY(store::PutEntry(txn, InodeId(p.dir.id()), p.name, inode));
  return inode;
}

// mkdir -p: walks the components, creating the missing ones (ids from `ids`, allocated once).
Result<Inode> MakeAll(OpContext& ctx, kv::Transaction& txn, const MkdirReq& req,
                      std::vector<InodeId>& ids) {
  HF3FS_TRY_ASSIGN(auto comps, SplitPath(req.path().path()));
  bool absolute = !req.path().path().empty() && req.path().path()[0] == '/';
  std::string prefix = absolute ? "/" : "";
  Resolver r(txn, req.user(), ctx.limits);
  Inode dir;
  size_t created = 0;
  for (size_t i = 0; i < comps.size(); ++i) {
    PathAt at = req.path();
    at.set_path(prefix + comps[i]);
    prefix = at.path() + "/";
    HF3FS_TRY_ASSIGN(auto p, r.Parent(at));
    if (p.kind != LastKind::kNormal || p.entry) {
      HF3FS_TRY_ASSIGN(dir, r.Target(p, true));
      if (dir.type() != INODE_DIRECTORY) {
        return MakeStatus(StatusCode::kMetaNotDirectory, "'{}' is not a directory", at.path());
      }
      continue;
    }
    if (created == ids.size()) {
      HF3FS_TRY_ASSIGN(auto fresh, ctx.inodes.Allocate());
      ids.push_back(fresh);
    }
    HF3FS_TRY_ASSIGN(dir, MakeOne(ctx, txn, req, p, ids[created++]));
  }
  if (comps.empty()) return MakeStatus(StatusCode::kMetaExists, "'/' exists");
  return dir;
}

}  // namespace

Result<MkdirRsp> Mkdir(OpContext& ctx, const MkdirReq& req) {
  HF3FS_TRY(ValidateLayout(req.layout()));
  std::optional<InodeId> id;
  std::vector<InodeId> ids;
  return RunIdempotent<MkdirRsp>(
      ctx, req.ids(), META_MKDIR,
      [&](kv::Transaction& txn) -> Result<MkdirRsp> {
        MkdirRsp rsp;
        if (req.recursive()) {
          HF3FS_TRY_ASSIGN(*rsp.mutable_inode(), MakeAll(ctx, txn, req, ids));
          return rsp;
        }
        Resolver r(txn, req.user(), ctx.limits);
        HF3FS_TRY_ASSIGN(auto p, r.Parent(req.path()));
        HF3FS_TRY(CheckCanAddEntry(req.user(), p));
        HF3FS_TRY_ASSIGN(InodeId new_id, AllocateOnce(ctx, id));
        HF3FS_TRY_ASSIGN(*rsp.mutable_inode(), MakeOne(ctx, txn, req, p, new_id));
        *rsp.mutable_parent() = p.dir;
        return rsp;
      },
      req.recursive() ? std::vector<std::string>() : PrefetchKeys(req.path()));
}

}  // namespace hf3fs::meta
