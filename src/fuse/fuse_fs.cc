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
#include <unordered_map>

#include "common/logging.h"
#include "fuse/fuse_util.h"
#include "fuse/hf3fs_ioctl.h"
#include "fuse/usrbio_server.h"
#include "meta/permission.h"
#include "usrbio/usrbio_protocol.h"

namespace hf3fs::fuse {

using client::FsClient;

namespace {

constexpr const char* kOpNames[] = {
    "lookup",      "forget",     "forget_multi", "getattr",   "setattr",  "readlink", "mknod",
    "mkdir",       "unlink",     "rmdir",        "symlink",   "rename",   "link",     "open",
    "read",        "write",      "flush",        "release",   "fsync",    "opendir",  "readdir",
    "readdirplus", "releasedir", "fsyncdir",     "statfs",    "setxattr", "getxattr", "listxattr",
    "removexattr", "access",     "create",       "fallocate", "ioctl",    "flock"};
static_assert(std::size(kOpNames) == static_cast<size_t>(FuseOp::kCount));

// Requests in flight: their operation and arrival. Every request is answered exactly once (or,
// for forgets, answered with none), which is when it leaves.
class OpClock {
 public:
  OpClock() {
    auto& reg = metrics::Registry::Global();
    for (size_t i = 0; i < hist_.size(); ++i) {
      hist_[i] = reg.GetHistogram("hf3fs_fuse_op_seconds",
                                  "FUSE requests from arrival to reply, by operation",
                                  {{"op", kOpNames[i]}});
    }
  }
  void Begin(fuse_req_t req, FuseOp op) {
    std::lock_guard lock(mu_);
    inflight_[req] = {op, Clock::now()};
  }
  void Finished(fuse_req_t req) {
    std::pair<FuseOp, Clock::time_point> e;
    {
      std::lock_guard lock(mu_);
      auto it = inflight_.find(req);
      if (it == inflight_.end()) return;
      e = it->second;
      inflight_.erase(it);
    }
    hist_[static_cast<size_t>(e.first)]->Observe(
        std::chrono::duration<double>(Clock::now() - e.second).count());
  }

 private:
  std::mutex mu_;
  std::unordered_map<fuse_req_t, std::pair<FuseOp, Clock::time_point>> inflight_;
  std::array<metrics::Histogram*, static_cast<size_t>(FuseOp::kCount)> hist_{};
};

OpClock& Clocks() {
  static auto* clock = new OpClock();
  return *clock;
}

}  // namespace

void Begin(fuse_req_t req, FuseOp op) { Clocks().Begin(req, op); }
void Finished(fuse_req_t req) { Clocks().Finished(req); }

metrics::Counter* SyncCounter(std::string_view kind) {
  return metrics::Registry::Global().GetCounter(
      "hf3fs_fuse_syncs_total", "durable syncs requested through the mount, by entry point",
      {{"kind", std::string(kind)}});
}

FuseFs::FuseFs(FsClient& client, MountSection& config)
    : client_(client),
      config_(config),
      timer_(client.pool().Get(0)),
      lookahead_(Lookahead::Options{
          .max_entries = config.lookahead_entries.Get(),
          .ttl = std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::chrono::duration<double>(config.entry_timeout.Get())),
      }) {}

FuseFs::~FuseFs() {
  Exit();
  if (session_) fuse_session_destroy(session_);
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
  if (!st) {
    st = std::make_shared<InodeState>(inode.id());
    std::lock_guard dirty(dirty_mu_);
    auto it = closed_dirty_.find(inode.id());
    if (it != closed_dirty_.end()) {  // written by an earlier open and not fsync'd since
      st->dirty_chains = std::move(it->second);
      closed_dirty_.erase(it);
    }
  }
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
    if (!st->dirty_chains.empty()) {
      // A later open's fsync must still flush these chains. Past the bound, an evicted file's
      // chains go to a set that every fsync flushes (bounded by the chains of the cluster).
      std::lock_guard dirty(dirty_mu_);
      if (closed_dirty_.size() >= kMaxClosedDirty) {
        auto victim = closed_dirty_.begin();
        evicted_dirty_.insert(victim->second.begin(), victim->second.end());
        closed_dirty_.erase(victim);
      }
      closed_dirty_[st->id] = std::move(st->dirty_chains);
    }
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

void FuseFs::RememberDir(const meta::Inode& inode) {
  if (inode.type() != meta::INODE_DIRECTORY || inode.id() == 0) return;
  std::lock_guard lock(dir_attr_mu_);
  if (dir_attrs_.size() >= kMaxCachedDirs) dir_attrs_.clear();  // rare: start over
  dir_attrs_[inode.id()] = CachedDirAttr{inode, Clock::now()};
}

std::optional<meta::Inode> FuseFs::CachedDir(uint64_t ino) {
  auto ttl = std::chrono::duration<double>(config_.attr_timeout.Get());
  std::lock_guard lock(dir_attr_mu_);
  auto it = dir_attrs_.find(ino);
  if (it == dir_attrs_.end()) return std::nullopt;
  if (Clock::now() - it->second.at >= ttl) {
    dir_attrs_.erase(it);
    return std::nullopt;
  }
  return it->second.inode;
}

void FuseFs::ForgetDir(uint64_t ino) {
  std::lock_guard lock(dir_attr_mu_);
  dir_attrs_.erase(ino);
}

void FuseFs::FillEntry(const meta::Inode& inode, fuse_entry_param* e) {
  RememberDir(inode);
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
  reply::Entry(req, &e);
}

FileHandle* FuseFs::NewHandle(const meta::Inode& inode, uint64_t session_id, fuse_file_info& info) {
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
  // A read-only descriptor has nothing to flush at close(2): the kernel need not send FLUSH (one
  // wake-up of the mount and of the closing program fewer per opened file; kernel 5.19+).
  info.noflush = !h->writable;
  h->direct = info.direct_io;
  h->sync = (info.flags & O_DSYNC) != 0;  // O_SYNC includes the O_DSYNC bit
  bool changed = false;
  info.keep_cache = KeepCache(inode, &changed) ? 1 : 0;
  if (changed && session_ && !exiting_) {
    // The kernel's cached attributes predate the change: left alone, their refresh after this
    // open would find the new mtime and drop the pages read meanwhile (auto_inval_data) — the
    // fresh ones. Expire them now, so that the refresh comes first.
    fuse_lowlevel_notify_inval_inode(session_, inode.id(), -1, 0);
  }
  return h;
}

bool FuseFs::KeepCache(const meta::Inode& inode, bool* changed) {
  CacheStamp now{inode.mtime_ns(), inode.ctime_ns(), inode.length(), inode.truncate_version()};
  std::lock_guard lock(stamp_mu_);
  if (!config_.keep_cache.Get()) {
    stamps_.clear();
    return false;
  }
  auto [it, added] = stamps_.try_emplace(inode.id(), now);
  if (!added) {
    bool same = it->second == now;
    *changed = it->second.mtime_ns != now.mtime_ns || it->second.length != now.length;
    it->second = now;
    return same;
  }
  if (stamps_.size() > kMaxCacheStamps) {
    // Rare (a million files opened): start over; each file's next open reads it again.
    stamps_.clear();
    stamps_.emplace(inode.id(), now);
  }
  return false;  // no stamp: whatever the kernel holds may be older than anything meta said
}

void FuseFs::ForgetCache(uint64_t ino) {
  std::lock_guard lock(stamp_mu_);
  stamps_.erase(ino);
}

void FuseFs::ReplyAttr(fuse_req_t req, const meta::Inode& inode) {
  RememberDir(inode);
  struct stat s;
  FillAttr(Overlay(inode), &s);
  reply::Attr(req, &s, config_.attr_timeout.Get());
}

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

void FuseFs::ApplyReadahead() {
  uint64_t bytes = config_.readahead.Get();
  if (bytes == 0 || conn_id_ == 0) return;
  // The kernel gives a FUSE mount a backing device named after its device number and caps its
  // readahead at 128 KiB when the connection starts; only the device's sysfs knob raises it.
  // Files opened from now on read ahead this far.
  auto path = fmt::format("/sys/class/bdi/{}:{}/read_ahead_kb", conn_id_ >> 20, conn_id_ & 0xfffff);
  std::string kb = std::to_string(bytes >> 10);
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, kb.data(), kb.size()) != static_cast<ssize_t>(kb.size())) {
    HF3FS_LOG_WARN(
        "fuse.readahead_not_set path={} error=\"{}\" hint=\"needs root; reads keep the "
        "kernel's 128 KiB readahead\"",
        path, strerror(errno));
  } else {
    HF3FS_LOG_INFO("fuse.readahead_set kib={} path={}", kb, path);
  }
  if (fd >= 0) close(fd);
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
  ForgetCache(st.id);
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
  want(FUSE_CAP_POSIX_ACL);
  // The kernel passes the mode unmasked with the caller's umask; meta applies the umask unless
  // the parent has a default ACL, as Linux does. (Without this capability the kernel applies the
  // umask itself, and the umask meta gets is applied a second time, harmlessly.)
  want(FUSE_CAP_DONT_MASK);
  // flock locks are held in meta, cluster-wide (docs/design/0012-cluster-locks.md); fcntl
  // (POSIX byte-range) locks stay with this machine's kernel (no getlk/setlk operations).
  conn->want &= ~(FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_LOCKS);
  if (config_.cluster_flock.Get()) want(FUSE_CAP_FLOCK_LOCKS);
  // After the kernel has taken the INIT reply (which caps readahead): the reply is sent when
  // this callback returns, and the timer fires well after.
  auto timer = std::make_shared<asio::steady_timer>(client_.pool().Get(0), 100ms);
  timer->async_wait([this, timer](const boost::system::error_code& ec) {
    if (!ec) ApplyReadahead();
  });
}

namespace {
FuseFs* Self(fuse_req_t req) { return static_cast<FuseFs*>(fuse_req_userdata(req)); }

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops o;
  std::memset(&o, 0, sizeof(o));
  o.init = [](void* ud, fuse_conn_info* c) { static_cast<FuseFs*>(ud)->Init(c); };
  o.lookup = [](fuse_req_t r, fuse_ino_t p, const char* n) {
    Begin(r, FuseOp::kLookup);
    Self(r)->Lookup(r, p, n);
  };
  o.forget = [](fuse_req_t r, fuse_ino_t, uint64_t) {
    Begin(r, FuseOp::kForget);
    reply::None(r);
  };
  o.forget_multi = [](fuse_req_t r, size_t, fuse_forget_data*) {
    Begin(r, FuseOp::kForgetMulti);
    reply::None(r);
  };
  o.getattr = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) {
    Begin(r, FuseOp::kGetattr);
    Self(r)->Getattr(r, i, f);
  };
  o.setattr = [](fuse_req_t r, fuse_ino_t i, struct stat* a, int s, fuse_file_info* f) {
    Begin(r, FuseOp::kSetattr);
    Self(r)->Setattr(r, i, a, s, f);
  };
  o.readlink = [](fuse_req_t r, fuse_ino_t i) {
    Begin(r, FuseOp::kReadlink);
    Self(r)->Readlink(r, i);
  };
  o.mknod = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m, dev_t d) {
    Begin(r, FuseOp::kMknod);
    Self(r)->Mknod(r, p, n, m, d);
  };
  o.mkdir = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m) {
    Begin(r, FuseOp::kMkdir);
    Self(r)->Mkdir(r, p, n, m);
  };
  o.unlink = [](fuse_req_t r, fuse_ino_t p, const char* n) {
    Begin(r, FuseOp::kUnlink);
    Self(r)->Unlink(r, p, n, false);
  };
  o.rmdir = [](fuse_req_t r, fuse_ino_t p, const char* n) {
    Begin(r, FuseOp::kRmdir);
    Self(r)->Unlink(r, p, n, true);
  };
  o.symlink = [](fuse_req_t r, const char* l, fuse_ino_t p, const char* n) {
    Begin(r, FuseOp::kSymlink);
    Self(r)->Symlink(r, l, p, n);
  };
  o.rename = [](fuse_req_t r, fuse_ino_t p, const char* n, fuse_ino_t np, const char* nn,
                unsigned f) {
    Begin(r, FuseOp::kRename);
    Self(r)->Rename(r, p, n, np, nn, f);
  };
  o.link = [](fuse_req_t r, fuse_ino_t i, fuse_ino_t np, const char* nn) {
    Begin(r, FuseOp::kLink);
    Self(r)->Link(r, i, np, nn);
  };
  o.open = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) {
    Begin(r, FuseOp::kOpen);
    Self(r)->Open(r, i, f);
  };
  o.read = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) {
    Begin(r, FuseOp::kRead);
    Self(r)->Read(r, i, s, o, f);
  };
  o.write = [](fuse_req_t r, fuse_ino_t i, const char* b, size_t s, off_t o, fuse_file_info* f) {
    Begin(r, FuseOp::kWrite);
    Self(r)->Write(r, i, b, s, o, f);
  };
  o.flush = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) {
    Begin(r, FuseOp::kFlush);
    Self(r)->Flush(r, i, f);
  };
  o.release = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) {
    Begin(r, FuseOp::kRelease);
    Self(r)->Release(r, i, f);
  };
  o.fsync = [](fuse_req_t r, fuse_ino_t i, int d, fuse_file_info* f) {
    Begin(r, FuseOp::kFsync);
    Self(r)->Fsync(r, i, d, f);
  };
  o.opendir = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) {
    Begin(r, FuseOp::kOpendir);
    Self(r)->Opendir(r, i, f);
  };
  o.readdir = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) {
    Begin(r, FuseOp::kReaddir);
    Self(r)->Readdir(r, i, s, o, f, false);
  };
  o.readdirplus = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) {
    Begin(r, FuseOp::kReaddirplus);
    Self(r)->Readdir(r, i, s, o, f, true);
  };
  o.releasedir = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) {
    Begin(r, FuseOp::kReleasedir);
    Self(r)->Releasedir(r, i, f);
  };
  o.fsyncdir = [](fuse_req_t r, fuse_ino_t i, int d, fuse_file_info* f) {
    Begin(r, FuseOp::kFsyncdir);
    Self(r)->Fsyncdir(r, i, d, f);
  };
  o.statfs = [](fuse_req_t r, fuse_ino_t i) {
    Begin(r, FuseOp::kStatfs);
    Self(r)->Statfs(r, i);
  };
  o.setxattr = [](fuse_req_t r, fuse_ino_t i, const char* n, const char* v, size_t s, int f) {
    Begin(r, FuseOp::kSetxattr);
    Self(r)->Setxattr(r, i, n, v, s, f);
  };
  o.getxattr = [](fuse_req_t r, fuse_ino_t i, const char* n, size_t s) {
    Begin(r, FuseOp::kGetxattr);
    Self(r)->Getxattr(r, i, n, s);
  };
  o.listxattr = [](fuse_req_t r, fuse_ino_t i, size_t s) {
    Begin(r, FuseOp::kListxattr);
    Self(r)->Listxattr(r, i, s);
  };
  o.removexattr = [](fuse_req_t r, fuse_ino_t i, const char* n) {
    Begin(r, FuseOp::kRemovexattr);
    Self(r)->Removexattr(r, i, n);
  };
  o.access = [](fuse_req_t r, fuse_ino_t i, int m) {
    Begin(r, FuseOp::kAccess);
    Self(r)->Access(r, i, m);
  };
  o.create = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m, fuse_file_info* f) {
    Begin(r, FuseOp::kCreate);
    Self(r)->Create(r, p, n, m, f);
  };
  o.fallocate = [](fuse_req_t r, fuse_ino_t i, int m, off_t o, off_t l, fuse_file_info* f) {
    Begin(r, FuseOp::kFallocate);
    Self(r)->Fallocate(r, i, m, o, l, f);
  };
  o.flock = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f, int op) {
    Begin(r, FuseOp::kFlock);
    Self(r)->Flock(r, i, f, op);
  };
  o.ioctl = [](fuse_req_t r, fuse_ino_t i, unsigned int c, void* a, fuse_file_info* f, unsigned fl,
               const void* ib, size_t is, size_t os) {
    Begin(r, FuseOp::kIoctl);
    Self(r)->Ioctl(r, i, c, a, f, fl, ib, is, os);
  };
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

thread_local boost::asio::io_context* tls_fuse_reader = nullptr;

awaitable<void> FuseFs::ReadLoop() {
  fuse_buf buf{};
  boost::system::error_code ec;
  bool done = false;
  while (!done) {
    co_await fuse_fd_->async_wait(asio::posix::descriptor_base::wait_read,
                                  asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    tls_fuse_reader = &client_.pool().Get(0);
    // Drain what is queued (bounded, so timers and RPC completions get their turn).
    for (int n = 0; n < 64; ++n) {
      int res = fuse_session_receive_buf(session_, &buf);
      if (res == -EINTR) continue;
      if (res == -EAGAIN) break;
      if (res <= 0 || fuse_session_exited(session_)) {  // unmounted (ENODEV) or aborted
        done = true;
        break;
      }
      fuse_session_process_buf(session_, &buf);
    }
    tls_fuse_reader = nullptr;
  }
  free(buf.mem);
  HF3FS_LOG_INFO("fuse.loop_ended reader=io_thread");
  ended_ = true;
  if (on_ended_ && !exiting_) on_ended_();
}

void FuseFs::Start() {
  timer_running_ = true;
  asio::co_spawn(client_.pool().Get(0), TimerLoop(), asio::detached);
  if (config_.fuse_threads.Get() == 0) {
    // The first io thread reads requests itself: non-blocking, woken by its own epoll.
    int fd = fuse_session_fd(session_);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    fuse_fd_ = std::make_unique<asio::posix::stream_descriptor>(client_.pool().Get(0), ::dup(fd));
    asio::co_spawn(client_.pool().Get(0), ReadLoop(), asio::detached);
    return;
  }
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
  for (int i = 0; i < 40 && !ended_; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!ended_ && (loop_.joinable() || fuse_fd_)) AbortConnection();
  if (loop_.joinable()) loop_.join();
  if (fuse_fd_) {
    // The reader sees ENODEV once the connection is gone; then (or after 5 s) its descriptor is
    // closed on its own thread, which also ends a wait still pending.
    for (int i = 0; i < 100 && !ended_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    (void)client::RunSync(client_.pool().Get(0), [this]() -> awaitable<Status> {
      boost::system::error_code ignored;
      fuse_fd_->close(ignored);
      co_return Status::Ok();
    }());
  }
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
  (void)client::RunSync(client_.pool().Get(0), [this]() -> awaitable<Status> {
    co_await DrainClosesNow();
    co_return Status::Ok();
  }());
}

}  // namespace hf3fs::fuse
