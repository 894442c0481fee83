#include "chunk/fault_file_layer.h"

#include <cstring>
#include <filesystem>

namespace hf3fs::chunk {

class FaultFile final : public File {
 public:
  FaultFile(FaultFileLayer* layer, std::unique_ptr<File> inner, FaultFileLayer::Shadow* shadow,
            uint64_t generation)
      : layer_(layer), inner_(std::move(inner)), shadow_(shadow), generation_(generation) {}

  Status Read(uint64_t offset, std::span<uint8_t> buf) override {
    std::lock_guard lock(layer_->mu_);
    HF3FS_TRY(layer_->Gate(FaultFileLayer::kRead, generation_));
    return inner_->Read(offset, buf);
  }

  Status Write(uint64_t offset, std::span<const uint8_t> buf) override {
    std::lock_guard lock(layer_->mu_);
    HF3FS_TRY(layer_->Gate(FaultFileLayer::kWrite, generation_));
    HF3FS_CHECK(offset % kBlockBytes == 0 && buf.size() % kBlockBytes == 0);
    // Remember what each block held at the last Sync, the first time it is written after it.
    HF3FS_TRY_ASSIGN(uint64_t size, inner_->Size());
    for (uint64_t b = offset; b < offset + buf.size(); b += kBlockBytes) {
      if (shadow_->pre_images.count(b) != 0) continue;
      AlignedBuffer pre(kBlockBytes);  // zeros past the end of the file
      if (b + kBlockBytes <= size) HF3FS_TRY(inner_->Read(b, pre.span()));
      shadow_->pre_images.emplace(b, std::move(pre));
    }
    return inner_->Write(offset, buf);
  }

  Status Sync() override {
    std::lock_guard lock(layer_->mu_);
    HF3FS_TRY(layer_->Gate(FaultFileLayer::kSync, generation_));
    HF3FS_TRY(inner_->Sync());
    shadow_->pre_images.clear();
    return Status::Ok();
  }

  Status Allocate(uint64_t offset, uint64_t length) override {
    std::lock_guard lock(layer_->mu_);
    HF3FS_TRY(layer_->Gate(FaultFileLayer::kAllocate, generation_));
    return inner_->Allocate(offset, length);
  }

  Status PunchHole(uint64_t offset, uint64_t length) override {
    std::lock_guard lock(layer_->mu_);
    HF3FS_TRY(layer_->Gate(FaultFileLayer::kPunchHole, generation_));
    return inner_->PunchHole(offset, length);
  }

  Result<uint64_t> Size() override {
    std::lock_guard lock(layer_->mu_);
    HF3FS_TRY(layer_->Gate(FaultFileLayer::OpKind(0), generation_));
    return inner_->Size();
  }

 private:
  FaultFileLayer* const layer_;
  const std::unique_ptr<File> inner_;
  FaultFileLayer::Shadow* const shadow_;
  const uint64_t generation_;
};

FaultFileLayer::FaultFileLayer(std::shared_ptr<FileLayer> inner, uint64_t seed)
    : inner_(std::move(inner)), rng_(seed) {}

void FaultFileLayer::InjectErrors(uint32_t kinds, uint64_t skip, StatusCode code) {
  std::lock_guard lock(mu_);
  error_kinds_ = kinds;
  error_skip_ = skip;
  error_code_ = code;
}

void FaultFileLayer::ClearErrors() {
  std::lock_guard lock(mu_);
  error_kinds_ = 0;
}

void FaultFileLayer::SetFreeBytes(std::optional<uint64_t> free_bytes) {
  std::lock_guard lock(mu_);
  free_bytes_ = free_bytes;
}

Status FaultFileLayer::Gate(OpKind kind, uint64_t generation) {
  if (generation != generation_) {
    return Status(StatusCode::kIoError, "simulated crash: file handle from before the crash");
  }
  if ((error_kinds_ & kind) == 0) return Status::Ok();
  if (error_skip_ > 0) {
    --error_skip_;
    return Status::Ok();
  }
  return Status(error_code_, "injected fault");
}

void FaultFileLayer::Crash(double drop_probability) {
  constexpr size_t kSectorBytes = 512;
  std::lock_guard lock(mu_);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  // Entries whose directory was never synced may vanish, with everything below them.
  for (const auto& path : unsynced_entries_) {
    if (coin(rng_) >= drop_probability) continue;
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    for (auto it = shadows_.begin(); it != shadows_.end();) {
      it = it->first == path || it->first.starts_with(path + "/") ? shadows_.erase(it) : ++it;
    }
  }
  unsynced_entries_.clear();
  for (auto& [path, shadow] : shadows_) {
    for (auto& [offset, pre] : shadow.pre_images) {
      AlignedBuffer now(kBlockBytes);
      auto st = shadow.inner->Read(offset, now.span());
      HF3FS_CHECK_MSG(st.ok(), "crash rollback read {}: {}", path, st);
      for (size_t s = 0; s < kBlockBytes; s += kSectorBytes) {
        if (coin(rng_) < drop_probability)
          std::memcpy(now.data() + s, pre.data() + s, kSectorBytes);
      }
      st = shadow.inner->Write(offset, now.span());
      HF3FS_CHECK_MSG(st.ok(), "crash rollback write {}: {}", path, st);
    }
    shadow.pre_images.clear();
    auto st = shadow.inner->Sync();
    HF3FS_CHECK_MSG(st.ok(), "crash rollback sync {}: {}", path, st);
  }
  ++generation_;
}

size_t FaultFileLayer::UnsyncedBlocks() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [path, shadow] : shadows_) n += shadow.pre_images.size();
  return n;
}

Result<std::unique_ptr<File>> FaultFileLayer::OpenFile(const std::string& path, bool create) {
  std::lock_guard lock(mu_);
  if (create && !std::filesystem::exists(path)) unsynced_entries_.insert(path);
  HF3FS_TRY_ASSIGN(auto inner, inner_->OpenFile(path, create));
  auto it = shadows_.find(path);
  if (it == shadows_.end()) {
    HF3FS_TRY_ASSIGN(auto shadow_file, inner_->OpenFile(path, false));
    it = shadows_.emplace(path, Shadow{std::move(shadow_file), {}}).first;
  }
  return std::unique_ptr<File>(new FaultFile(this, std::move(inner), &it->second, generation_));
}

Status FaultFileLayer::CreateDirectories(const std::string& path) {
  std::lock_guard lock(mu_);
  // Every directory created here is an entry of its parent until that parent is synced.
  for (std::filesystem::path p(path); !p.empty() && !std::filesystem::exists(p);
       p = p.parent_path()) {
    unsynced_entries_.insert(p.string());
  }
  return inner_->CreateDirectories(path);
}

Status FaultFileLayer::SyncDirectory(const std::string& path) {
  std::lock_guard lock(mu_);
  HF3FS_TRY(Gate(kSync, generation_));
  HF3FS_TRY(inner_->SyncDirectory(path));
  std::erase_if(unsynced_entries_, [&](const std::string& entry) {
    return std::filesystem::path(entry).parent_path() == std::filesystem::path(path);
  });
  return Status::Ok();
}

Result<std::vector<std::string>> FaultFileLayer::ListDirectory(const std::string& path) {
  return inner_->ListDirectory(path);
}

Result<FsSpace> FaultFileLayer::StatFs(const std::string& path) {
  HF3FS_TRY_ASSIGN(FsSpace space, inner_->StatFs(path));
  std::lock_guard lock(mu_);
  if (free_bytes_) space.free_bytes = std::min(*free_bytes_, space.capacity_bytes);
  return space;
}

}  // namespace hf3fs::chunk
