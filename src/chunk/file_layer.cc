#include "chunk/file_layer.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "chunk/uring.h"
#include "common/logging.h"

namespace hf3fs::chunk {
namespace {

void CheckAligned(uint64_t offset, const void* buf, size_t len) {
  HF3FS_CHECK_MSG(offset % kBlockBytes == 0 && len % kBlockBytes == 0 &&
                      reinterpret_cast<uintptr_t>(buf) % kBlockBytes == 0,
                  "unaligned block I/O offset={} len={}", offset, len);
}

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd, RingSet* rings, bool dsync)
      : path_(std::move(path)), fd_(fd), rings_(rings), dsync_(dsync) {}
  ~PosixFile() override { ::close(fd_); }

  Status Read(uint64_t offset, std::span<uint8_t> buf) override {
    CheckAligned(offset, buf.data(), buf.size());
    return Transfer(IoOp::Kind::kRead, offset, buf.data(), buf.size());
  }

  Status Write(uint64_t offset, std::span<const uint8_t> buf) override {
    CheckAligned(offset, buf.data(), buf.size());
    // The kernel only reads a write's buffer; io_uring's interface is not const-correct.
    return Transfer(IoOp::Kind::kWrite, offset, const_cast<uint8_t*>(buf.data()), buf.size());
  }

  Status Sync() override {
    if (dsync_) return Status::Ok();
    if (::fdatasync(fd_) != 0) return ErrnoStatus(errno, "fdatasync " + path_);
    return Status::Ok();
  }

  Status Allocate(uint64_t offset, uint64_t length) override {
    int rc = 0;
    do {
      rc = ::fallocate(fd_, 0, static_cast<off_t>(offset), static_cast<off_t>(length));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return ErrnoStatus(errno, "fallocate " + path_);
    return Status::Ok();
  }

  Status PunchHole(uint64_t offset, uint64_t length) override {
    int rc = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         static_cast<off_t>(offset), static_cast<off_t>(length));
    if (rc == 0) return Status::Ok();
    if (errno == EOPNOTSUPP) {
      return Status(StatusCode::kUnavailable, "file system cannot punch holes: " + path_);
    }
    return ErrnoStatus(errno, "punch hole " + path_);
  }

  Result<uint64_t> Size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return ErrnoStatus(errno, "fstat " + path_);
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  Status Transfer(IoOp::Kind kind, uint64_t offset, uint8_t* buf, size_t len) {
    if (len == 0) return Status::Ok();
    if (rings_ != nullptr) {
      auto ring = rings_->ForCurrentThread();
      if (ring.ok()) {
        IoOp op{kind, fd_, offset, buf, len};
        auto st = (*ring)->Run(std::span<IoOp>(&op, 1));
        return st.ok() ? st : st.WithContext(path_);
      }
      // Too many threads hold rings: this one uses the synchronous path.
    }
    size_t done = 0;
    while (done < len) {
      ssize_t n = kind == IoOp::Kind::kRead
                      ? ::pread(fd_, buf + done, len - done, static_cast<off_t>(offset + done))
                      : ::pwrite(fd_, buf + done, len - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return ErrnoStatus(
            errno, fmt::format("{} {}", kind == IoOp::Kind::kRead ? "pread" : "pwrite", path_));
      if (n == 0) return Status(StatusCode::kIoError, "unexpected end of file: " + path_);
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  const std::string path_;
  const int fd_;
  RingSet* const rings_;
  const bool dsync_;
};

class PosixFileLayer final : public FileLayer {
 public:
  PosixFileLayer(FileLayerInfo info, uint32_t entries) : info_(info) {
    if (info_.io_uring) rings_ = std::make_unique<RingSet>(entries, info_.defer_taskrun);
  }

  Result<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override {
    int flags = O_RDWR | O_CLOEXEC;
    if (create) flags |= O_CREAT;
    if (info_.direct) flags |= O_DIRECT;
    if (info_.dsync) flags |= O_DSYNC;
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0 && errno == ENOENT && !create) {
      return Status(StatusCode::kNotFound, "no such file: " + path);
    }
    if (fd < 0) return ErrnoStatus(errno, "open " + path);
    return std::unique_ptr<File>(new PosixFile(path, fd, rings_.get(), info_.dsync));
  }

  Status CreateDirectories(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return ErrnoStatus(ec.value(), "create directories " + path);
    return Status::Ok();
  }

  Status SyncDirectory(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open directory " + path);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus(err, "fsync directory " + path);
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListDirectory(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) {
      if (errno == ENOENT) return Status(StatusCode::kNotFound, "no such directory: " + path);
      return ErrnoStatus(errno, "opendir " + path);
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir)) {
      std::string_view name = e->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(dir);
    return names;
  }

  Result<FsSpace> StatFs(const std::string& path) override {
    struct statvfs sv {};
    if (::statvfs(path.c_str(), &sv) != 0) return ErrnoStatus(errno, "statvfs " + path);
    return FsSpace{uint64_t{sv.f_blocks} * sv.f_frsize, uint64_t{sv.f_bavail} * sv.f_frsize};
  }

  FileLayerInfo info() const override { return info_; }

 private:
  const FileLayerInfo info_;
  std::unique_ptr<RingSet> rings_;
};

// True when the file system under `dir` accepts an aligned O_DIRECT write.
Result<bool> ProbeDirect(const std::string& dir) {
  std::string path = dir + "/.direct_probe";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EINVAL) return false;  // tmpfs and friends refuse O_DIRECT at open
    return ErrnoStatus(errno, "open " + path);
  }
  AlignedBuffer block(kBlockBytes);
  ssize_t n = ::pwrite(fd, block.data(), kBlockBytes, 0);
  int err = errno;
  ::close(fd);
  if (n == static_cast<ssize_t>(kBlockBytes)) return true;
  if (n < 0 && err == EINVAL) return false;
  return ErrnoStatus(n < 0 ? err : EIO, "O_DIRECT probe write " + path);
}

}  // namespace

Result<std::unique_ptr<FileLayer>> CreatePosixFileLayer(const std::string& dir,
                                                        const PosixFileLayerOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), "create directories " + dir);
  FileLayerInfo info;
  info.dsync = options.dsync;
  if (options.io_mode != IoMode::kBuffered) {
    HF3FS_TRY_ASSIGN(info.direct, ProbeDirect(dir));
    if (options.simulate_direct_refused) info.direct = false;
    if (!info.direct && options.io_mode == IoMode::kDirect) {
      return Status(StatusCode::kInvalidArgument, "O_DIRECT refused by the file system of " + dir);
    }
    if (!info.direct) {
      HF3FS_LOG_WARN("chunk.io_buffered dir={} reason=\"O_DIRECT refused by the file system\"",
                     dir);
    }
  }
  if (options.use_io_uring) {
    UringSupport support = ProbeUring(options.io_uring_entries);
    info.io_uring = support.available;
    info.defer_taskrun = support.defer_taskrun;
    if (!support.available) {
      HF3FS_LOG_WARN("chunk.io_uring_unavailable dir={} error=\"{}\" fallback=pread/pwrite", dir,
                     std::strerror(support.error));
    }
  }
  HF3FS_LOG_INFO("chunk.file_layer dir={} direct={} io_uring={} defer_taskrun={} dsync={}", dir,
                 info.direct, info.io_uring, info.defer_taskrun, info.dsync);
  return std::unique_ptr<FileLayer>(new PosixFileLayer(info, options.io_uring_entries));
}

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  HF3FS_CHECK(bytes % kBlockBytes == 0);
  if (bytes == 0) return;
  void* p = nullptr;
  HF3FS_CHECK_MSG(::posix_memalign(&p, kBlockBytes, bytes) == 0, "out of memory ({} B)", bytes);
  std::memset(p, 0, bytes);
  data_ = static_cast<uint8_t*>(p);
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

BufferPool::Lease BufferPool::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      AlignedBuffer buf = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(buf));
    }
  }
  return Lease(this, AlignedBuffer(buffer_bytes_));
}

void BufferPool::Release(AlignedBuffer buf) {
  std::lock_guard lock(mu_);
  if (idle_.size() < max_cached_) idle_.push_back(std::move(buf));
}

}  // namespace hf3fs::chunk
