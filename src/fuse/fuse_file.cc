// FUSE file operations: open, create, read, write (the per-inode write buffer), flush, fsync,
// release, fallocate (docs/design/0007-client-fuse.md, "Data path").
#include "fuse/fuse_fs.h"

#include <linux/falloc.h>

#include <boost/asio/co_spawn.hpp>

#include "fuse/fuse_util.h"

namespace hf3fs::fuse {

void FuseFs::Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  meta::OpenReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(ino);
  r.set_flags(fi->flags);
  r.set_client_id(client_.client_id());
  fuse_file_info info = *fi;
  Spawn([this, req, r, info]() mutable -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::OpenRsp>(meta::META_OPEN, r);
    if (!rsp.ok()) {
      fuse_reply_err(req, Errno(rsp.status()));
      co_return;
    }
    auto* h = NewHandle(rsp->inode(), rsp->session_id(), info);
    if (fuse_reply_open(req, &info) == -ENOENT) {
      // The opener was interrupted: undo.
      ReleaseState(h->state);
      delete h;
    }
  });
}

void FuseFs::Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                    fuse_file_info* fi) {
  meta::CreateReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(parent, name);
  r.set_flags(fi->flags | O_CREAT);
  r.set_mode(mode & 07777);
  r.set_umask(fuse_req_ctx(req)->umask);
  fuse_file_info info = *fi;
  Spawn([this, req, r, info]() mutable -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::CreateRsp>(meta::META_CREATE, r);
    if (!rsp.ok()) {
      fuse_reply_err(req, Errno(rsp.status()));
      co_return;
    }
    auto* h = NewHandle(rsp->inode(), rsp->session_id(), info);
    fuse_entry_param e;
    FillEntry(rsp->inode(), &e);
    if (fuse_reply_create(req, &e, &info) == -ENOENT) {
      ReleaseState(h->state);
      delete h;
    }
  });
}

awaitable<Status> FuseFs::FlushBufferLocked(InodeState& st) {
  std::vector<uint8_t> data;
  uint64_t offset;
  meta::Inode inode;
  {
    std::lock_guard lock(st.mu);
    if (st.buf.empty()) co_return Status::Ok();
    data.swap(st.buf);
    offset = st.buf_offset;
    inode = st.inode;
  }
  Status s = co_await client_.io().Write(inode, offset, data);
  if (!s.ok()) {
    HF3FS_LOG_WARN("fuse.flush_failed inode={} offset={} bytes={} error=\"{}\"", st.id, offset,
                   data.size(), s);
  }
  co_return s;
}

awaitable<Status> FuseFs::FlushBuffer(InodeState& st) {
  auto guard = co_await st.io.Scoped();
  Status s = co_await FlushBufferLocked(st);
  std::lock_guard lock(st.mu);
  if (s.ok() && !st.error.ok()) {
    s = st.error;  // an earlier background flush failed: report it now, once
    st.error = Status::Ok();
  }
  co_return s;
}

awaitable<Status> FuseFs::SyncInode(InodeState& st, uint64_t session, bool query_length) {
  HF3FS_CO_TRY(co_await FlushBuffer(st));
  meta::CloseReq r;
  {
    std::lock_guard lock(st.mu);
    if (!st.length_dirty && !query_length) co_return Status::Ok();
    if (session == 0) session = st.any_session;
    if (session == 0) co_return Status::Ok();
    r.set_inode_id(st.id);
    r.set_session_id(session);
    r.set_has_length_hint(st.written_end > 0);
    r.set_length_hint(st.written_end);
    r.set_truncate_version(st.inode.truncate_version());
    r.set_mtime_ns(st.mtime_ns);
    r.set_query_length(query_length);
    st.length_dirty = false;
  }
  r.mutable_user()->set_uid(0);  // a write session is the capability; no permission check
  auto rsp = co_await client_.meta().Call<meta::CloseRsp>(meta::META_SYNC, r);
  if (!rsp.ok()) {
    std::lock_guard lock(st.mu);
    st.length_dirty = true;
    co_return rsp.status();
  }
  std::lock_guard lock(st.mu);
  if (rsp->inode().truncate_version() == st.inode.truncate_version()) {
    st.inode.set_length(std::max(st.inode.length(), rsp->inode().length()));
    if (query_length) st.inode.set_length(rsp->inode().length());
  }
  co_return Status::Ok();
}

void FuseFs::Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  auto st = Fh(fi)->state;
  Spawn([this, req, st, size, off]() -> awaitable<void> {
    bool buffered;
    {
      std::lock_guard lock(st->mu);
      buffered = !st->buf.empty();
    }
    if (buffered) {
      // Read-your-writes within the mount: buffered bytes land first.
      Status s = co_await FlushBuffer(*st);
      if (!s.ok()) {
        fuse_reply_err(req, Errno(s));
        co_return;
      }
    }
    meta::Inode inode;
    uint64_t length;
    {
      std::lock_guard lock(st->mu);
      inode = st->inode;
      length = std::max(st->inode.length(), st->written_end);
    }
    std::unique_ptr<uint8_t[]> buf(new uint8_t[size]);  // not zeroed: Read fills it
    auto n = co_await client_.io().Read(inode, length, static_cast<uint64_t>(off),
                                        std::span<uint8_t>(buf.get(), size));
    if (!n.ok()) {
      HF3FS_LOG_WARN("fuse.read_failed inode={} offset={} size={} error=\"{}\"", inode.id(), off,
                     size, n.status());
      fuse_reply_err(req, Errno(n.status()));
      co_return;
    }
    fuse_reply_buf(req, reinterpret_cast<const char*>(buf.get()), *n);
  });
}

void FuseFs::Write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
                   fuse_file_info* fi) {
  auto* h = Fh(fi);
  auto st = h->state;
  uint64_t offset = static_cast<uint64_t>(off);
  uint64_t cap = config_.write_buffer.Get();
  // (The kernel does not pass the open's direct_io flag with writes: the handle remembers it.)
  bool direct = h->direct || cap == 0 || size >= cap;
  int64_t now = NowNs();
  if (!direct) {
    std::lock_guard lock(st->mu);
    if (!st->error.ok()) {
      Status e = st->error;
      st->error = Status::Ok();
      fuse_reply_err(req, Errno(e));
      return;
    }
    bool fits = st->buf.empty()
                    ? true
                    : (offset == st->buf_offset + st->buf.size() && st->buf.size() + size <= cap);
    if (fits) {
      if (st->buf.empty()) {
        st->buf_offset = offset;
        st->buf_since = Clock::now();
        st->buf.reserve(cap);
      }
      st->buf.insert(st->buf.end(), buf, buf + size);
      st->written_end = std::max(st->written_end, offset + size);
      st->length_dirty = true;
      st->mtime_ns = now;
      if (st->buf.size() < cap) {
        fuse_reply_write(req, size);
        return;
      }
      // Full: write it out in the background while the application fills the next buffer, but
      // answer this write only once the previous flush is done (the io lock is ours). At most
      // two buffers per file are in memory, and a writer faster than the chains is slowed to
      // their pace.
      Spawn([this, st, req, size]() -> awaitable<void> {
        auto guard = co_await st->io.Scoped();
        std::vector<uint8_t> data;
        uint64_t offset;
        meta::Inode inode;
        {
          std::lock_guard lock(st->mu);
          data.swap(st->buf);
          offset = st->buf_offset;
          inode = st->inode;
        }
        fuse_reply_write(req, size);
        if (data.empty()) co_return;
        Status s = co_await client_.io().Write(inode, offset, data);
        if (!s.ok()) {
          HF3FS_LOG_WARN("fuse.flush_failed inode={} offset={} bytes={} error=\"{}\"", st->id,
                         offset, data.size(), s);
          std::lock_guard lock(st->mu);
          if (st->error.ok()) st->error = s;
        }
      });
      return;
    }
  }
  // Not appendable (a gap, O_DIRECT, large): flush what is buffered, then write through or
  // start a new buffer. The payload must be copied: `buf` is only valid during this call.
  std::vector<uint8_t> data(buf, buf + size);
  Spawn([this, req, st, offset, data = std::move(data), direct, now]() -> awaitable<void> {
    auto guard = co_await st->io.Scoped();
    Status s = co_await FlushBufferLocked(*st);
    if (s.ok()) {
      std::lock_guard lock(st->mu);
      if (!st->error.ok()) {
        s = st->error;
        st->error = Status::Ok();
      }
    }
    if (!s.ok()) {
      fuse_reply_err(req, Errno(s));
      co_return;
    }
    if (!direct) {
      std::lock_guard lock(st->mu);
      // A concurrent write (mmap writeback) may have started a buffer while we waited for the
      // io lock: never replace it; write through instead (below).
      if (st->buf.empty()) {
        st->buf_offset = offset;
        st->buf_since = Clock::now();
        st->buf.reserve(config_.write_buffer.Get());
        st->buf.assign(data.begin(), data.end());
        st->written_end = std::max(st->written_end, offset + data.size());
        st->length_dirty = true;
        st->mtime_ns = now;
        fuse_reply_write(req, data.size());
        co_return;
      }
    }
    meta::Inode inode;
    {
      std::lock_guard lock(st->mu);
      inode = st->inode;
    }
    s = co_await client_.io().Write(inode, offset, data);
    if (!s.ok()) {
      HF3FS_LOG_WARN("fuse.write_failed inode={} offset={} size={} error=\"{}\"", inode.id(),
                     offset, data.size(), s);
      fuse_reply_err(req, Errno(s));
      co_return;
    }
    {
      std::lock_guard lock(st->mu);
      st->written_end = std::max(st->written_end, offset + data.size());
      st->length_dirty = true;
      st->mtime_ns = now;
    }
    fuse_reply_write(req, data.size());
  });
}

void FuseFs::Flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto* h = Fh(fi);
  auto st = h->state;
  uint64_t session = h->session_id;
  Spawn([this, req, st, session]() -> awaitable<void> {
    // close(2): data and length become visible to other clients (close-to-open consistency).
    Status s = co_await SyncInode(*st, session, false);
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}

void FuseFs::Fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  auto* h = Fh(fi);
  auto st = h->state;
  uint64_t session = h->session_id;
  Spawn([this, req, st, session]() -> awaitable<void> {
    Status s = co_await SyncInode(*st, session, false);
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}

void FuseFs::Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto* h = Fh(fi);
  {
    std::lock_guard lock(bind_mu_);
    if (h->usrbio_refs > 0) {
      h->released = true;  // USRBIO still uses it: the last UnbindHandle finishes the release
      fuse_reply_err(req, 0);
      return;
    }
  }
  Spawn([this, req, h]() -> awaitable<void> {
    co_await FinishRelease(h);
    fuse_reply_err(req, 0);
  });
}

void FuseFs::UnbindHandle(FileHandle* h) {
  if (!h) return;
  {
    std::lock_guard lock(bind_mu_);
    if (--h->usrbio_refs > 0 || !h->released) return;
  }
  if (exiting_) return;  // the final flush of Exit() covers its data
  Spawn([this, h]() -> awaitable<void> { co_await FinishRelease(h); });
}

awaitable<void> FuseFs::FinishRelease(FileHandle* h) {
  std::unique_ptr<FileHandle> owned(h);
  auto& st = *h->state;
  Status s = co_await FlushBuffer(st);
  if (!s.ok()) HF3FS_LOG_WARN("fuse.release_flush_failed inode={} error=\"{}\"", st.id, s);
  if (h->session_id != 0) {
    meta::CloseReq r;
    r.mutable_user()->set_uid(0);
    r.set_inode_id(st.id);
    r.set_session_id(h->session_id);
    {
      std::lock_guard lock(st.mu);
      r.set_has_length_hint(st.written_end > 0);
      r.set_length_hint(st.written_end);
      r.set_truncate_version(st.inode.truncate_version());
      r.set_mtime_ns(st.mtime_ns);
      if (st.any_session == h->session_id) st.any_session = 0;
      st.length_dirty = false;
    }
    auto rsp = co_await client_.meta().Call<meta::CloseRsp>(meta::META_CLOSE, r);
    if (!rsp.ok()) {
      HF3FS_LOG_WARN("fuse.close_failed inode={} session={:x} error=\"{}\"", st.id, h->session_id,
                     rsp.status());
    }
  }
  ReleaseState(h->state);
}


void FuseFs::Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                       fuse_file_info* fi) {
  auto st = Fh(fi)->state;
  auto user = User(req);
  const int supported = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if (mode & ~supported) {
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  Spawn([this, req, ino, st, user, mode, offset, length]() -> awaitable<void> {
    auto guard = co_await st->io.Scoped();
    Status s = co_await FlushBufferLocked(*st);
    meta::Inode inode;
    uint64_t file_len;
    {
      std::lock_guard lock(st->mu);
      inode = st->inode;
      file_len = std::max(st->inode.length(), st->written_end);
    }
    uint64_t end = static_cast<uint64_t>(offset) + static_cast<uint64_t>(length);
    if (s.ok() && (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))) {
      s = co_await client_.io().PunchHole(inode, file_len, offset, length);
    }
    if (s.ok() && !(mode & FALLOC_FL_KEEP_SIZE) && end > file_len) {
      // Space is not reserved ahead (chunks are written on demand); the size grows as Linux's
      // fallocate would make it.
      meta::SetAttrReq r;
      *r.mutable_user() = user;
      *r.mutable_path() = At(ino);
      r.set_length(end);
      auto rsp = co_await client_.meta().Call<meta::SetAttrRsp>(meta::META_SETATTR, r);
      if (!rsp.ok()) {
        s = rsp.status();
      } else {
        std::lock_guard lock(st->mu);
        st->inode = rsp->inode();
        st->written_end = 0;
        st->length_dirty = false;
      }
    }
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
}

}  // namespace hf3fs::fuse
