// create: open(2) with O_CREAT (O_EXCL, O_TRUNC). Writes the new file's INOD and DENT (and SESS
// when opened for writing); reads the parent inode and the entry with read conflicts. A name that
// exists is opened (EEXIST with O_EXCL); a final symlink is followed unless O_NOFOLLOW.
#include <fcntl.h>

#include "meta/ops/common.h"
#include "meta/permission.h"

namespace hf3fs::meta {

namespace {

Result<CreateRsp> CreateNew(OpContext& ctx, kv::Transaction& txn, const CreateReq& req,
                            const ParentLookup& p, std::optional<InodeId>& id) {
  if (p.trailing_slash) {
    return MakeStatus(StatusCode::kMetaIsDirectory, "'{}/' cannot name a new file", p.name);
  }
  HF3FS_TRY(CheckCanAddEntry(req.user(), p));
  HF3FS_TRY(ValidateLayout(req.layout()));
  HF3FS_TRY_ASSIGN(InodeId new_id, AllocateOnce(ctx, id));
  Inode inode = NewInode(ctx, new_id, INODE_FILE, req.mode(), req.user(), p.dir, req.umask());
  *inode.mutable_layout() = ctx.chains.Instantiate(
      req.layout().chain_table_id() != 0 ? req.layout() : p.dir.default_layout());
  HF3FS_TRY(ChargeNewInode(txn, inode));
  HF3FS_TRY(store::PutInode(txn, inode));
  HF3FS_TRY(store::PutEntry(txn, InodeId(p.dir.id()), p.name, inode));
  // The new file is opened without a permission check (its mode need not allow the caller to
  // write it: open(O_CREAT|O_WRONLY, 0444) succeeds on Linux).
  CreateRsp rsp;
  rsp.set_created(true);
  *rsp.mutable_parent() = p.dir;
  if ((req.flags() & O_ACCMODE) != O_RDONLY) {
    WriteSession s;
    s.set_client_id(req.ids().client_id());
    s.set_session_id(ctx.new_session_id());
    s.set_opened_ns(ctx.now_ns());
    HF3FS_TRY(store::Put(txn, store::SessionKey(new_id, s.session_id()), s));
    rsp.set_session_id(s.session_id());
  }
  *rsp.mutable_inode() = std::move(inode);
  return rsp;
}

}  // namespace

Result<CreateRsp> Create(OpContext& ctx, const CreateReq& req) {
  std::optional<InodeId> id;
  return RunIdempotent<CreateRsp>(
      ctx, req.ids(), META_CREATE,
      [&](kv::Transaction& txn) -> Result<CreateRsp> {
        Resolver r(txn, req.user(), ctx.limits);
        HF3FS_TRY_ASSIGN(auto p, r.Parent(req.path()));
        bool exists = p.kind != LastKind::kNormal || p.entry.has_value();
        if (!exists) return CreateNew(ctx, txn, req, p, id);
        if (req.flags() & O_EXCL) {
          return MakeStatus(StatusCode::kMetaExists, "'{}' exists", p.name);
        }
        if (p.kind != LastKind::kNormal) {
          return MakeStatus(StatusCode::kMetaIsDirectory, "'{}' is a directory", p.name);
        }
        HF3FS_TRY_ASSIGN(auto inode, r.Target(p, !(req.flags() & O_NOFOLLOW)));
        if (inode.type() == INODE_DIRECTORY) {  // Linux: O_CREAT on a directory, whatever the mode
          return MakeStatus(StatusCode::kMetaIsDirectory, "'{}' is a directory", p.name);
        }
        HF3FS_TRY_ASSIGN(auto opened, OpenInode(ctx, txn, req.user(), std::move(inode), req.flags(),
                                                req.ids().client_id()));
        CreateRsp rsp;
        *rsp.mutable_inode() = std::move(*opened.mutable_inode());
        rsp.set_session_id(opened.session_id());
        return rsp;
      },
      PrefetchKeys(req.path()));
}

}  // namespace hf3fs::meta
