// Helpers shared by the files of the FUSE layer (src/fuse/fuse_*.cc); internal to src/fuse.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <chrono>
#include <cstring>

#include "common/logging.h"
#include "fuse/fuse_fs.h"

namespace hf3fs::fuse {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using net::awaitable;


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
inline DirHandle* Dh(fuse_file_info* fi) { return reinterpret_cast<DirHandle*>(fi->fh); }


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

}  // namespace hf3fs::fuse
