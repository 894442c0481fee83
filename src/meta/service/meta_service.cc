#include "meta/service/meta_service.h"

#include "meta/quota.h"
#include "rpc.pb.h"

namespace hf3fs::meta {

template <typename Req, typename Rsp>
void MetaService::Add(net::ServiceRegistry& r, uint32_t method, std::string name,
                      Result<Rsp> (*op)(OpContext&, const Req&)) {
  r.RegisterMethod<Req, Rsp>(
      rpc::SERVICE_META, method, "meta", std::move(name),
      [this, op](const Req& req, Rsp& rsp, net::RequestContext&) -> net::awaitable<Status> {
        auto result = co_await pool_.Run([&]() -> Result<Rsp> { return op(ctx_, req); });
        if (!result.ok()) co_return result.status();
        rsp = std::move(*result);
        co_return Status::Ok();
      });
}

void MetaService::Register(net::ServiceRegistry& r) {
  Add(r, META_STAT, "stat", &Stat);
  Add(r, META_BATCH_STAT, "batch_stat", &BatchStat);
  Add(r, META_BATCH_STAT_BY_PATH, "batch_stat_by_path", &BatchStatByPath);
  Add(r, META_CREATE, "create", &Create);
  Add(r, META_OPEN, "open", &Open);
  Add(r, META_CLOSE, "close", &Close);
  Add(r, META_SYNC, "sync", &Sync);
  Add(r, META_MKDIR, "mkdir", &Mkdir);
  Add(r, META_SYMLINK, "symlink", &Symlink);
  Add(r, META_READLINK, "readlink", &Readlink);
  Add(r, META_MKNOD, "mknod", &Mknod);
  Add(r, META_LINK, "link", &Link);
  Add(r, META_REMOVE, "remove", &Remove);
  Add(r, META_RENAME, "rename", &Rename);
  Add(r, META_READDIR, "readdir", &Readdir);
  Add(r, META_SETATTR, "setattr", &SetAttr);
  Add(r, META_GET_XATTR, "get_xattr", &GetXattr);
  Add(r, META_SET_XATTR, "set_xattr", &SetXattr);
  Add(r, META_LIST_XATTR, "list_xattr", &ListXattr);
  Add(r, META_REMOVE_XATTR, "remove_xattr", &RemoveXattr);
  Add(r, META_GET_REAL_PATH, "get_real_path", &GetRealPath);
  Add(r, META_FSCK, "fsck", &FsckOp);
  Add(r, META_GC_STATUS, "gc_status", &GcStatus);
  Add(r, META_LIST_TRASH, "list_trash", &ListTrash);
  Add(r, META_RESTORE_TRASH, "restore_trash", &RestoreTrash);
  Add(r, META_SET_QUOTA, "set_quota", &SetQuota);
  Add(r, META_GET_QUOTA, "get_quota", &GetQuota);
}

}  // namespace hf3fs::meta
