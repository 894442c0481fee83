// FUSE file operations: open, create, read, write (the per-inode write buffer), flush, fsync,
// release, fallocate (docs/design/0007-client-fuse.md, "Data path").
#include <linux/falloc.h>
#include <sys/file.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/io_buffer.h"
#include "fuse/fuse_fs.h"
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
      reply::Err(req, Errno(rsp.status()));
      co_return;
    }
    if (r.flags() & O_TRUNC) co_await NoteCut(rsp->inode());
    auto* h = NewHandle(rsp->inode(), rsp->session_id(), info);
    if (reply::Open(req, &info) == -ENOENT) {
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
    if (rsp.ok() && rsp->has_parent()) RememberDir(rsp->parent());
    NamespaceChanged(r.path().parent(), r.path().path(), rsp.status(),
                     rsp.ok() ? &rsp->inode() : nullptr);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
      co_return;
    }
    if ((r.flags() & O_TRUNC) && !rsp->created()) co_await NoteCut(rsp->inode());
    auto* h = NewHandle(rsp->inode(), rsp->session_id(), info);
    fuse_entry_param e;
    FillEntry(rsp->inode(), &e);
    if (reply::Create(req, &e, &info) == -ENOENT) {
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
    st.flushing = true;
  }
  std::vector<ChainId> chains;
  Status s = co_await client_.io().Write(inode, offset, data, &chains);
  {
    std::lock_guard lock(st.mu);
    st.flushing = false;
  }
  NoteWritten(st, chains);
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

awaitable<Status> FuseFs::SyncInode(InodeState& st, uint64_t session, bool query_length,
                                    bool durable) {
  HF3FS_CO_TRY(co_await FlushBuffer(st));
  if (durable) HF3FS_CO_TRY(co_await SyncData(st));
  meta::CloseReq r;
  {
    std::lock_guard lock(st.mu);
    if (!st.length_dirty && !query_length && !durable) co_return Status::Ok();
    if (session == 0) session = st.any_session;
    if (session == 0 && !durable) co_return Status::Ok();
    r.set_inode_id(st.id);
    r.set_session_id(session);
    if (session != 0) {  // a length report needs the writer's session
      r.set_has_length_hint(st.written_end > 0);
      r.set_length_hint(st.written_end);
      r.set_truncate_version(st.inode.truncate_version());
      r.set_mtime_ns(st.mtime_ns);
      r.set_query_length(query_length);
      st.length_dirty = false;
    }
    r.set_durable(durable);
  }
  r.mutable_user()->set_uid(0);  // a write session is the capability; no permission check
  auto rsp = co_await client_.meta().Call<meta::CloseRsp>(meta::META_SYNC, r);
  if (!rsp.ok()) {
    std::lock_guard lock(st.mu);
    if (session != 0) st.length_dirty = true;
    co_return rsp.status();
  }
  std::lock_guard lock(st.mu);
  if (rsp->inode().truncate_version() == st.inode.truncate_version()) {
    st.inode.set_length(std::max(st.inode.length(), rsp->inode().length()));
    if (query_length) st.inode.set_length(rsp->inode().length());
  }
  co_return Status::Ok();
}

awaitable<Status> FuseFs::SyncData(InodeState& st) {
  std::vector<ChainId> chains;
  {
    std::lock_guard lock(st.mu);
    chains.swap(st.dirty_chains);
  }
  std::vector<ChainId> cut;
  {
    std::lock_guard lock(dirty_mu_);
    cut.assign(cut_chains_.begin(), cut_chains_.end());
    cut.insert(cut.end(), evicted_dirty_.begin(), evicted_dirty_.end());
  }
  std::vector<ChainId> all = chains;
  all.insert(all.end(), cut.begin(), cut.end());
  Status s = co_await client_.io().SyncChains(all);
  if (!s.ok()) {
    HF3FS_LOG_WARN("fuse.sync_failed inode={} chains={} error=\"{}\"", st.id, all.size(), s);
    NoteWritten(st, chains);  // still to be flushed
    co_return s;
  }
  std::lock_guard lock(dirty_mu_);
  for (ChainId c : cut) {
    cut_chains_.erase(c);
    evicted_dirty_.erase(c);
  }
  co_return Status::Ok();
}

void FuseFs::NoteWritten(InodeState& st, const std::vector<ChainId>& chains) {
  if (chains.empty()) return;
  {
    std::lock_guard lock(st.mu);
    for (ChainId c : chains) {
      if (std::find(st.dirty_chains.begin(), st.dirty_chains.end(), c) == st.dirty_chains.end()) {
        st.dirty_chains.push_back(c);
      }
    }
  }
  std::lock_guard lock(dirty_mu_);
  mount_dirty_.insert(chains.begin(), chains.end());
}

awaitable<void> FuseFs::NoteCut(const meta::Inode& inode) {
  auto chains = co_await client_.io().AllChains(inode);
  if (!chains.ok()) co_return;  // no layout: nothing on storage to cut
  std::lock_guard lock(dirty_mu_);
  cut_chains_.insert(chains->begin(), chains->end());
  mount_dirty_.insert(chains->begin(), chains->end());
}

awaitable<Status> FuseFs::SyncFs() {
  static auto* syncs = SyncCounter("syncfs");
  syncs->Inc();
  std::vector<std::shared_ptr<InodeState>> states;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, st] : open_) states.push_back(st);
  }
  Status first;
  for (auto& st : states) {
    Status s = co_await FlushBuffer(*st);
    if (first.ok() && !s.ok()) first = s;
  }
  std::vector<ChainId> chains;
  {
    std::lock_guard lock(dirty_mu_);
    chains.assign(mount_dirty_.begin(), mount_dirty_.end());
    mount_dirty_.clear();
    cut_chains_.clear();
    evicted_dirty_.clear();
    closed_dirty_.clear();
  }
  Status s = co_await client_.io().SyncChains(chains);
  if (!s.ok()) {
    std::lock_guard lock(dirty_mu_);
    mount_dirty_.insert(chains.begin(), chains.end());
    cut_chains_.insert(chains.begin(), chains.end());
    co_return s;
  }
  // Open files report their lengths, then one durable sync flushes the metadata store.
  for (auto& st : states) {
    Status s2 = co_await SyncInode(*st, 0, false);
    if (first.ok() && !s2.ok()) first = s2;
  }
  meta::CloseReq r;
  r.mutable_user()->set_uid(0);
  r.set_inode_id(1);  // the root: the request changes nothing, the flush is what it is for
  r.set_durable(true);
  auto rsp = co_await client_.meta().Call<meta::CloseRsp>(meta::META_SYNC, r);
  if (!rsp.ok()) co_return rsp.status();
  co_return first;
}

void FuseFs::Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  auto st = Fh(fi)->state;
  Spawn([this, req, st, size, off]() -> awaitable<void> {
    bool buffered;
    {
      std::lock_guard lock(st->mu);
      buffered = !st->buf.empty() || st->flushing;
    }
    if (buffered) {
      // Read-your-writes within the mount: buffered bytes land first, and a flush in flight
      // (the timer's, or a full buffer's) is waited for: its bytes are no longer in `buf`.
      Status s = co_await FlushBuffer(*st);
      if (!s.ok()) {
        reply::Err(req, Errno(s));
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
    IoBuffer buf(size);  // not zeroed (Read fills it), and reused: no page faults per read
    auto n = co_await client_.io().Read(inode, length, static_cast<uint64_t>(off),
                                        std::span<uint8_t>(buf.data(), size));
    if (!n.ok()) {
      HF3FS_LOG_WARN("fuse.read_failed inode={} offset={} size={} error=\"{}\"", inode.id(), off,
                     size, n.status());
      reply::Err(req, Errno(n.status()));
      co_return;
    }
    reply::Buf(req, reinterpret_cast<const char*>(buf.data()), *n);
  });
}

void FuseFs::Write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
                   fuse_file_info* fi) {
  auto* h = Fh(fi);
  auto st = h->state;
  // Before the bytes leave: a direct write bypasses the kernel's cached pages, so the file's next
  // open must drop them even if meta has not heard of this write yet.
  ForgetCache(st->id);
  uint64_t offset = static_cast<uint64_t>(off);
  uint64_t cap = config_.write_buffer.Get();
  // (The kernel does not pass the open's direct_io flag with writes: the handle remembers it.)
  // O_SYNC/O_DSYNC writes (from the open, or fcntl/pwritev2 flags the kernel passes) are durable
  // when answered, so they are never buffered.
  bool sync = h->sync || (fi->flags & O_DSYNC) != 0;
  bool direct = h->direct || sync || cap == 0 || size >= cap;
  uint64_t session = h->session_id;
  int64_t now = NowNs();
  if (!direct) {
    std::lock_guard lock(st->mu);
    if (!st->error.ok()) {
      Status e = st->error;
      st->error = Status::Ok();
      reply::Err(req, Errno(e));
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
        reply::Write(req, size);
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
          st->flushing = !data.empty();
        }
        reply::Write(req, size);
        if (data.empty()) co_return;
        std::vector<ChainId> chains;
        Status s = co_await client_.io().Write(inode, offset, data, &chains);
        {
          std::lock_guard lock(st->mu);
          st->flushing = false;
        }
        NoteWritten(*st, chains);
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
  Spawn([this, req, st, offset, data = std::move(data), direct, sync, session,
         now]() -> awaitable<void> {
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
      reply::Err(req, Errno(s));
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
        reply::Write(req, data.size());
        co_return;
      }
    }
    meta::Inode inode;
    {
      std::lock_guard lock(st->mu);
      inode = st->inode;
    }
    std::vector<ChainId> chains;
    s = co_await client_.io().Write(inode, offset, data, &chains);
    NoteWritten(*st, chains);
    if (!s.ok()) {
      HF3FS_LOG_WARN("fuse.write_failed inode={} offset={} size={} error=\"{}\"", inode.id(),
                     offset, data.size(), s);
      reply::Err(req, Errno(s));
      co_return;
    }
    {
      std::lock_guard lock(st->mu);
      st->written_end = std::max(st->written_end, offset + data.size());
      st->length_dirty = true;
      st->mtime_ns = now;
    }
    if (sync) {
      // The data on every replica, and the length in the metadata store (O_DSYNC needs it to
      // read the data back), before the write is answered. The io lock is released first:
      // SyncInode takes it to flush the (empty) buffer.
      guard.Release();
      static auto* syncs = SyncCounter("o_sync");
      syncs->Inc();
      s = co_await SyncInode(*st, session, false, /*durable=*/true);
      if (!s.ok()) {
        reply::Err(req, Errno(s));
        co_return;
      }
    }
    reply::Write(req, data.size());
  });
}

void FuseFs::Flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto* h = Fh(fi);
  auto st = h->state;
  uint64_t session = h->session_id;
  Spawn([this, req, st, session]() -> awaitable<void> {
    // close(2): data and length become visible to other clients (close-to-open consistency).
    Status s = co_await SyncInode(*st, session, false);
    reply::Err(req, s.ok() ? 0 : Errno(s));
  });
}

void FuseFs::Fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  auto* h = Fh(fi);
  auto st = h->state;
  uint64_t session = h->session_id;
  Spawn([this, req, st, session]() -> awaitable<void> {
    // fdatasync too: the length is the metadata that retrieving the data needs.
    static auto* syncs = SyncCounter("fsync");
    syncs->Inc();
    Status s = co_await SyncInode(*st, session, false, /*durable=*/true);
    reply::Err(req, s.ok() ? 0 : Errno(s));
  });
}

void FuseFs::Flock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op) {
  meta::FlockReq r;
  r.set_inode_id(ino);
  r.set_client_id(client_.client_id());
  r.set_owner(fi->lock_owner);
  bool wait = (op & LOCK_NB) == 0;
  switch (op & ~LOCK_NB) {
    case LOCK_SH:
      r.set_op(meta::FLOCK_SHARED);
      break;
    case LOCK_EX:
      r.set_op(meta::FLOCK_EXCLUSIVE);
      break;
    case LOCK_UN:
      r.set_op(meta::FLOCK_UNLOCK);
      break;
    default:
      reply::Err(req, EINVAL);
      return;
  }
  Spawn([this, req, r, wait]() -> awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto backoff = std::chrono::milliseconds(5);
    for (;;) {
      auto rsp = co_await client_.meta().Call<meta::FlockRsp>(meta::META_FLOCK, r);
      if (rsp.ok() || rsp.status().code() != StatusCode::kMetaLockConflict || !wait) {
        reply::Err(req, rsp.ok() ? 0 : Errno(rsp.status()));
        co_return;
      }
      // Held elsewhere: meta keeps no waiters, so ask again (design 0012) until the kernel
      // interrupts the request (a signal to the waiting process).
      if (fuse_req_interrupted(req)) {
        reply::Err(req, EINTR);
        co_return;
      }
      timer.expires_after(backoff);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(100));
    }
  });
}

void FuseFs::DropFlock(uint64_t ino, uint64_t owner) {
  meta::FlockReq r;
  r.set_inode_id(ino);
  r.set_client_id(client_.client_id());
  r.set_owner(owner);
  r.set_op(meta::FLOCK_UNLOCK);
  Spawn([this, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::FlockRsp>(meta::META_FLOCK, r);
    if (!rsp.ok()) {
      // The record goes with this mount's session, or with the owner's next unlock.
      HF3FS_LOG_WARN("fuse.flock_release_failed inode={} error=\"{}\"", r.inode_id(), rsp.status());
    }
  });
}

void FuseFs::Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  // The last reference to an open file description that held a flock lock: drop it (the kernel
  // normally sent an unlock already when the descriptor closed; this one is idempotent).
  if (fi->flock_release) DropFlock(ino, fi->lock_owner);
  auto* h = Fh(fi);
  {
    std::lock_guard lock(bind_mu_);
    if (h->usrbio_refs > 0) {
      h->released = true;  // USRBIO still uses it: the last UnbindHandle finishes the release
      reply::Err(req, 0);
      return;
    }
  }
  Spawn([this, req, h]() -> awaitable<void> {
    co_await FinishRelease(h);
    reply::Err(req, 0);
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
    QueueClose(std::move(r));
  }
  ReleaseState(h->state);
}

void FuseFs::QueueClose(meta::CloseReq r) {
  bool start;
  {
    std::lock_guard lock(close_mu_);
    close_queue_.push_back(std::move(r));
    start = !close_draining_;
    close_draining_ = true;
  }
  if (start) Spawn([this]() -> awaitable<void> { co_await DrainCloses(); });
}

awaitable<void> FuseFs::DrainCloses() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    // A short pause lets the closes of a burst (a program closing many files) share a request.
    timer.expires_after(std::chrono::microseconds(500));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    meta::CloseBatchReq batch;
    {
      std::lock_guard lock(close_mu_);
      size_t n = std::min<size_t>(close_queue_.size(), kMaxCloseBatch);
      for (size_t i = 0; i < n; ++i) *batch.add_closes() = std::move(close_queue_[i]);
      close_queue_.erase(close_queue_.begin(), close_queue_.begin() + n);
    }
    if (batch.closes_size() > 0) co_await SendCloses(std::move(batch));
    std::lock_guard lock(close_mu_);
    if (close_queue_.empty()) {
      close_draining_ = false;
      co_return;
    }
  }
}

awaitable<void> FuseFs::SendCloses(meta::CloseBatchReq batch) {
  auto rsp = co_await client_.meta().Call<meta::CloseBatchRsp>(meta::META_CLOSE_BATCH, batch);
  if (!rsp.ok()) {
    // Sessions left behind are pruned by meta once this mount's client session lapses.
    HF3FS_LOG_WARN("fuse.close_failed closes={} error=\"{}\"", batch.closes_size(), rsp.status());
    co_return;
  }
  for (int i = 0; i < rsp->codes_size() && i < batch.closes_size(); ++i) {
    if (rsp->codes(i) == 0) continue;
    HF3FS_LOG_WARN("fuse.close_failed inode={} session={:x} code={}", batch.closes(i).inode_id(),
                   batch.closes(i).session_id(),
                   StatusCodeLabel(static_cast<StatusCode>(rsp->codes(i))));
  }
}

awaitable<void> FuseFs::DrainClosesNow() {
  for (;;) {
    meta::CloseBatchReq batch;
    {
      std::lock_guard lock(close_mu_);
      size_t n = std::min<size_t>(close_queue_.size(), kMaxCloseBatch);
      for (size_t i = 0; i < n; ++i) *batch.add_closes() = std::move(close_queue_[i]);
      close_queue_.erase(close_queue_.begin(), close_queue_.begin() + n);
    }
    if (batch.closes_size() == 0) co_return;
    co_await SendCloses(std::move(batch));
  }
}

void FuseFs::Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                       fuse_file_info* fi) {
  auto st = Fh(fi)->state;
  auto user = User(req);
  const int supported = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if (mode & ~supported) {
    reply::Err(req, EOPNOTSUPP);
    return;
  }
  ForgetCache(st->id);
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
      co_await NoteCut(inode);
    }
    if (s.ok() && !(mode & FALLOC_FL_KEEP_SIZE) && end > file_len) {
      // Space is not reserved ahead (chunks are written on demand); the size grows as Linux's
      // fallocate would make it.
      meta::SetAttrReq r;
      *r.mutable_user() = user;
      *r.mutable_path() = At(ino);
      r.set_length(end);
      auto rsp = co_await client_.meta().Call<meta::SetAttrRsp>(meta::META_SETATTR, r);
      if (rsp.ok()) co_await NoteCut(rsp->inode());
      if (!rsp.ok()) {
        s = rsp.status();
      } else {
        std::lock_guard lock(st->mu);
        st->inode = rsp->inode();
        st->written_end = 0;
        st->length_dirty = false;
      }
    }
    reply::Err(req, s.ok() ? 0 : Errno(s));
  });
}

}  // namespace hf3fs::fuse
