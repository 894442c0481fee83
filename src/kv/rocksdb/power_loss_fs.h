// PowerLossFs: a RocksDB FileSystem for tests that simulates a power loss of the machine under a
// RocksDB database (the KV store's or the chunk engine's metadata store).
//
// It wraps the default file system and remembers, for every file written through it, how many of
// its bytes were made durable by Sync/Fsync (RangeSync is a hint, not a durability point). Then:
//   - Cut(): the machine dies. Every later write, sync or file creation through the layer fails
//     with an I/O error, so the database can do nothing more to the disk (its close flushes
//     nothing).
//   - Recover(): after the database was destroyed, every file is cut back to its synced length,
//     as the kernel's unwritten pages are lost with the power; then writes work again (the
//     machine rebooted). Renames and deletions are treated as durable (RocksDB syncs the
//     directory where it relies on them).
// Reopening the database through the same layer then shows what a power loss would have left.
//
// Thread-safe.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <map>
#include <memory>
#include <functional>
#include <mutex>
#include <string>

#include "common/status.h"

namespace hf3fs::kv {

class PowerLossFs : public rocksdb::FileSystemWrapper {
 public:
  // A layer over rocksdb::FileSystem::Default().
  static std::shared_ptr<PowerLossFs> Create();
  explicit PowerLossFs(const std::shared_ptr<rocksdb::FileSystem>& base)
      : FileSystemWrapper(base) {}

  static const char* kClassName() { return "PowerLossFs"; }
  const char* Name() const override { return kClassName(); }

  // An Env that routes RocksDB's file I/O through `fs` (for Options::env).
  static std::unique_ptr<rocksdb::Env> NewEnv(const std::shared_ptr<PowerLossFs>& fs);

  void Cut();
  // Cuts every file back to its synced length; kIoError when a file cannot be truncated. With
  // `keep`, each file keeps keep(unsynced bytes) of its unsynced tail instead, as the kernel may
  // have written some of those pages back before the power went (in order, for a log).
  Status Recover(const std::function<uint64_t(uint64_t unsynced)>& keep = nullptr);
  // Bytes written through the layer and not yet synced, over all files.
  uint64_t UnsyncedBytes() const;

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname,
                                       const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;

 private:
  friend class PowerLossFile;
  struct FileState {
    uint64_t size = 0;    // bytes written through the layer (file length)
    uint64_t synced = 0;  // of which durable
  };

  rocksdb::IOStatus Wrap(const std::string& fname, uint64_t existing_bytes,
                         std::unique_ptr<rocksdb::FSWritableFile>* result);
  bool cut() const;
  void Appended(const std::string& fname, uint64_t end);
  void Synced(const std::string& fname);
  void Truncated(const std::string& fname, uint64_t size);

  mutable std::mutex mu_;
  bool cut_ = false;
  std::map<std::string, FileState> files_;
};

}  // namespace hf3fs::kv
