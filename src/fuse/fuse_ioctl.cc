// hf3fs ioctls (fuse/hf3fs_ioctl.h): server-side recursive remove, exact-length fsync, USRBIO
// discovery and binding.
#include <unistd.h>

#include <cstdio>

#include "fuse/fuse_fs.h"
#include "fuse/fuse_util.h"
#include "fuse/hf3fs_ioctl.h"
#include "fuse/usrbio_server.h"
#include "usrbio/usrbio_protocol.h"

namespace hf3fs::fuse {

void FuseFs::Ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void*, fuse_file_info* fi,
                   unsigned flags, const void* in_buf, size_t in_bufsz, size_t) {
  if (flags & FUSE_IOCTL_COMPAT) {
    reply::Err(req, ENOSYS);
    return;
  }
  if (cmd == HF3FS_IOC_RECURSIVE_REMOVE) {
    if (in_bufsz < sizeof(hf3fs_ioc_remove)) {
      reply::Err(req, EINVAL);
      return;
    }
    hf3fs_ioc_remove arg;
    std::memcpy(&arg, in_buf, sizeof(arg));
    arg.name[sizeof(arg.name) - 1] = '\0';
    meta::RemoveReq r;
    *r.mutable_user() = User(req);
    *r.mutable_path() = At(ino, arg.name);
    r.set_kind(meta::REMOVE_RECURSIVE);
    r.set_to_trash((arg.flags & HF3FS_REMOVE_TO_TRASH) != 0);
    if (std::strchr(arg.name, '/') || arg.name[0] == '\0') {
      reply::Err(req, EINVAL);
      return;
    }
    Spawn([this, req, r, ino]() -> awaitable<void> {
      auto rsp = co_await client_.meta().Call<meta::RemoveRsp>(meta::META_REMOVE, r);
      if (rsp.ok()) {
        // The kernel still caches the entry: drop it, so the name is gone at once (an ioctl
        // holds no directory lock, so this cannot deadlock).
        const std::string& name = r.path().path();
        NamespaceChanged(ino, name, Status::Ok(), nullptr);
        fuse_lowlevel_notify_inval_entry(session_, ino, name.data(), name.size());
        reply::Ioctl(req, 0, nullptr, 0);
      } else {
        reply::Err(req, Errno(rsp.status()));
      }
    });
    return;
  }
  if ((cmd == HF3FS_IOC_FSYNC_EXACT || cmd == HF3FS_IOC_USRBIO_BIND) && (flags & FUSE_IOCTL_DIR)) {
    // These take a file's handle; a directory's fh is a DirHandle, never to be read as one.
    reply::Err(req, EINVAL);
    return;
  }
  if (cmd == HF3FS_IOC_SYNCFS) {
    Spawn([this, req]() -> awaitable<void> {
      Status s = co_await SyncFs();
      if (s.ok()) {
        reply::Ioctl(req, 0, nullptr, 0);
      } else {
        reply::Err(req, Errno(s));
      }
    });
    return;
  }
  if (cmd == HF3FS_IOC_FSYNC_EXACT) {
    auto* h = Fh(fi);
    if (!h || fi->fh == 0) {
      reply::Err(req, EBADF);
      return;
    }
    auto st = h->state;
    uint64_t session = h->session_id;
    if (!st) {
      reply::Err(req, EBADF);
      return;
    }
    Spawn([this, req, st, session]() -> awaitable<void> {
      Status s = co_await SyncInode(*st, session, true, /*durable=*/true);
      if (s.ok()) {
        reply::Ioctl(req, 0, nullptr, 0);
      } else {
        reply::Err(req, Errno(s));
      }
    });
    return;
  }
  if (cmd == HF3FS_IOC_USRBIO_INFO) {
    hf3fs_ioc_usrbio_info info{};
    if (!usrbio_) {
      reply::Err(req, ENOTTY);  // USRBIO is off on this mount
      return;
    }
    info.version = usrbio::kProtocolVersion;
    info.pid = static_cast<uint32_t>(getpid());
    std::snprintf(info.socket, sizeof(info.socket), "%s", usrbio_->address().c_str());
    reply::Ioctl(req, 0, &info, sizeof(info));
    return;
  }
  if (cmd == HF3FS_IOC_USRBIO_BIND) {
    // Only this daemon binds (its USRBIO server, on a descriptor a process handed over): the
    // caller's thread must be one of ours.
    std::string task = fmt::format("/proc/self/task/{}", fuse_req_ctx(req)->pid);
    auto* h = Fh(fi);
    if (access(task.c_str(), F_OK) != 0) {
      reply::Err(req, EPERM);
      return;
    }
    if (!h || fi->fh == 0) {
      reply::Err(req, EBADF);
      return;
    }
    hf3fs_ioc_usrbio_bind out{};
    {
      std::lock_guard lock(bind_mu_);
      out.token = next_token_++;
      ++h->usrbio_refs;  // dropped by UnbindHandle
      bindings_[out.token] = BoundFile{h, h->state, h->session_id, h->readable, h->writable};
    }
    out.inode = h->state->id;
    reply::Ioctl(req, 0, &out, sizeof(out));
    return;
  }
  reply::Err(req, ENOTTY);
}

// The FUSE connection's number in /sys/fs/fuse/connections (the kernel's encoding of the mount's
// device number), read from /proc/self/mountinfo without touching the file system; 0 if unknown.

}  // namespace hf3fs::fuse
