// Helpers shared by the chunk engine tests.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "chunk/chunk_engine.h"
#include "chunk/fault_file_layer.h"
#include "common/crc32c.h"
#include "common/metrics.h"

namespace hf3fs::chunk::testing {

inline constexpr uint32_t k64K = 64u << 10;
inline constexpr uint32_t k128K = 128u << 10;
inline constexpr uint32_t k256K = 256u << 10;
inline constexpr uint32_t k1M = 1u << 20;
inline constexpr TargetId kTarget{7};

// A fresh directory removed (recursively) at destruction. `base` must exist.
class TempDir {
 public:
  explicit TempDir(const std::string& base = DiskBase()) {
    std::string tmpl = base + "/hf3fs_chunk_test.XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr) << "mkdtemp in " << base;
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

  // A directory on a real disk file system: $TEST_TMPDIR or /tmp.
  static std::string DiskBase() {
    const char* env = std::getenv("TEST_TMPDIR");
    return env != nullptr && *env != '\0' ? env : "/tmp";
  }

 private:
  std::string path_;
};

// True when /dev/shm is a tmpfs (where O_DIRECT is refused).
inline bool HaveTmpfs() {
  struct statfs sf {};
  return ::statfs("/dev/shm", &sf) == 0 && sf.f_type == 0x01021994;  // TMPFS_MAGIC
}

// True when the file system of `dir` accepts O_DIRECT (checked independently of the engine).
inline bool DirectSupported(const std::string& dir) {
  std::string path = dir + "/.direct_check";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT, 0644);
  if (fd < 0) return false;
  ::close(fd);
  ::unlink(path.c_str());
  return true;
}

// Deterministic pseudo-random bytes.
inline std::vector<uint8_t> Bytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t x = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) v[i + j] = static_cast<uint8_t>(x >> (8 * j));
  }
  return v;
}

inline uint32_t Crc(const std::vector<uint8_t>& v) { return Crc32c(v.data(), v.size()); }

// Small groups and pieces so tests cross group, file and piece boundaries with little data.
// Strict durability: slots are released at once, which the space tests count on; window
// durability has tests of its own (chunk_durability_test.cc).
inline ChunkEngineOptions SmallOptions(metrics::Registry* registry) {
  ChunkEngineOptions o;
  o.durability = Durability::kStrict;
  o.group_bytes = 1u << 20;
  o.groups_per_file = 2;
  o.io_piece_bytes = 128u << 10;
  o.max_pooled_buffers = 4;
  o.metrics = registry;
  return o;
}

inline UpdateOptions V(uint64_t version) {
  UpdateOptions o;
  o.update_version = version;
  o.chain_version = ChainVersion(1);
  return o;
}

// Writes and commits; the model `content` is updated the same way.
inline void WriteCommit(ChunkEngine& e, const ChunkId& id, uint32_t chunk_size, uint32_t offset,
                        const std::vector<uint8_t>& data, uint64_t version,
                        std::vector<uint8_t>* content = nullptr) {
  auto w = e.Write(kTarget, id, chunk_size, offset, data, V(version));
  ASSERT_TRUE(w.ok()) << w.status();
  auto c = e.Commit(kTarget, id, version, ChainVersion(1));
  ASSERT_TRUE(c.ok()) << c.status();
  if (content != nullptr) {
    if (content->size() < offset + data.size()) content->resize(offset + data.size(), 0);
    std::copy(data.begin(), data.end(), content->begin() + offset);
  }
}

// The committed bytes of a chunk (verified by ReadFull).
inline std::vector<uint8_t> Committed(ChunkEngine& e, const ChunkId& id) {
  auto full = e.ReadFull(kTarget, id, ReadMode::kLastCommitted);
  EXPECT_TRUE(full.ok()) << full.status();
  return full.ok() ? full->data : std::vector<uint8_t>{};
}

// Counts slots named by records and compares with the allocator: no leaked, no missing slot.
inline void ExpectNoLeakedSlots(ChunkEngine& e, TargetId target = kTarget) {
  auto page = e.ListMeta(target, ChunkId(), ChunkId(), kMaxRangeLimit);
  ASSERT_TRUE(page.ok()) << page.status();
  std::set<SlotAddress> named;
  for (const auto& m : page->metas) {
    if (m.committed && m.committed->slot.valid()) named.insert(m.committed->slot);
    if (m.pending && m.pending->slot.valid()) named.insert(m.pending->slot);
  }
  auto space = e.GetSpaceInfo();
  ASSERT_TRUE(space.ok());
  uint64_t used = 0;
  for (const auto& c : space->classes) used += c.used_slots;
  EXPECT_EQ(used, named.size());
}

// A fixture owning a temporary engine directory, a metrics registry and the engine.
class EngineFixture : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  virtual ChunkEngineOptions Options() {
    ChunkEngineOptions o = SmallOptions(&registry_);
    o.file_layer = layer_;
    return o;
  }
  void Open() {
    auto e = ChunkEngine::Open(dir_->path(), Options());
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }
  void Reopen() {
    engine_.reset();
    Open();
  }

  std::unique_ptr<TempDir> dir_ = std::make_unique<TempDir>();
  metrics::Registry registry_;
  std::shared_ptr<FileLayer> layer_;  // null: the engine's own PosixFileLayer
  std::unique_ptr<ChunkEngine> engine_;
};

}  // namespace hf3fs::chunk::testing
