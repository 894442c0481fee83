// Helpers shared by the files of the FUSE layer (src/fuse/fuse_*.cc); internal to src/fuse.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>

#include "common/logging.h"
#include "common/metrics.h"
#include "fuse/fuse_fs.h"

namespace hf3fs::fuse {

// FUSE operations, for hf3fs_fuse_op_seconds{op}: one per entry of the low-level table.
enum class FuseOp : uint8_t {
  kLookup,
  kForget,
  kForgetMulti,
  kGetattr,
  kSetattr,
  kReadlink,
  kMknod,
  kMkdir,
  kUnlink,
  kRmdir,
  kSymlink,
  kRename,
  kLink,
  kOpen,
  kRead,
  kWrite,
  kFlush,
  kRelease,
  kFsync,
  kOpendir,
  kReaddir,
  kReaddirplus,
  kReleasedir,
  kFsyncdir,
  kStatfs,
  kSetxattr,
  kGetxattr,
  kListxattr,
  kRemovexattr,
  kAccess,
  kCreate,
  kFallocate,
  kIoctl,
  kFlock,
  kCount
};

// A request's operation and arrival time, from Begin (in the low-level table, before the
// operation runs) to its reply (the reply:: wrappers below), which observes the latency.
void Begin(fuse_req_t req, FuseOp op);
void Finished(fuse_req_t req);

// Every reply of the FUSE layer goes through these, so each request's latency is recorded.
namespace reply {
inline int Err(fuse_req_t r, int e) {
  Finished(r);
  return fuse_reply_err(r, e);
}
inline void None(fuse_req_t r) {
  Finished(r);
  fuse_reply_none(r);
}
inline int Entry(fuse_req_t r, const fuse_entry_param* e) {
  Finished(r);
  return fuse_reply_entry(r, e);
}
inline int Create(fuse_req_t r, const fuse_entry_param* e, const fuse_file_info* f) {
  Finished(r);
  return fuse_reply_create(r, e, f);
}
inline int Attr(fuse_req_t r, const struct stat* a, double timeout) {
  Finished(r);
  return fuse_reply_attr(r, a, timeout);
}
inline int Readlink(fuse_req_t r, const char* link) {
  Finished(r);
  return fuse_reply_readlink(r, link);
}
inline int Open(fuse_req_t r, const fuse_file_info* f) {
  Finished(r);
  return fuse_reply_open(r, f);
}
inline int Write(fuse_req_t r, size_t n) {
  Finished(r);
  return fuse_reply_write(r, n);
}
inline int Buf(fuse_req_t r, const char* buf, size_t n) {
  Finished(r);
  return fuse_reply_buf(r, buf, n);
}
inline int Statfs(fuse_req_t r, const struct statvfs* s) {
  Finished(r);
  return fuse_reply_statfs(r, s);
}
inline int Xattr(fuse_req_t r, size_t n) {
  Finished(r);
  return fuse_reply_xattr(r, n);
}
inline int Ioctl(fuse_req_t r, int result, const void* buf, size_t n) {
  Finished(r);
  return fuse_reply_ioctl(r, result, buf, n);
}
}  // namespace reply

// hf3fs_fuse_syncs_total{kind}: fsync, fsyncdir, syncfs, o_sync.
metrics::Counter* SyncCounter(std::string_view kind);

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using net::awaitable;

// The io_context of the calling thread when it is the one reading /dev/fuse (fuse_threads = 0),
// else null: requests it reads run their coroutines on it, so they never change threads.
extern thread_local boost::asio::io_context* tls_fuse_reader;

inline int Errno(const Status& st) {
  int e = st.errno_value();
  return e == 0 ? EIO : e;
}

inline meta::PathAt At(uint64_t parent, const char* name = "") {
  meta::PathAt p;
  p.set_parent(parent);
  p.set_path(name);
  return p;
}

inline mode_t TypeBits(meta::InodeType t) {
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

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t ToNs(const timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

inline timespec FromNs(int64_t ns) {
  timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

inline FileHandle* Fh(fuse_file_info* fi) { return reinterpret_cast<FileHandle*>(fi->fh); }
// fi->fh of a directory: a heap-allocated std::shared_ptr<DirHandle> (Releasedir deletes it).
inline std::shared_ptr<DirHandle>& Dh(fuse_file_info* fi) {
  return *reinterpret_cast<std::shared_ptr<DirHandle>*>(fi->fh);
}

template <typename F>
void FuseFs::Spawn(F&& f) {
  auto& ctx = tls_fuse_reader ? *tls_fuse_reader : client_.pool().Next();
  // Always posted, never started inline: a caller on the io thread itself (the FUSE reader) may
  // hold a mutex the coroutine takes.
  asio::post(ctx, [&ctx, fn = std::forward<F>(f)]() mutable {
    asio::co_spawn(ctx, std::move(fn), [](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          HF3FS_LOG_ERROR("fuse.handler_threw what=\"{}\"", ex.what());
        }
      }
    });
  });
}

}  // namespace hf3fs::fuse
