#include "kv/rocksdb/power_loss_fs.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hf3fs::kv {

namespace {
rocksdb::IOStatus Dead() { return rocksdb::IOStatus::IOError("simulated power loss"); }
}  // namespace

// A writable file that reports its appends and syncs to the layer, and fails once it is cut.
class PowerLossFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  PowerLossFile(PowerLossFs* fs, std::string fname, uint64_t size,
                std::unique_ptr<rocksdb::FSWritableFile> inner)
      : FSWritableFileOwnerWrapper(std::move(inner)),
        fs_(fs),
        fname_(std::move(fname)),
        size_(size) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (fs_->cut()) return Dead();
    auto s = target()->Append(data, options, dbg);
    if (s.ok()) Grew(size_ + data.size());
    return s;
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (fs_->cut()) return Dead();
    auto s = target()->Append(data, options, info, dbg);
    if (s.ok()) Grew(size_ + data.size());
    return s;
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     rocksdb::IODebugContext* dbg) override {
    if (fs_->cut()) return Dead();
    auto s = target()->PositionedAppend(data, offset, options, dbg);
    if (s.ok()) Grew(std::max(size_, offset + data.size()));
    return s;
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     const rocksdb::DataVerificationInfo& info,
                                     rocksdb::IODebugContext* dbg) override {
    if (fs_->cut()) return Dead();
    auto s = target()->PositionedAppend(data, offset, options, info, dbg);
    if (s.ok()) Grew(std::max(size_, offset + data.size()));
    return s;
  }
  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    if (fs_->cut()) return Dead();
    auto s = target()->Truncate(size, options, dbg);
    if (s.ok()) {
      size_ = size;
      fs_->Truncated(fname_, size);
    }
    return s;
  }
  rocksdb::IOStatus Flush(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (fs_->cut()) return Dead();
    return target()->Flush(options, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (fs_->cut()) return Dead();
    auto s = target()->Sync(options, dbg);
    if (s.ok()) fs_->Synced(fname_);
    return s;
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (fs_->cut()) return Dead();
    auto s = target()->Fsync(options, dbg);
    if (s.ok()) fs_->Synced(fname_);
    return s;
  }
  rocksdb::IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    if (fs_->cut()) return Dead();
    return target()->RangeSync(offset, nbytes, options, dbg);  // a hint: not a durability point
  }
  rocksdb::IOStatus Close(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    // Closing writes nothing new (the writer flushed through Append), so it works after a cut.
    return target()->Close(options, dbg);
  }

 private:
  void Grew(uint64_t end) {
    size_ = end;
    fs_->Appended(fname_, end);
  }

  PowerLossFs* fs_;
  const std::string fname_;
  uint64_t size_;
};

std::shared_ptr<PowerLossFs> PowerLossFs::Create() {
  return std::make_shared<PowerLossFs>(rocksdb::FileSystem::Default());
}

std::unique_ptr<rocksdb::Env> PowerLossFs::NewEnv(const std::shared_ptr<PowerLossFs>& fs) {
  return rocksdb::NewCompositeEnv(std::static_pointer_cast<rocksdb::FileSystem>(fs));
}

bool PowerLossFs::cut() const {
  std::lock_guard lock(mu_);
  return cut_;
}

void PowerLossFs::Cut() {
  std::lock_guard lock(mu_);
  cut_ = true;
}

Status PowerLossFs::Recover(const std::function<uint64_t(uint64_t)>& keep_fn) {
  std::lock_guard lock(mu_);
  for (auto& [name, f] : files_) {
    if (f.size == f.synced) continue;
    uint64_t keep = f.synced;
    if (keep_fn) keep += std::min(keep_fn(f.size - f.synced), f.size - f.synced);
    if (::truncate(name.c_str(), static_cast<off_t>(keep)) != 0 && errno != ENOENT) {
      return MakeStatus(StatusCode::kIoError, "truncate {} to {}: {}", name, keep,
                        strerror(errno));
    }
    f.size = f.synced = keep;
  }
  cut_ = false;
  return Status::Ok();
}

uint64_t PowerLossFs::UnsyncedBytes() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [name, f] : files_) n += f.size - f.synced;
  return n;
}

rocksdb::IOStatus PowerLossFs::Wrap(const std::string& fname, uint64_t existing_bytes,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result) {
  {
    std::lock_guard lock(mu_);
    // What the file held when it was opened for writing is on disk already.
    files_[fname] = FileState{existing_bytes, existing_bytes};
  }
  *result = std::make_unique<PowerLossFile>(this, fname, existing_bytes, std::move(*result));
  return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus PowerLossFs::NewWritableFile(const std::string& fname,
                                               const rocksdb::FileOptions& options,
                                               std::unique_ptr<rocksdb::FSWritableFile>* result,
                                               rocksdb::IODebugContext* dbg) {
  if (cut()) return Dead();
  auto s = target()->NewWritableFile(fname, options, result, dbg);
  if (!s.ok()) return s;
  return Wrap(fname, 0, result);
}

rocksdb::IOStatus PowerLossFs::ReopenWritableFile(const std::string& fname,
                                                  const rocksdb::FileOptions& options,
                                                  std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                  rocksdb::IODebugContext* dbg) {
  if (cut()) return Dead();
  uint64_t size = 0;
  if (!target()->GetFileSize(fname, rocksdb::IOOptions(), &size, dbg).ok()) size = 0;
  auto s = target()->ReopenWritableFile(fname, options, result, dbg);
  if (!s.ok()) return s;
  return Wrap(fname, size, result);
}

rocksdb::IOStatus PowerLossFs::ReuseWritableFile(const std::string& fname,
                                                 const std::string& old_fname,
                                                 const rocksdb::FileOptions& options,
                                                 std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                 rocksdb::IODebugContext* dbg) {
  if (cut()) return Dead();
  auto s = target()->ReuseWritableFile(fname, old_fname, options, result, dbg);
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    files_.erase(old_fname);
  }
  return Wrap(fname, 0, result);
}

rocksdb::IOStatus PowerLossFs::RenameFile(const std::string& src, const std::string& target_name,
                                          const rocksdb::IOOptions& options,
                                          rocksdb::IODebugContext* dbg) {
  if (cut()) return Dead();
  auto s = target()->RenameFile(src, target_name, options, dbg);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    auto it = files_.find(src);
    if (it != files_.end()) {
      files_[target_name] = it->second;
      files_.erase(it);
    } else {
      files_.erase(target_name);
    }
  }
  return s;
}

rocksdb::IOStatus PowerLossFs::DeleteFile(const std::string& fname,
                                          const rocksdb::IOOptions& options,
                                          rocksdb::IODebugContext* dbg) {
  if (cut()) return Dead();
  auto s = target()->DeleteFile(fname, options, dbg);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    files_.erase(fname);
  }
  return s;
}

void PowerLossFs::Appended(const std::string& fname, uint64_t end) {
  std::lock_guard lock(mu_);
  auto& f = files_[fname];
  f.size = std::max(f.size, end);
}

void PowerLossFs::Synced(const std::string& fname) {
  std::lock_guard lock(mu_);
  auto& f = files_[fname];
  f.synced = f.size;
}

void PowerLossFs::Truncated(const std::string& fname, uint64_t size) {
  std::lock_guard lock(mu_);
  auto& f = files_[fname];
  f.size = size;
  f.synced = std::min(f.synced, size);
}

}  // namespace hf3fs::kv
