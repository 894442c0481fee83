// FUSE extended attributes: set, get, list, remove (POSIX ACLs travel as their xattrs).
#include <sys/xattr.h>

#include "fuse/fuse_fs.h"
#include "fuse/fuse_util.h"

namespace hf3fs::fuse {

void FuseFs::Setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value,
                      size_t size, int flags) {
  meta::SetXattrReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(ino);
  r.set_name(name);
  r.set_value(std::string(value, size));
  r.set_flags(flags);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::SetXattrRsp>(meta::META_SET_XATTR, r);
    ForgetDir(r.path().parent());  // an ACL may have changed the mode
    reply::Err(req, rsp.ok() ? 0 : Errno(rsp.status()));
  });
}

void FuseFs::Getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  meta::GetXattrReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(ino);
  r.set_name(name);
  Spawn([this, req, r, size]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::GetXattrRsp>(meta::META_GET_XATTR, r);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
    } else if (size == 0) {
      reply::Xattr(req, rsp->value().size());
    } else if (size < rsp->value().size()) {
      reply::Err(req, ERANGE);
    } else {
      reply::Buf(req, rsp->value().data(), rsp->value().size());
    }
  });
}

void FuseFs::Listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  meta::ListXattrReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(ino);
  Spawn([this, req, r, size]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::ListXattrRsp>(meta::META_LIST_XATTR, r);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
      co_return;
    }
    std::string out;
    for (const auto& n : rsp->names()) {
      out += n;
      out.push_back('\0');
    }
    if (size == 0) {
      reply::Xattr(req, out.size());
    } else if (size < out.size()) {
      reply::Err(req, ERANGE);
    } else {
      reply::Buf(req, out.data(), out.size());
    }
  });
}

void FuseFs::Removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  meta::RemoveXattrReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(ino);
  r.set_name(name);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::RemoveXattrRsp>(meta::META_REMOVE_XATTR, r);
    ForgetDir(r.path().parent());
    reply::Err(req, rsp.ok() ? 0 : Errno(rsp.status()));
  });
}

}  // namespace hf3fs::fuse
