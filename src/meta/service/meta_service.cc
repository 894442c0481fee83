#include "meta/service/meta_service.h"

#include <fcntl.h>

#include <type_traits>

#include "meta/quota.h"
#include "rpc.pb.h"

namespace hf3fs::meta {

template <typename Req, typename Rsp>
net::awaitable<Result<Rsp>> MetaService::RunOp(Result<Rsp> (*op)(OpContext&, const Req&),
                                               const Req& req, bool may_inline) {
  if (inline_ && may_inline) {
    auto result = op(inline_ctx_, req);
    // A conflict (or any retryable failure) is retried with backoff on the pool, where waiting
    // blocks no io thread. Non-idempotent ops carry request ids, so a repeat is applied once.
    if (result.ok() || !result.status().retryable()) co_return result;
  }
  co_return co_await pool_.Run([&]() -> Result<Rsp> { return op(ctx_, req); });
}

template <typename Req, typename Rsp>
void MetaService::Add(net::ServiceRegistry& r, uint32_t method, std::string name,
                      Result<Rsp> (*op)(OpContext&, const Req&), bool may_inline,
                      net::Access access) {
  r.RegisterMethod<Req, Rsp>(
      rpc::SERVICE_META, method, "meta", std::move(name),
      [this, op, may_inline](const Req& req, Rsp& rsp,
                             net::RequestContext&) -> net::awaitable<Status> {
        auto result = co_await RunOp(op, req, may_inline);
        if (!result.ok()) co_return result.status();
        rsp = std::move(*result);
        co_return Status::Ok();
      },
      access);
}

// `prepare(storage, req)` runs first (with storage access only) and may rewrite the request.
template <typename Req, typename Rsp, typename Prepare>
void MetaService::AddWithStorage(net::ServiceRegistry& r, uint32_t method, std::string name,
                                 Result<Rsp> (*op)(OpContext&, const Req&), Prepare prepare) {
  r.RegisterMethod<Req, Rsp>(
      rpc::SERVICE_META, method, "meta", std::move(name),
      [this, op, prepare](const Req& in, Rsp& rsp, net::RequestContext&) -> net::awaitable<Status> {
        HF3FS_CO_TRY_ASSIGN(StorageOps * storage, Storage());
        Req req = in;
        if (storage) HF3FS_CO_TRY(co_await prepare(*storage, req));
        // A durable sync flushes the store: that waits for the disk, so it runs on the pool.
        bool may_inline = true;
        if constexpr (std::is_same_v<Req, CloseReq>) may_inline = !req.durable();
        auto result = co_await RunOp(op, req, may_inline);
        if (!result.ok()) co_return result.status();
        rsp = std::move(*result);
        co_return Status::Ok();
      });
}

Result<StorageOps*> MetaService::Storage() const {
  StorageOps* s = storage_.load();
  if (!s && expect_storage_) {
    return Status(StatusCode::kUnavailable, "meta server is still connecting to storage");
  }
  return s;
}

net::awaitable<Status> MetaService::CutChunks(StorageOps& storage, const UserInfo& user,
                                              const PathAt& path, bool follow,
                                              uint64_t new_length) {
  auto plan =
      co_await pool_.Run([&]() { return PlanTruncate(ctx_, user, path, follow, new_length); });
  if (!plan.ok()) co_return plan.status();
  if (!*plan) co_return Status::Ok();
  co_return co_await storage.TruncateFileChunks(**plan, new_length);
}

net::awaitable<Status> MetaService::QueryLength(StorageOps& storage, CloseReq& req) {
  if (!req.query_length()) co_return Status::Ok();
  auto inode = co_await pool_.Run([&]() { return LoadInode(ctx_, InodeId(req.inode_id())); });
  if (!inode.ok()) co_return inode.status();
  req.set_has_length_hint(false);
  if (!*inode || (*inode)->type() != INODE_FILE) co_return Status::Ok();  // the op reports it
  HF3FS_CO_TRY_ASSIGN(uint64_t length, co_await storage.QueryFileLength(**inode));
  // The close op raises the length to the hint only under the same truncate version: a truncate
  // committed after our query makes this length stale, and it is then ignored.
  req.set_has_length_hint(true);
  req.set_length_hint(length);
  req.set_truncate_version((*inode)->truncate_version());
  co_return Status::Ok();
}

void MetaService::Register(net::ServiceRegistry& r) {
  Add(r, META_STAT, "stat", &Stat);
  Add(r, META_BATCH_STAT, "batch_stat", &BatchStat);
  Add(r, META_BATCH_STAT_BY_PATH, "batch_stat_by_path", &BatchStatByPath);
  AddWithStorage(r, META_CREATE, "create", &Create,
                 [this](StorageOps& s, CreateReq& req) -> net::awaitable<Status> {
                   if (!(req.flags() & O_TRUNC) || (req.flags() & O_EXCL)) {
                     co_return Status::Ok();
                   }
                   co_return co_await CutChunks(s, req.user(), req.path(),
                                                !(req.flags() & O_NOFOLLOW), 0);
                 });
  AddWithStorage(
      r, META_OPEN, "open", &Open, [this](StorageOps& s, OpenReq& req) -> net::awaitable<Status> {
        if (!(req.flags() & O_TRUNC)) co_return Status::Ok();
        co_return co_await CutChunks(s, req.user(), req.path(), !(req.flags() & O_NOFOLLOW), 0);
      });
  auto query = [this](StorageOps& s, CloseReq& req) { return QueryLength(s, req); };
  AddWithStorage(r, META_CLOSE, "close", &Close, query);
  AddWithStorage(r, META_SYNC, "sync", &Sync, query);
  Add(r, META_CLOSE_BATCH, "close_batch", &CloseBatch);
  Add(r, META_FLOCK, "flock", &Flock);
  Add(r, META_MKDIR, "mkdir", &Mkdir);
  Add(r, META_SYMLINK, "symlink", &Symlink);
  Add(r, META_READLINK, "readlink", &Readlink);
  Add(r, META_MKNOD, "mknod", &Mknod);
  Add(r, META_LINK, "link", &Link);
  Add(r, META_REMOVE, "remove", &Remove);
  Add(r, META_RENAME, "rename", &Rename);
  Add(r, META_READDIR, "readdir", &Readdir, /*may_inline=*/false);  // pages of 1024 inodes
  AddWithStorage(r, META_SETATTR, "setattr", &SetAttr,
                 [this](StorageOps& s, SetAttrReq& req) -> net::awaitable<Status> {
                   if (!req.has_length()) co_return Status::Ok();
                   co_return co_await CutChunks(s, req.user(), req.path(), req.follow(),
                                                req.length());
                 });
  Add(r, META_GET_XATTR, "get_xattr", &GetXattr);
  Add(r, META_SET_XATTR, "set_xattr", &SetXattr);
  Add(r, META_LIST_XATTR, "list_xattr", &ListXattr);
  Add(r, META_REMOVE_XATTR, "remove_xattr", &RemoveXattr);
  Add(r, META_GET_REAL_PATH, "get_real_path", &GetRealPath);
  // Admin calls scan whole ranges: never on an io thread.
  // Whole-namespace scans and quotas: administrators (and servers) only.
  Add(r, META_FSCK, "fsck", &FsckOp, false, net::kServersAndAdmins);
  Add(r, META_GC_STATUS, "gc_status", &GcStatus, false, net::kServersAndAdmins);
  Add(r, META_LIST_TRASH, "list_trash", &ListTrash, false);
  Add(r, META_RESTORE_TRASH, "restore_trash", &RestoreTrash, false);
  Add(r, META_SET_QUOTA, "set_quota", &SetQuota, false, net::kAdminRole);
  Add(r, META_GET_QUOTA, "get_quota", &GetQuota, false);
  r.RegisterMethod<StatFsReq, StatFsRsp>(
      rpc::SERVICE_META, META_STATFS, "meta", "statfs",
      [this](const StatFsReq&, StatFsRsp& rsp, net::RequestContext&) -> net::awaitable<Status> {
        HF3FS_CO_TRY_ASSIGN(StorageOps * storage, Storage());
        if (!storage) co_return Status::Ok();  // zeros: capacity unknown without storage
        HF3FS_CO_TRY_ASSIGN(rsp, co_await storage->StatFs());
        co_return Status::Ok();
      });
}

}  // namespace hf3fs::meta
