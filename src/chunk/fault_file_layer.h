// FaultFileLayer: a FileLayer for tests that wraps another one and can
//   - fail I/O: chosen operation kinds fail with a chosen code after N more succeed;
//   - fake the free space StatFs reports (low-space tests without filling a disk);
//   - simulate a crash: every block written since its file's last Sync() loses, per 512-byte
//     sector and with a chosen probability, its new content (the sector is restored to what it
//     held at that Sync), and every File opened before the crash fails all later calls with
//     kIoError, so the crashed engine cannot touch the disk again. Files opened after the crash
//     work normally (the "rebooted" machine).
// The unsynced pre-images are kept in memory, one 4 KiB block per block written since the last
// Sync of its file. A file or directory created through the layer whose parent directory was not
// synced since (SyncDirectory) is deleted by a crash with the same probability, as a power loss
// may lose its directory entry. File size changes (Allocate) are not rolled back.
//
// Thread-safe; one mutex serializes all calls (tests do not measure speed through it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "chunk/file_layer.h"

namespace hf3fs::chunk {

class FaultFileLayer final : public FileLayer {
 public:
  enum OpKind : uint32_t {
    kRead = 1,
    kWrite = 2,
    kSync = 4,
    kAllocate = 8,
    kPunchHole = 16,
    kAllData = kRead | kWrite | kSync | kAllocate | kPunchHole,
  };

  explicit FaultFileLayer(std::shared_ptr<FileLayer> inner, uint64_t seed = 1);

  // After `skip` more successful calls of a kind in `kinds`, every such call fails with `code`
  // (kIoError: as if the disk failed) until ClearErrors().
  void InjectErrors(uint32_t kinds, uint64_t skip = 0, StatusCode code = StatusCode::kIoError);
  void ClearErrors();
  // Makes StatFs report this many free bytes (nullopt: the real value).
  void SetFreeBytes(std::optional<uint64_t> free_bytes);

  // Simulates a power loss; see the file comment. drop_probability 1 drops every unsynced sector.
  void Crash(double drop_probability = 1.0);
  // Blocks written and not yet synced, over all files.
  size_t UnsyncedBlocks() const;

  Result<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override;
  Status CreateDirectories(const std::string& path) override;
  Status SyncDirectory(const std::string& path) override;
  Result<std::vector<std::string>> ListDirectory(const std::string& path) override;
  Result<FsSpace> StatFs(const std::string& path) override;
  FileLayerInfo info() const override { return inner_->info(); }

 private:
  friend class FaultFile;
  struct Shadow {
    std::unique_ptr<File> inner;                   // used for pre-images and crash rollback
    std::map<uint64_t, AlignedBuffer> pre_images;  // block offset -> content at the last Sync
  };

  // Non-ok when the call must fail (stale handle or injected error).
  Status Gate(OpKind kind, uint64_t generation);

  const std::shared_ptr<FileLayer> inner_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  uint64_t generation_ = 1;
  uint32_t error_kinds_ = 0;
  uint64_t error_skip_ = 0;
  StatusCode error_code_ = StatusCode::kIoError;
  std::optional<uint64_t> free_bytes_;
  std::map<std::string, Shadow> shadows_;
  std::set<std::string> unsynced_entries_;  // created, parent directory not synced since
};

}  // namespace hf3fs::chunk
