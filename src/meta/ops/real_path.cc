// get real path: the canonical absolute path of what a path names, rebuilt from directory parent
// pointers (symlinks, "." and ".." resolved). A non-directory's path is its directory's path plus
// the name it was reached by (files keep no parent pointer: hard links give them several).
#include "meta/ops/common.h"

namespace hf3fs::meta {

namespace {
Result<std::string> DirPath(Resolver& r, Inode dir) {
  std::vector<std::string> names;
  while (dir.id() != kRootInodeId.value()) {
    if (names.size() > 4096) return Status(StatusCode::kDataCorruption, "parent pointer loop");
    names.push_back(dir.name());
    HF3FS_TRY_ASSIGN(dir, r.Load(dir.parent()));
  }
  std::string path;
  for (auto it = names.rbegin(); it != names.rend(); ++it) path += "/" + *it;
  return path;  // empty for the root
}
}  // namespace

Result<GetRealPathRsp> GetRealPath(OpContext& ctx, const GetRealPathReq& req) {
  return kv::RunTransaction(
      ctx.engine, ctx.retry,
      [&](kv::Transaction& txn) -> Result<GetRealPathRsp> {
        Resolver r(txn, req.user(), ctx.limits);
        HF3FS_TRY_ASSIGN(auto p, r.Parent(req.path()));
        HF3FS_TRY_ASSIGN(auto inode, r.Target(p, true));
        GetRealPathRsp rsp;
        if (inode.type() == INODE_DIRECTORY) {
          if (inode.nlink() == 0) return Status(StatusCode::kMetaNotFound, "directory removed");
          HF3FS_TRY_ASSIGN(auto path, DirPath(r, std::move(inode)));
          rsp.set_path(path.empty() ? std::string("/") : std::move(path));
          return rsp;
        }
        if (p.kind != LastKind::kNormal) {
          return Status(StatusCode::kMetaInvalid, "a file has no path of its own");
        }
        // The entry reached may be a symlink to the file: the file's directory is where the last
        // symlink pointed, which the resolver does not report; refuse rather than guess.
        HF3FS_TRY_ASSIGN(auto direct, r.Load(p.entry->inode_id()));
        if (direct.id() != inode.id()) {
          return Status(StatusCode::kMetaInvalid, "real path of a symlink to a file");
        }
        HF3FS_TRY_ASSIGN(auto dir_path, DirPath(r, p.dir));
        rsp.set_path(dir_path + "/" + p.name);
        return rsp;
      },
      kv::TxnOptions{.read_only = true});
}

}  // namespace hf3fs::meta
