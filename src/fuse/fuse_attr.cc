// FUSE attribute operations: getattr, setattr (chmod, chown, utimes, truncate), access, statfs.
#include <sys/statvfs.h>

#include "fuse/fuse_fs.h"
#include "fuse/fuse_util.h"
#include "meta/permission.h"

namespace hf3fs::fuse {

void FuseFs::Getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  if (auto dir = CachedDir(ino)) {
    struct stat s;
    FillAttr(*dir, &s);
    reply::Attr(req, &s, config_.attr_timeout.Get());
    return;
  }
  meta::BatchStatReq r;
  *r.mutable_user() = User(req);
  r.add_inode_ids(ino);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::BatchStatRsp>(meta::META_BATCH_STAT, r);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
    } else if (rsp->inodes_size() != 1 || rsp->inodes(0).id() == 0) {
      reply::Err(req, ENOENT);
    } else {
      ReplyAttr(req, rsp->inodes(0));
    }
  });
}

void FuseFs::Setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                     fuse_file_info* fi) {
  meta::SetAttrReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(ino);
  r.set_follow(false);
  if (to_set & FUSE_SET_ATTR_MODE) r.set_mode(attr->st_mode & 07777);
  if (to_set & FUSE_SET_ATTR_UID) r.set_uid(attr->st_uid);
  if (to_set & FUSE_SET_ATTR_GID) r.set_gid(attr->st_gid);
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    r.set_atime(meta::TIME_NOW);
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    r.set_atime(meta::TIME_SET);
    r.set_atime_ns(ToNs(attr->st_atim));
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    r.set_mtime(meta::TIME_NOW);
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    r.set_mtime(meta::TIME_SET);
    r.set_mtime_ns(ToNs(attr->st_mtim));
  }
  bool truncate = (to_set & FUSE_SET_ATTR_SIZE) != 0;
  if (truncate) r.set_length(attr->st_size);
  // ftruncate: the descriptor's write session carries the right to write checked at open.
  if (truncate && fi && fi->fh != 0) r.set_session_id(Fh(fi)->session_id);
  Spawn([this, req, r, truncate, ino]() -> awaitable<void> {
    auto st = State(ino);
    std::optional<net::AsyncMutex::Guard> guard;
    if (st) {
      guard.emplace(co_await st->io.Scoped());
      // Buffered bytes must land before the length changes (they may lie past the new end).
      Status fs = co_await FlushBufferLocked(*st);
      if (!fs.ok()) {
        reply::Err(req, Errno(fs));
        co_return;
      }
      if (!truncate) {
        // Times set explicitly win over this mount's pending mtime.
        std::lock_guard lock(st->mu);
        if (r.mtime() != meta::TIME_UNCHANGED) st->mtime_ns = 0;
      }
    }
    auto rsp = co_await client_.meta().Call<meta::SetAttrRsp>(meta::META_SETATTR, r);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
      co_return;
    }
    if (truncate) co_await NoteCut(rsp->inode());  // meta cut chunks on storage
    if (st && truncate) {
      std::lock_guard lock(st->mu);
      st->inode = rsp->inode();
      st->written_end = 0;
      st->length_dirty = false;
    }
    ReplyAttr(req, rsp->inode());
  });
}

void FuseFs::Statfs(fuse_req_t req, fuse_ino_t) {
  meta::StatFsReq r;
  *r.mutable_user() = User(req);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::StatFsRsp>(meta::META_STATFS, r);
    struct statvfs s;
    std::memset(&s, 0, sizeof(s));
    s.f_bsize = 1 << 20;  // preferred I/O size
    s.f_frsize = 4096;
    s.f_namemax = 255;
    if (rsp.ok()) {
      s.f_blocks = rsp->total_bytes() / s.f_frsize;
      s.f_bfree = s.f_bavail = rsp->free_bytes() / s.f_frsize;
      // Inodes are not a fixed resource: report plenty free.
      s.f_files = rsp->used_inodes() + (1ull << 32);
      s.f_ffree = s.f_favail = 1ull << 32;
    } else if (rsp.status().code() != StatusCode::kRpcUnknownMethod) {
      reply::Err(req, Errno(rsp.status()));
      co_return;
    }
    reply::Statfs(req, &s);
  });
}

void FuseFs::Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  meta::BatchStatReq r;
  *r.mutable_user() = User(req);
  r.add_inode_ids(ino);
  Spawn([this, req, r, mask]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::BatchStatRsp>(meta::META_BATCH_STAT, r);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
      co_return;
    }
    if (rsp->inodes_size() != 1 || rsp->inodes(0).id() == 0) {
      reply::Err(req, ENOENT);
      co_return;
    }
    uint32_t m = 0;
    if (mask & R_OK) m |= meta::kMayRead;
    if (mask & W_OK) m |= meta::kMayWrite;
    if (mask & X_OK) m |= meta::kMayExec;
    if (m == 0) {
      reply::Err(req, 0);
      co_return;
    }
    Status s = meta::CheckAccess(r.user(), rsp->inodes(0), m);
    reply::Err(req, s.ok() ? 0 : Errno(s));
  });
}

}  // namespace hf3fs::fuse
