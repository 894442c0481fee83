// meta operations as plain synchronous functions over the KV store, one per file in this
// directory. The RPC service runs them on its offload pool; tests call them directly. Each runs one
// KV transaction (kv::RunTransaction, retried from scratch on conflict); its contract is in
// docs/design/0005-meta.md, "Operations". Failures are kMeta* codes whose errno is what Linux
// returns for the same call, or KV failures that exhausted the retries.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "kv/engine.h"
#include "kv/retry.h"
#include "meta.pb.h"
#include "meta/layout.h"
#include "meta/store/inode_allocator.h"

namespace hf3fs::meta {

struct MetaLimits {
  uint32_t max_symlinks = 40;        // symlinks followed in one resolution (ELOOP past it)
  uint32_t readdir_default = 128;    // entries per readdir page when the request says 0
  uint32_t readdir_max = 4096;       // larger requests are cut to this
  uint32_t max_links = 65000;        // hard links per inode (EMLINK)
  uint32_t max_xattr_value = 65536;  // bytes (E2BIG)
  std::chrono::nanoseconds trash_expiry = std::chrono::hours(72);  // then the trash cleaner removes
};

struct OpContext {
  kv::Engine& engine;
  kv::RetryOptions retry;
  InodeAllocator& inodes;
  ChainAllocator& chains;
  MetaLimits limits;
  std::function<int64_t()> now_ns;           // wall clock, ns since the epoch (injectable)
  std::function<uint64_t()> new_session_id;  // random, nonzero
  Layout root_layout;                        // default layout of a freshly created root
};

int64_t WallClockNs();
uint64_t RandomSessionId();

// Creates the root directory (inode 1, mode 0755, owned by root, default layout
// ctx.root_layout) unless it exists. Idempotent; every server calls it at start.
Status InitNamespace(OpContext& ctx);

Result<StatRsp> Stat(OpContext& ctx, const StatReq& req);                 // stat.cc
Result<BatchStatRsp> BatchStat(OpContext& ctx, const BatchStatReq& req);  // batch_stat.cc
Result<BatchStatByPathRsp> BatchStatByPath(OpContext& ctx, const BatchStatByPathReq& req);
Result<CreateRsp> Create(OpContext& ctx, const CreateReq& req);                    // create.cc
Result<OpenRsp> Open(OpContext& ctx, const OpenReq& req);                          // open.cc
Result<CloseRsp> Close(OpContext& ctx, const CloseReq& req);                       // close.cc
Result<CloseRsp> Sync(OpContext& ctx, const CloseReq& req);                        // close.cc
Result<CloseBatchRsp> CloseBatch(OpContext& ctx, const CloseBatchReq& req);        // close.cc
Result<FlockRsp> Flock(OpContext& ctx, const FlockReq& req);                       // flock.cc
Result<MkdirRsp> Mkdir(OpContext& ctx, const MkdirReq& req);                       // mkdir.cc
Result<SymlinkRsp> Symlink(OpContext& ctx, const SymlinkReq& req);                 // symlink.cc
Result<ReadlinkRsp> Readlink(OpContext& ctx, const ReadlinkReq& req);              // readlink.cc
Result<MknodRsp> Mknod(OpContext& ctx, const MknodReq& req);                       // mknod.cc
Result<LinkRsp> Link(OpContext& ctx, const LinkReq& req);                          // link.cc
Result<RemoveRsp> Remove(OpContext& ctx, const RemoveReq& req);                    // remove.cc
Result<RenameRsp> Rename(OpContext& ctx, const RenameReq& req);                    // rename.cc
Result<ReaddirRsp> Readdir(OpContext& ctx, const ReaddirReq& req);                 // readdir.cc
Result<SetAttrRsp> SetAttr(OpContext& ctx, const SetAttrReq& req);                 // setattr.cc
Result<GetXattrRsp> GetXattr(OpContext& ctx, const GetXattrReq& req);              // xattr.cc
Result<SetXattrRsp> SetXattr(OpContext& ctx, const SetXattrReq& req);              // xattr.cc
Result<ListXattrRsp> ListXattr(OpContext& ctx, const ListXattrReq& req);           // xattr.cc
Result<RemoveXattrRsp> RemoveXattr(OpContext& ctx, const RemoveXattrReq& req);     // xattr.cc
Result<GetRealPathRsp> GetRealPath(OpContext& ctx, const GetRealPathReq& req);     // real_path.cc
Result<FsckRsp> FsckOp(OpContext& ctx, const FsckReq& req);                        // admin_ops.cc
Result<GcStatusRsp> GcStatus(OpContext& ctx, const GcStatusReq& req);              // admin_ops.cc
Result<ListTrashRsp> ListTrash(OpContext& ctx, const ListTrashReq& req);           // trash.cc
Result<RestoreTrashRsp> RestoreTrash(OpContext& ctx, const RestoreTrashReq& req);  // trash.cc

// Read-only preparation of ops that need storage (storage_prep.cc). PlanTruncate: the file a
// request truncating `path` to `new_length` would cut on storage, when the caller may write it,
// it has a layout, and chunks past `new_length` may exist (the length shrinks, or a write session
// is open: a writer may have stored chunks it has not reported); nullopt otherwise, including
// every namespace error (the op itself then reports it). Fails only when the KV store does.
Result<std::optional<Inode>> PlanTruncate(OpContext& ctx, const UserInfo& user,
                                          const PathAt& path, bool follow, uint64_t new_length);
// Inode `id` (nullopt when it does not exist), from a snapshot without conflicts.
Result<std::optional<Inode>> LoadInode(OpContext& ctx, InodeId id);

}  // namespace hf3fs::meta
