#include "fuse/fuse_fs.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/logging.h"
#include "fuse/hf3fs_ioctl.h"
#include "fuse/usrbio_server.h"
#include "meta/permission.h"
#include "usrbio/usrbio_protocol.h"

namespace hf3fs::fuse {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using client::FsClient;
using net::awaitable;

namespace {

int Errno(const Status& st) {
  int e = st.errno_value();
  return e == 0 ? EIO : e;
}

meta::PathAt At(uint64_t parent, const char* name = "") {
  meta::PathAt p;
  p.set_parent(parent);
  p.set_path(name);
  return p;
}

mode_t TypeBits(meta::InodeType t) {
  switch (t) {
    case meta::INODE_DIRECTORY:
      return S_IFDIR;
    case meta::INODE_SYMLINK:
      return S_IFLNK;
    case meta::INODE_FIFO:
      return S_IFIFO;
    case meta::INODE_SOCKET:
      return S_IFSOCK;
    case meta::INODE_CHAR_DEVICE:
      return S_IFCHR;
    case meta::INODE_BLOCK_DEVICE:
      return S_IFBLK;
    default:
      return S_IFREG;
  }
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t ToNs(const timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

timespec FromNs(int64_t ns) {
  timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

FileHandle* Fh(fuse_file_info* fi) { return reinterpret_cast<FileHandle*>(fi->fh); }
DirHandle* Dh(fuse_file_info* fi) { return reinterpret_cast<DirHandle*>(fi->fh); }

}  // namespace

FuseFs::FuseFs(FsClient& client, MountSection& config)
    : client_(client), config_(config), timer_(client.pool().Get(0)) {}

FuseFs::~FuseFs() {
  Exit();
  if (session_) fuse_session_destroy(session_);
}

template <typename F>
void FuseFs::Spawn(F&& f) {
  asio::co_spawn(client_.pool().Next(), std::forward<F>(f), [](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        HF3FS_LOG_ERROR("fuse.handler_threw what=\"{}\"", ex.what());
      }
    }
  });
}

meta::UserInfo FuseFs::User(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  meta::UserInfo u;
  u.set_uid(ctx->uid);
  u.set_gid(ctx->gid);
  if (ctx->uid == 0) return u;  // root needs no group checks
  auto now = Clock::now();
  {
    std::lock_guard lock(groups_mu_);
    auto it = groups_.find(ctx->pid);
    if (it != groups_.end() && now - it->second.first < std::chrono::seconds(1)) {
      for (auto g : it->second.second) u.add_groups(g);
      return u;
    }
  }
  std::vector<gid_t> list(64);
  int n = fuse_req_getgroups(req, list.size(), list.data());
  if (n > static_cast<int>(list.size())) {
    list.resize(n);
    n = fuse_req_getgroups(req, list.size(), list.data());
  }
  std::vector<uint32_t> groups;
  for (int i = 0; i < n && i < static_cast<int>(list.size()); ++i) groups.push_back(list[i]);
  for (auto g : groups) u.add_groups(g);
  std::lock_guard lock(groups_mu_);
  if (groups_.size() > 4096) groups_.clear();
  groups_[ctx->pid] = {now, std::move(groups)};
  return u;
}

std::shared_ptr<InodeState> FuseFs::State(uint64_t ino) {
  std::lock_guard lock(mu_);
  auto it = open_.find(ino);
  return it == open_.end() ? nullptr : it->second;
}

std::shared_ptr<InodeState> FuseFs::Acquire(const meta::Inode& inode) {
  std::lock_guard lock(mu_);
  auto& st = open_[inode.id()];
  if (!st) st = std::make_shared<InodeState>(inode.id());
  std::lock_guard l2(st->mu);
  ++st->handles;
  // A fresh open sees meta's inode (close-to-open consistency); keep what this mount wrote.
  if (st->handles == 1 || inode.truncate_version() != st->inode.truncate_version() ||
      inode.length() > st->inode.length()) {
    st->inode = inode;
  }
  return st;
}

void FuseFs::ReleaseState(const std::shared_ptr<InodeState>& st) {
  std::lock_guard lock(mu_);
  std::lock_guard l2(st->mu);
  if (--st->handles == 0 && st->buf.empty()) {
    auto it = open_.find(st->id);
    if (it != open_.end() && it->second == st) open_.erase(it);
  }
}

meta::Inode FuseFs::Overlay(meta::Inode inode) {
  auto st = State(inode.id());
  if (!st) return inode;
  std::lock_guard lock(st->mu);
  if (st->inode.truncate_version() == inode.truncate_version() &&
      st->written_end > inode.length()) {
    inode.set_length(st->written_end);
  }
  if (st->mtime_ns > inode.mtime_ns()) {
    inode.set_mtime_ns(st->mtime_ns);
    inode.set_ctime_ns(std::max(inode.ctime_ns(), st->mtime_ns));
  }
  return inode;
}

void FuseFs::FillAttr(const meta::Inode& inode, struct stat* s) {
  std::memset(s, 0, sizeof(*s));
  s->st_ino = inode.id();
  s->st_mode = TypeBits(inode.type()) | (inode.mode() & 07777);
  s->st_nlink = std::max<uint32_t>(inode.nlink(), inode.type() == meta::INODE_DIRECTORY ? 1 : 0);
  s->st_uid = inode.uid();
  s->st_gid = inode.gid();
  uint64_t size = 0;
  switch (inode.type()) {
    case meta::INODE_FILE:
      size = inode.length();
      break;
    case meta::INODE_SYMLINK:
      size = inode.symlink_target().size();
      break;
    case meta::INODE_DIRECTORY:
      size = 4096;
      break;
    default:
      break;
  }
  s->st_size = static_cast<off_t>(size);
  s->st_blocks = static_cast<blkcnt_t>((size + 511) / 512);
  uint64_t chunk = inode.layout().chunk_size();
  s->st_blksize =
      chunk >= 4096 ? static_cast<blksize_t>(std::min<uint64_t>(chunk, 4ull << 20)) : 4096;
  s->st_rdev = static_cast<dev_t>(inode.rdev());
  s->st_atim = FromNs(inode.atime_ns());
  s->st_mtim = FromNs(inode.mtime_ns());
  s->st_ctim = FromNs(inode.ctime_ns());
}

void FuseFs::FillEntry(const meta::Inode& inode, fuse_entry_param* e) {
  std::memset(e, 0, sizeof(*e));
  e->ino = inode.id();
  e->generation = 1;
  FillAttr(Overlay(inode), &e->attr);
  e->attr_timeout = config_.attr_timeout.Get();
  e->entry_timeout = config_.entry_timeout.Get();
}

void FuseFs::ReplyEntry(fuse_req_t req, const meta::Inode& inode) {
  fuse_entry_param e;
  FillEntry(inode, &e);
  fuse_reply_entry(req, &e);
}

FileHandle* FuseFs::NewHandle(const meta::Inode& inode, uint64_t session_id,
                              fuse_file_info& info) {
  auto* h = new FileHandle;
  h->state = Acquire(inode);
  h->session_id = session_id;
  h->writable = (info.flags & O_ACCMODE) != O_RDONLY;
  h->readable = (info.flags & O_ACCMODE) != O_WRONLY;
  if (h->session_id) {
    std::lock_guard lock(h->state->mu);
    h->state->any_session = h->session_id;
  }
  info.fh = reinterpret_cast<uint64_t>(h);
  info.direct_io = config_.direct_io.Get() || (info.flags & O_DIRECT);
  h->direct = info.direct_io;
  info.keep_cache = 0;
  return h;
}

void FuseFs::ReplyAttr(fuse_req_t req, const meta::Inode& inode) {
  struct stat s;
  FillAttr(Overlay(inode), &s);
  fuse_reply_attr(req, &s, config_.attr_timeout.Get());
}

// ---- namespace ----------------------------------------------------------------------------------

void FuseFs::Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  meta::StatReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(parent, name);
  r.set_follow(false);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::StatRsp>(meta::META_STAT, r);
    if (rsp.ok()) {
      ReplyEntry(req, rsp->inode());
    } else if (rsp.status().errno_value() == ENOENT && config_.negative_timeout.Get() > 0) {
      fuse_entry_param e;
      std::memset(&e, 0, sizeof(e));
      e.entry_timeout = config_.negative_timeout.Get();
      fuse_reply_entry(req, &e);
    } else {
      fuse_reply_err(req, Errno(rsp.status()));
    }
  });
}

void FuseFs::Getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  meta::BatchStatReq r;
  *r.mutable_user() = User(req);
  r.add_inode_ids(ino);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::BatchStatRsp>(meta::META_BATCH_STAT, r);
    if (!rsp.ok()) {
      fuse_reply_err(req, Errno(rsp.status()));
    } else if (rsp->inodes_size() != 1 || rsp->inodes(0).id() == 0) {
      fuse_reply_err(req, ENOENT);
    } else {
      ReplyAttr(req, rsp->inodes(0));
    }
  });
}

void FuseFs::Setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                     fuse_file_info*) {
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
  Spawn([this, req, r, truncate, ino]() -> awaitable<void> {
    auto st = State(ino);
    std::optional<net::AsyncMutex::Guard> guard;
    if (st) {
      guard.emplace(co_await st->io.Scoped());
      // Buffered bytes must land before the length changes (they may lie past the new end).
      Status fs = co_await FlushBufferLocked(*st);
      if (!fs.ok()) {
        fuse_reply_err(req, Errno(fs));
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
      fuse_reply_err(req, Errno(rsp.status()));
      co_return;
    }
    if (st && truncate) {
      std::lock_guard lock(st->mu);
      st->inode = rsp->inode();
      st->written_end = 0;
      st->length_dirty = false;
    }
    ReplyAttr(req, rsp->inode());
  });
}

void FuseFs::Readlink(fuse_req_t req, fuse_ino_t ino) {
  meta::ReadlinkReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(ino);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::ReadlinkRsp>(meta::META_READLINK, r);
    if (!rsp.ok()) {
      fuse_reply_err(req, Errno(rsp.status()));
    } else {
      fuse_reply_readlink(req, rsp->target().c_str());
    }
  });
}

void FuseFs::Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  auto user = User(req);
  if (S_ISREG(mode)) {
    meta::CreateReq r;
    *r.mutable_user() = user;
    *r.mutable_path() = At(parent, name);
    r.set_flags(O_CREAT | O_EXCL | O_RDONLY);
    r.set_mode(mode & 07777);
    r.set_umask(fuse_req_ctx(req)->umask);
    Spawn([this, req, r]() -> awaitable<void> {
      auto rsp = co_await client_.meta().Call<meta::CreateRsp>(meta::META_CREATE, r);
      if (!rsp.ok()) {
        fuse_reply_err(req, Errno(rsp.status()));
      } else {
        ReplyEntry(req, rsp->inode());
      }
    });
    return;
  }
  meta::MknodReq r;
  *r.mutable_user() = user;
  *r.mutable_path() = At(parent, name);
  if (S_ISFIFO(mode)) {
    r.set_type(meta::INODE_FIFO);
  } else if (S_ISSOCK(mode)) {
    r.set_type(meta::INODE_SOCKET);
  } else if (S_ISCHR(mode)) {
    r.set_type(meta::INODE_CHAR_DEVICE);
  } else if (S_ISBLK(mode)) {
    r.set_type(meta::INODE_BLOCK_DEVICE);
  } else {
    fuse_reply_err(req, EINVAL);
    return;
  }
  r.set_mode(mode & 07777);
  r.set_rdev(rdev);
  r.set_umask(fuse_req_ctx(req)->umask);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::MknodRsp>(meta::META_MKNOD, r);
    if (!rsp.ok()) {
      fuse_reply_err(req, Errno(rsp.status()));
    } else {
      ReplyEntry(req, rsp->inode());
    }
  });
}

void FuseFs::Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  meta::MkdirReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(parent, name);
  r.set_mode(mode & 07777);
  r.set_umask(fuse_req_ctx(req)->umask);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::MkdirRsp>(meta::META_MKDIR, r);
    if (!rsp.ok()) {
      fuse_reply_err(req, Errno(rsp.status()));
    } else {
      ReplyEntry(req, rsp->inode());
    }
  });
}

void FuseFs::Unlink(fuse_req_t req, fuse_ino_t parent, const char* name, bool dir) {
  meta::RemoveReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(parent, name);
  r.set_kind(dir ? meta::REMOVE_RMDIR : meta::REMOVE_UNLINK);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::RemoveRsp>(meta::META_REMOVE, r);
    fuse_reply_err(req, rsp.ok() ? 0 : Errno(rsp.status()));
  });
}

void FuseFs::Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  meta::SymlinkReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(parent, name);
  r.set_target(link);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::SymlinkRsp>(meta::META_SYMLINK, r);
    if (!rsp.ok()) {
      fuse_reply_err(req, Errno(rsp.status()));
    } else {
      ReplyEntry(req, rsp->inode());
    }
  });
}

void FuseFs::Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                    const char* newname, unsigned int flags) {
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE)) {
    fuse_reply_err(req, EINVAL);  // RENAME_EXCHANGE and RENAME_WHITEOUT are not supported
    return;
  }
  meta::RenameReq r;
  *r.mutable_user() = User(req);
  *r.mutable_src() = At(parent, name);
  *r.mutable_dst() = At(newparent, newname);
  r.set_no_replace((flags & RENAME_NOREPLACE) != 0);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::RenameRsp>(meta::META_RENAME, r);
    fuse_reply_err(req, rsp.ok() ? 0 : Errno(rsp.status()));
  });
}

void FuseFs::Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  meta::LinkReq r;
  *r.mutable_user() = User(req);
  *r.mutable_old_path() = At(ino);
  *r.mutable_new_path() = At(newparent, newname);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::LinkRsp>(meta::META_LINK, r);
    if (!rsp.ok()) {
      fuse_reply_err(req, Errno(rsp.status()));
    } else {
      ReplyEntry(req, rsp->inode());
    }
  });
}

// ---- files
// ---------------------------------------------------------------------------------------

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

// ---- directories
// ---------------------------------------------------------------------------------

void FuseFs::Opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  meta::BatchStatReq r;
  *r.mutable_user() = User(req);
  r.add_inode_ids(ino);
  fuse_file_info info = *fi;
  auto user = r.user();
  Spawn([this, req, r, info, user]() mutable -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::BatchStatRsp>(meta::META_BATCH_STAT, r);
    if (!rsp.ok()) {
      fuse_reply_err(req, Errno(rsp.status()));
      co_return;
    }
    if (rsp->inodes_size() != 1 || rsp->inodes(0).id() == 0) {
      fuse_reply_err(req, ENOENT);
      co_return;
    }
    const auto& inode = rsp->inodes(0);
    if (inode.type() != meta::INODE_DIRECTORY) {
      fuse_reply_err(req, ENOTDIR);
      co_return;
    }
    // Listing needs read permission (search permission is checked by each readdir page).
    Status acc = meta::CheckAccess(user, inode, meta::kMayRead);
    if (!acc.ok()) {
      fuse_reply_err(req, Errno(acc));
      co_return;
    }
    auto* d = new DirHandle;
    d->parent = inode.parent() == 0 ? inode.id() : inode.parent();
    info.fh = reinterpret_cast<uint64_t>(d);
    info.cache_readdir = 0;
    if (fuse_reply_open(req, &info) == -ENOENT) delete d;
  });
}

void FuseFs::Readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                     bool plus) {
  auto* d = Dh(fi);
  auto user = User(req);
  Spawn([this, req, ino, size, off, d, plus, user]() -> awaitable<void> {
    // Offsets: 0 start, 1 after ".", 2 after "..", 2 + i after entry i.
    size_t want_index = off <= 2 ? 0 : static_cast<size_t>(off - 2);
    for (;;) {
      bool need;
      meta::ReaddirReq r;
      {
        std::lock_guard lock(d->mu);
        need = want_index + 64 > d->entries.size() && d->has_more;
        if (need) {
          *r.mutable_user() = user;
          *r.mutable_path() = At(ino);
          r.set_cursor(d->cursor);
          r.set_limit(1024);
          r.set_with_inodes(true);
        }
      }
      if (!need) break;
      auto rsp = co_await client_.meta().Call<meta::ReaddirRsp>(meta::META_READDIR, r);
      if (!rsp.ok()) {
        fuse_reply_err(req, Errno(rsp.status()));
        co_return;
      }
      std::lock_guard lock(d->mu);
      for (auto& e : *rsp->mutable_entries()) {
        d->cursor = e.name();
        d->entries.push_back(std::move(e));
      }
      d->has_more = rsp->has_more() && rsp->entries_size() > 0;
    }
    std::vector<char> buf(size);
    size_t pos = 0;
    // Released before the reply: once the kernel has its answer it may close the directory, and
    // Releasedir frees `d` on another thread.
    std::unique_lock lock(d->mu);
    auto add = [&](const std::string& name, const meta::Inode* inode, uint64_t ino_num, mode_t type,
                   off_t next) -> bool {
      size_t n;
      if (plus) {
        fuse_entry_param e;
        std::memset(&e, 0, sizeof(e));
        if (inode) {
          FillEntry(*inode, &e);
        } else {
          e.attr.st_ino = ino_num;
          e.attr.st_mode = type;
        }
        n = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, name.c_str(), &e, next);
      } else {
        struct stat s;
        std::memset(&s, 0, sizeof(s));
        s.st_ino = ino_num;
        s.st_mode = type;
        n = fuse_add_direntry(req, buf.data() + pos, size - pos, name.c_str(), &s, next);
      }
      if (n > size - pos) return false;
      pos += n;
      return true;
    };
    off_t cur = off;
    if (cur == 0) {
      if (!add(".", nullptr, ino, S_IFDIR, 1)) goto done;
      cur = 1;
    }
    if (cur == 1) {
      if (!add("..", nullptr, d->parent, S_IFDIR, 2)) goto done;
      cur = 2;
    }
    for (size_t i = static_cast<size_t>(cur - 2); i < d->entries.size(); ++i) {
      const auto& e = d->entries[i];
      const meta::Inode* inode = e.has_inode() && e.inode().id() != 0 ? &e.inode() : nullptr;
      if (!add(e.name(), inode, e.inode_id(), TypeBits(e.type()), static_cast<off_t>(i + 3))) {
        break;
      }
    }
  done:
    lock.unlock();
    fuse_reply_buf(req, buf.data(), pos);
  });
}

void FuseFs::Releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete Dh(fi);
  fuse_reply_err(req, 0);
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
      fuse_reply_err(req, Errno(rsp.status()));
      co_return;
    }
    fuse_reply_statfs(req, &s);
  });
}

// ---- xattrs
// --------------------------------------------------------------------------------------

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
    fuse_reply_err(req, rsp.ok() ? 0 : Errno(rsp.status()));
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
      fuse_reply_err(req, Errno(rsp.status()));
    } else if (size == 0) {
      fuse_reply_xattr(req, rsp->value().size());
    } else if (size < rsp->value().size()) {
      fuse_reply_err(req, ERANGE);
    } else {
      fuse_reply_buf(req, rsp->value().data(), rsp->value().size());
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
      fuse_reply_err(req, Errno(rsp.status()));
      co_return;
    }
    std::string out;
    for (const auto& n : rsp->names()) {
      out += n;
      out.push_back('\0');
    }
    if (size == 0) {
      fuse_reply_xattr(req, out.size());
    } else if (size < out.size()) {
      fuse_reply_err(req, ERANGE);
    } else {
      fuse_reply_buf(req, out.data(), out.size());
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
    fuse_reply_err(req, rsp.ok() ? 0 : Errno(rsp.status()));
  });
}

void FuseFs::Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  meta::BatchStatReq r;
  *r.mutable_user() = User(req);
  r.add_inode_ids(ino);
  Spawn([this, req, r, mask]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::BatchStatRsp>(meta::META_BATCH_STAT, r);
    if (!rsp.ok()) {
      fuse_reply_err(req, Errno(rsp.status()));
      co_return;
    }
    if (rsp->inodes_size() != 1 || rsp->inodes(0).id() == 0) {
      fuse_reply_err(req, ENOENT);
      co_return;
    }
    uint32_t m = 0;
    if (mask & R_OK) m |= meta::kMayRead;
    if (mask & W_OK) m |= meta::kMayWrite;
    if (mask & X_OK) m |= meta::kMayExec;
    if (m == 0) {
      fuse_reply_err(req, 0);
      co_return;
    }
    Status s = meta::CheckAccess(r.user(), rsp->inodes(0), m);
    fuse_reply_err(req, s.ok() ? 0 : Errno(s));
  });
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

void FuseFs::Ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void*, fuse_file_info* fi,
                   unsigned flags, const void* in_buf, size_t in_bufsz, size_t) {
  if (flags & FUSE_IOCTL_COMPAT) {
    fuse_reply_err(req, ENOSYS);
    return;
  }
  if (cmd == HF3FS_IOC_RECURSIVE_REMOVE) {
    if (in_bufsz < sizeof(hf3fs_ioc_remove)) {
      fuse_reply_err(req, EINVAL);
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
      fuse_reply_err(req, EINVAL);
      return;
    }
    Spawn([this, req, r, ino]() -> awaitable<void> {
      auto rsp = co_await client_.meta().Call<meta::RemoveRsp>(meta::META_REMOVE, r);
      if (rsp.ok()) {
        // The kernel still caches the entry: drop it, so the name is gone at once (an ioctl
        // holds no directory lock, so this cannot deadlock).
        const std::string& name = r.path().path();
        fuse_lowlevel_notify_inval_entry(session_, ino, name.data(), name.size());
        fuse_reply_ioctl(req, 0, nullptr, 0);
      } else {
        fuse_reply_err(req, Errno(rsp.status()));
      }
    });
    return;
  }
  if ((cmd == HF3FS_IOC_FSYNC_EXACT || cmd == HF3FS_IOC_USRBIO_BIND) && (flags & FUSE_IOCTL_DIR)) {
    // These take a file's handle; a directory's fh is a DirHandle, never to be read as one.
    fuse_reply_err(req, EINVAL);
    return;
  }
  if (cmd == HF3FS_IOC_FSYNC_EXACT) {
    auto* h = Fh(fi);
    if (!h || fi->fh == 0) {
      fuse_reply_err(req, EBADF);
      return;
    }
    auto st = h->state;
    uint64_t session = h->session_id;
    if (!st) {
      fuse_reply_err(req, EBADF);
      return;
    }
    Spawn([this, req, st, session]() -> awaitable<void> {
      Status s = co_await SyncInode(*st, session, true);
      if (s.ok()) {
        fuse_reply_ioctl(req, 0, nullptr, 0);
      } else {
        fuse_reply_err(req, Errno(s));
      }
    });
    return;
  }
  if (cmd == HF3FS_IOC_USRBIO_INFO) {
    hf3fs_ioc_usrbio_info info{};
    if (!usrbio_) {
      fuse_reply_err(req, ENOTTY);  // USRBIO is off on this mount
      return;
    }
    info.version = usrbio::kProtocolVersion;
    info.pid = static_cast<uint32_t>(getpid());
    std::snprintf(info.socket, sizeof(info.socket), "%s", usrbio_->address().c_str());
    fuse_reply_ioctl(req, 0, &info, sizeof(info));
    return;
  }
  if (cmd == HF3FS_IOC_USRBIO_BIND) {
    // Only this daemon binds (its USRBIO server, on a descriptor a process handed over): the
    // caller's thread must be one of ours.
    std::string task = fmt::format("/proc/self/task/{}", fuse_req_ctx(req)->pid);
    auto* h = Fh(fi);
    if (access(task.c_str(), F_OK) != 0) {
      fuse_reply_err(req, EPERM);
      return;
    }
    if (!h || fi->fh == 0) {
      fuse_reply_err(req, EBADF);
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
    fuse_reply_ioctl(req, 0, &out, sizeof(out));
    return;
  }
  fuse_reply_err(req, ENOTTY);
}

// The FUSE connection's number in /sys/fs/fuse/connections (the kernel's encoding of the mount's
// device number), read from /proc/self/mountinfo without touching the file system; 0 if unknown.
uint64_t FuseFs::FuseConnectionId(const std::string& mountpoint) {
  char real[PATH_MAX];
  std::string mp = realpath(mountpoint.c_str(), real) ? std::string(real) : mountpoint;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  uint64_t found = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    fields >> id >> parent >> devno >> root >> point;
    // Mount points escape blanks as octal (\040).
    std::string unescaped;
    for (size_t i = 0; i < point.size(); ++i) {
      if (point[i] == '\\' && i + 3 < point.size()) {
        unescaped += static_cast<char>(std::stoi(point.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        unescaped += point[i];
      }
    }
    if (unescaped != mp || line.find(" fuse.hf3fs ") == std::string::npos) continue;
    unsigned major = 0, minor = 0;
    if (std::sscanf(devno.c_str(), "%u:%u", &major, &minor) == 2) {
      found = (uint64_t{major} << 20) | minor;  // the last (newest) mount there wins
    }
  }
  return found;
}

void FuseFs::AbortConnection() {
  if (conn_id_ == 0) {
    HF3FS_LOG_WARN("fuse.abort_skipped reason=\"connection number unknown\"");
    return;
  }
  const char* dir = "/sys/fs/fuse/connections";
  std::string path = fmt::format("{}/{}/abort", dir, conn_id_);
  if (access(path.c_str(), F_OK) != 0) {
    // The control file system is not mounted on every system.
    if (mount("fusectl", dir, "fusectl", 0, nullptr) != 0 && errno != EBUSY) {
      HF3FS_LOG_WARN("fuse.abort_failed error=\"cannot mount fusectl at {}: {}\"", dir,
                     strerror(errno));
      return;
    }
  }
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, "1", 1) != 1) {
    HF3FS_LOG_WARN("fuse.abort_failed path={} error=\"{}\"", path, strerror(errno));
  } else {
    HF3FS_LOG_INFO("fuse.connection_aborted reason=\"files still open at unmount\" connection={}",
                   conn_id_);
  }
  if (fd >= 0) close(fd);
}

std::optional<BoundFile> FuseFs::TakeBinding(uint64_t token) {
  std::lock_guard lock(bind_mu_);
  auto it = bindings_.find(token);
  if (it == bindings_.end()) return std::nullopt;
  BoundFile b = std::move(it->second);
  bindings_.erase(it);
  return b;
}

void FuseFs::NoteExternalWrite(InodeState& st, uint64_t end) {
  std::lock_guard lock(st.mu);
  st.written_end = std::max(st.written_end, end);
  st.length_dirty = true;
  st.mtime_ns = NowNs();
}

void FuseFs::InvalidatePages(uint64_t ino) {
  if (session_ && !exiting_) fuse_lowlevel_notify_inval_inode(session_, ino, 0, 0);
}

// ---- timer
// ---------------------------------------------------------------------------------------

awaitable<void> FuseFs::TimerLoop() {
  while (!exiting_) {
    timer_.expires_after(config_.flush_interval.Get());
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (exiting_) break;
    std::vector<std::shared_ptr<InodeState>> states;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, st] : open_) states.push_back(st);
    }
    auto due = Clock::now() - config_.flush_interval.Get();
    for (auto& st : states) {
      bool flush, sync;
      {
        std::lock_guard lock(st->mu);
        flush = !st->buf.empty() && st->buf_since <= due;
        sync = st->length_dirty && st->any_session != 0;
      }
      if (!flush && !sync) continue;
      // Each inode on its own coroutine: one slow chain does not hold up the others.
      Spawn([this, st, sync]() -> awaitable<void> {
        Status s;
        if (sync) {
          s = co_await SyncInode(*st, 0, false);
        } else {
          auto guard = co_await st->io.Scoped();
          s = co_await FlushBufferLocked(*st);
        }
        if (!s.ok()) {
          std::lock_guard lock(st->mu);
          if (st->error.ok()) st->error = s;
        }
      });
    }
  }
  timer_running_ = false;
  timer_running_.notify_all();
}

// ---- session
// -------------------------------------------------------------------------------------

void FuseFs::Init(fuse_conn_info* conn) {
  conn->max_write = static_cast<unsigned>(config_.max_write.Get());
  conn->max_readahead = std::max<unsigned>(conn->max_readahead, 1u << 20);
  auto want = [conn](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  want(FUSE_CAP_ATOMIC_O_TRUNC);
  want(FUSE_CAP_ASYNC_READ);
  want(FUSE_CAP_PARALLEL_DIROPS);
  want(FUSE_CAP_IOCTL_DIR);
  want(FUSE_CAP_READDIRPLUS);
  want(FUSE_CAP_READDIRPLUS_AUTO);
  want(FUSE_CAP_EXPORT_SUPPORT);
  want(FUSE_CAP_HANDLE_KILLPRIV);
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // Permissions are checked twice: by the kernel (POSIX ACLs on, which turns on
  // default_permissions) from cached attributes and ACLs, so paths whose entries the kernel
  // caches are still checked for every user, and by meta on every operation that reaches it.
  // flock/fcntl locks stay local to this machine (no lock operations).
  want(FUSE_CAP_POSIX_ACL);
  // The kernel passes the mode unmasked with the caller's umask; meta applies the umask unless
  // the parent has a default ACL, as Linux does. (Without this capability the kernel applies the
  // umask itself, and the umask meta gets is applied a second time, harmlessly.)
  want(FUSE_CAP_DONT_MASK);
  conn->want &= ~(FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_LOCKS);
}

namespace {
FuseFs* Self(fuse_req_t req) { return static_cast<FuseFs*>(fuse_req_userdata(req)); }

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops o;
  std::memset(&o, 0, sizeof(o));
  o.init = [](void* ud, fuse_conn_info* c) { static_cast<FuseFs*>(ud)->Init(c); };
  o.lookup = [](fuse_req_t r, fuse_ino_t p, const char* n) { Self(r)->Lookup(r, p, n); };
  o.forget = [](fuse_req_t r, fuse_ino_t, uint64_t) { fuse_reply_none(r); };
  o.forget_multi = [](fuse_req_t r, size_t, fuse_forget_data*) { fuse_reply_none(r); };
  o.getattr = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { Self(r)->Getattr(r, i, f); };
  o.setattr = [](fuse_req_t r, fuse_ino_t i, struct stat* a, int s, fuse_file_info* f) {
    Self(r)->Setattr(r, i, a, s, f);
  };
  o.readlink = [](fuse_req_t r, fuse_ino_t i) { Self(r)->Readlink(r, i); };
  o.mknod = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m, dev_t d) {
    Self(r)->Mknod(r, p, n, m, d);
  };
  o.mkdir = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m) { Self(r)->Mkdir(r, p, n, m); };
  o.unlink = [](fuse_req_t r, fuse_ino_t p, const char* n) { Self(r)->Unlink(r, p, n, false); };
  o.rmdir = [](fuse_req_t r, fuse_ino_t p, const char* n) { Self(r)->Unlink(r, p, n, true); };
  o.symlink = [](fuse_req_t r, const char* l, fuse_ino_t p, const char* n) {
    Self(r)->Symlink(r, l, p, n);
  };
  o.rename = [](fuse_req_t r, fuse_ino_t p, const char* n, fuse_ino_t np, const char* nn,
                unsigned f) { Self(r)->Rename(r, p, n, np, nn, f); };
  o.link = [](fuse_req_t r, fuse_ino_t i, fuse_ino_t np, const char* nn) {
    Self(r)->Link(r, i, np, nn);
  };
  o.open = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { Self(r)->Open(r, i, f); };
  o.read = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) {
    Self(r)->Read(r, i, s, o, f);
  };
  o.write = [](fuse_req_t r, fuse_ino_t i, const char* b, size_t s, off_t o, fuse_file_info* f) {
    Self(r)->Write(r, i, b, s, o, f);
  };
  o.flush = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { Self(r)->Flush(r, i, f); };
  o.release = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { Self(r)->Release(r, i, f); };
  o.fsync = [](fuse_req_t r, fuse_ino_t i, int d, fuse_file_info* f) {
    Self(r)->Fsync(r, i, d, f);
  };
  o.opendir = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { Self(r)->Opendir(r, i, f); };
  o.readdir = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) {
    Self(r)->Readdir(r, i, s, o, f, false);
  };
  o.readdirplus = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) {
    Self(r)->Readdir(r, i, s, o, f, true);
  };
  o.releasedir = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) {
    Self(r)->Releasedir(r, i, f);
  };
  o.fsyncdir = [](fuse_req_t r, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(r, 0); };
  o.statfs = [](fuse_req_t r, fuse_ino_t i) { Self(r)->Statfs(r, i); };
  o.setxattr = [](fuse_req_t r, fuse_ino_t i, const char* n, const char* v, size_t s, int f) {
    Self(r)->Setxattr(r, i, n, v, s, f);
  };
  o.getxattr = [](fuse_req_t r, fuse_ino_t i, const char* n, size_t s) {
    Self(r)->Getxattr(r, i, n, s);
  };
  o.listxattr = [](fuse_req_t r, fuse_ino_t i, size_t s) { Self(r)->Listxattr(r, i, s); };
  o.removexattr = [](fuse_req_t r, fuse_ino_t i, const char* n) { Self(r)->Removexattr(r, i, n); };
  o.access = [](fuse_req_t r, fuse_ino_t i, int m) { Self(r)->Access(r, i, m); };
  o.create = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m, fuse_file_info* f) {
    Self(r)->Create(r, p, n, m, f);
  };
  o.fallocate = [](fuse_req_t r, fuse_ino_t i, int m, off_t o, off_t l, fuse_file_info* f) {
    Self(r)->Fallocate(r, i, m, o, l, f);
  };
  o.ioctl = [](fuse_req_t r, fuse_ino_t i, unsigned int c, void* a, fuse_file_info* f, unsigned fl,
               const void* ib, size_t is,
               size_t os) { Self(r)->Ioctl(r, i, c, a, f, fl, ib, is, os); };
  return o;
}();
}  // namespace

Status FuseFs::Mount() {
  std::vector<std::string> args = {"hf3fs", "-o", "fsname=hf3fs,subtype=hf3fs"};
  if (config_.allow_other.Get()) args.insert(args.end(), {"-o", "allow_other"});
  if (config_.read_only.Get()) args.insert(args.end(), {"-o", "ro"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  session_ = fuse_session_new(&fargs, &kOps, sizeof(kOps), this);
  if (!session_) return Status(StatusCode::kInternal, "fuse_session_new failed (see stderr)");
  const std::string& mp = config_.mountpoint.Get();
  if (fuse_session_mount(session_, mp.c_str()) != 0) {
    return MakeStatus(StatusCode::kIoError,
                      "cannot mount at {} (does it exist, is it empty, is /dev/fuse there, and "
                      "are we root or is fusermount3 installed?)",
                      mp);
  }
  conn_id_ = FuseConnectionId(mp);
  return Status::Ok();
}

void FuseFs::Start() {
  timer_running_ = true;
  asio::co_spawn(client_.pool().Get(0), TimerLoop(), asio::detached);
  loop_ = std::thread([this] {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, config_.fuse_threads.Get());
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    int rc = fuse_session_loop_mt(session_, cfg);
    fuse_loop_cfg_destroy(cfg);
    HF3FS_LOG_INFO("fuse.loop_ended rc={}", rc);
    ended_ = true;
    if (on_ended_ && !exiting_) on_ended_();
  });
}

void FuseFs::Exit() {
  if (exiting_.exchange(true)) return;
  if (session_) {
    fuse_session_exit(session_);
    fuse_session_unmount(session_);
  }
  // The unmount is lazy: while a process still holds a file of the mount open, the kernel keeps
  // the connection and our threads keep waiting for requests. Give it a moment, then abort the
  // connection (those processes get ENOTCONN) so the buffered writes below still get flushed.
  for (int i = 0; i < 40 && !ended_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!ended_ && loop_.joinable()) AbortConnection();
  if (loop_.joinable()) loop_.join();
  asio::post(client_.pool().Get(0), [this] { timer_.cancel(); });
  while (timer_running_) timer_running_.wait(true);
  // Handles the kernel never released (unmounted under open files): flush what they buffered.
  std::vector<std::shared_ptr<InodeState>> states;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, st] : open_) states.push_back(st);
  }
  for (auto& st : states) {
    Status s = client::RunSync(client_.pool().Get(0), SyncInode(*st, 0, false));
    if (!s.ok()) HF3FS_LOG_WARN("fuse.final_flush_failed inode={} error=\"{}\"", st->id, s);
  }
}

}  // namespace hf3fs::fuse
