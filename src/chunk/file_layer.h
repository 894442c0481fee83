// The engine's window on the file system: block I/O on data files, directories, free space.
//
// Everything the chunk engine does to data files goes through a FileLayer, so tests can put a
// FaultFileLayer (fault_file_layer.h) between the engine and the disk.
//
// Contract of every File I/O call: the offset, the length and the buffer address are multiples of
// kBlockBytes (checked; a violation is a bug). Failures are kIoError (the disk is suspect) or
// kNoSpace (ENOSPC/EDQUOT). File objects are thread-safe: concurrent calls on one File are
// allowed, as with pread/pwrite.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "chunk/chunk_meta.h"
#include "common/status.h"

namespace hf3fs::chunk {

class File {
 public:
  virtual ~File() = default;
  virtual Status Read(uint64_t offset, std::span<uint8_t> buf) = 0;
  virtual Status Write(uint64_t offset, std::span<const uint8_t> buf) = 0;
  // Makes every completed write of this file durable (fdatasync).
  virtual Status Sync() = 0;
  // Allocates [offset, offset + length) on disk, extending the file when needed (fallocate 0).
  virtual Status Allocate(uint64_t offset, uint64_t length) = 0;
  // Returns [offset, offset + length) to the file system; the range then reads as zeros.
  // kUnavailable when the file system cannot punch holes.
  virtual Status PunchHole(uint64_t offset, uint64_t length) = 0;
  virtual Result<uint64_t> Size() = 0;
};

struct FsSpace {
  uint64_t capacity_bytes = 0;
  uint64_t free_bytes = 0;  // available to unprivileged users (statvfs f_bavail)
};

// How a layer does its I/O, for logs, SpaceInfo and tests.
struct FileLayerInfo {
  bool direct = false;         // O_DIRECT
  bool io_uring = false;       // block I/O through io_uring (else pread/pwrite)
  bool defer_taskrun = false;  // rings use SINGLE_ISSUER | DEFER_TASKRUN
  bool dsync = false;          // files opened O_DSYNC; Sync() is then a no-op
};

class FileLayer {
 public:
  virtual ~FileLayer() = default;
  // Opens (and with `create`, creates) a data file; kNotFound when absent and !create.
  virtual Result<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) = 0;
  virtual Status CreateDirectories(const std::string& path) = 0;
  // Makes the entries of a directory (files and directories created in it) durable (fsync).
  virtual Status SyncDirectory(const std::string& path) = 0;
  // Names of the entries of a directory (no "." or ".."); kNotFound when it does not exist.
  virtual Result<std::vector<std::string>> ListDirectory(const std::string& path) = 0;
  virtual Result<FsSpace> StatFs(const std::string& path) = 0;
  virtual FileLayerInfo info() const = 0;
};

enum class IoMode : uint8_t { kAuto, kDirect, kBuffered };

struct PosixFileLayerOptions {
  IoMode io_mode = IoMode::kAuto;  // kAuto: O_DIRECT when the probe in `dir` succeeds
  bool use_io_uring = true;
  uint32_t io_uring_entries = 64;  // ring depth: the bound on I/Os in flight per thread
  bool dsync = false;              // open data files O_DSYNC instead of fdatasync per update
  // Test seam: treat the O_DIRECT probe as refused, as on file systems without O_DIRECT (tmpfs
  // before Linux 6.6), to exercise the fallback where the kernel would not.
  bool simulate_direct_refused = false;
};

// A layer on the real file system. Probes O_DIRECT by writing one aligned block to
// `<dir>/.direct_probe` (kDirect fails with kInvalidArgument if the probe fails) and io_uring by
// creating a ring; logs what it chose.
Result<std::unique_ptr<FileLayer>> CreatePosixFileLayer(const std::string& dir,
                                                        const PosixFileLayerOptions& options);

// A block-aligned heap buffer (posix_memalign), zero-initialised.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);  // bytes: a multiple of kBlockBytes
  AlignedBuffer(AlignedBuffer&& o) noexcept { *this = std::move(o); }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  ~AlignedBuffer() { std::free(data_); }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<uint8_t> span() { return {data_, size_}; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reuses piece-sized aligned buffers (large mallocs are fresh mmaps that page-fault on every use).
// Keeps at most `max_cached` idle buffers; Acquire never blocks. Thread-safe.
class BufferPool {
 public:
  BufferPool(size_t buffer_bytes, size_t max_cached)
      : buffer_bytes_(buffer_bytes), max_cached_(max_cached) {}

  class Lease {
   public:
    Lease(BufferPool* pool, AlignedBuffer buf) : pool_(pool), buf_(std::move(buf)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (pool_ != nullptr && buf_.data() != nullptr) pool_->Release(std::move(buf_));
    }
    AlignedBuffer& operator*() { return buf_; }
    AlignedBuffer* operator->() { return &buf_; }

   private:
    BufferPool* pool_;
    AlignedBuffer buf_;
  };

  // A buffer of buffer_bytes(); its content is unspecified (a reused buffer keeps old bytes).
  Lease Acquire();
  size_t buffer_bytes() const { return buffer_bytes_; }

 private:
  void Release(AlignedBuffer buf);
  const size_t buffer_bytes_;
  const size_t max_cached_;
  std::mutex mu_;
  std::vector<AlignedBuffer> idle_;
};

}  // namespace hf3fs::chunk
