#include "chunk/file_layer.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "chunk/chunk_test_util.h"
#include "chunk/fault_file_layer.h"
#include "chunk/uring.h"

namespace hf3fs::chunk {
namespace {

using testing::Bytes;
using testing::TempDir;

struct LayerCase {
  const char* name;
  bool tmpfs;
  IoMode mode;
  bool uring;
  bool simulate_refused = false;
};

void PrintTo(const LayerCase& c, std::ostream* os) { *os << c.name; }

class PosixFileLayerTest : public ::testing::TestWithParam<LayerCase> {};

// Writes, reads back, syncs, allocates and punches through one layer configuration.
TEST_P(PosixFileLayerTest, BlockIoRoundTripsAndPunchedRangesReadAsZeros) {
  const LayerCase& c = GetParam();
  if (c.tmpfs && !testing::HaveTmpfs()) GTEST_SKIP() << "no tmpfs at /dev/shm";
  TempDir dir(c.tmpfs ? "/dev/shm" : TempDir::DiskBase());
  PosixFileLayerOptions o;
  o.io_mode = c.mode;
  o.use_io_uring = c.uring;
  o.simulate_direct_refused = c.simulate_refused;
  auto layer = CreatePosixFileLayer(dir.path(), o);
  ASSERT_TRUE(layer.ok()) << layer.status();
  FileLayerInfo info = (*layer)->info();
  // O_DIRECT exactly where the file system takes it (tmpfs does from Linux 6.6 on) and buffered
  // I/O was not asked for.
  bool supported = testing::DirectSupported(dir.path());
  if (!c.tmpfs) {
    EXPECT_TRUE(supported) << "the disk file system should accept O_DIRECT";
  }
  EXPECT_EQ(info.direct, supported && c.mode != IoMode::kBuffered && !c.simulate_refused);
  if (c.uring) {
    EXPECT_TRUE(info.io_uring) << "io_uring expected on this kernel";
    EXPECT_TRUE(info.defer_taskrun) << "DEFER_TASKRUN expected on kernel >= 6.1";
  } else {
    EXPECT_FALSE(info.io_uring);
  }

  auto file = (*layer)->OpenFile(dir.path() + "/f", true);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Allocate(0, 1 << 20).ok());
  EXPECT_EQ(*(*file)->Size(), 1u << 20);
  AlignedBuffer w(256 << 10);
  auto data = Bytes(w.size(), 1);
  std::memcpy(w.data(), data.data(), data.size());
  ASSERT_TRUE((*file)->Write(64 << 10, w.span()).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  AlignedBuffer r(256 << 10);
  ASSERT_TRUE((*file)->Read(64 << 10, r.span()).ok());
  EXPECT_EQ(std::memcmp(r.data(), data.data(), data.size()), 0);

  ASSERT_TRUE((*file)->PunchHole(0, 1 << 20).ok());
  EXPECT_EQ(*(*file)->Size(), 1u << 20);  // punching keeps the size
  ASSERT_TRUE((*file)->Read(64 << 10, r.span()).ok());
  EXPECT_TRUE(std::all_of(r.data(), r.data() + r.size(), [](uint8_t b) { return b == 0; }));

  // Reading past the end of the file is an error, never silent garbage.
  EXPECT_EQ((*file)->Read(2 << 20, r.span()).code(), StatusCode::kIoError);
  EXPECT_EQ((*layer)->OpenFile(dir.path() + "/missing", false).status().code(),
            StatusCode::kNotFound);
  auto names = (*layer)->ListDirectory(dir.path());
  ASSERT_TRUE(names.ok());
  EXPECT_NE(std::find(names->begin(), names->end(), "f"), names->end());
  auto space = (*layer)->StatFs(dir.path());
  ASSERT_TRUE(space.ok());
  EXPECT_GT(space->capacity_bytes, 0u);
  EXPECT_LE(space->free_bytes, space->capacity_bytes);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, PosixFileLayerTest,
    ::testing::Values(LayerCase{"DiskDirectUring", false, IoMode::kAuto, true},
                      LayerCase{"DiskDirectPread", false, IoMode::kDirect, false},
                      LayerCase{"DiskBufferedUring", false, IoMode::kBuffered, true},
                      LayerCase{"TmpfsAutoUring", true, IoMode::kAuto, true},
                      LayerCase{"TmpfsFallbackUring", true, IoMode::kAuto, true, true},
                      LayerCase{"TmpfsFallbackPread", true, IoMode::kAuto, false, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(PosixFileLayer, DirectModeFailsWhereTheFileSystemRefusesODirect) {
  TempDir dir;
  PosixFileLayerOptions o;
  o.io_mode = IoMode::kDirect;
  o.simulate_direct_refused = true;
  EXPECT_EQ(CreatePosixFileLayer(dir.path(), o).status().code(), StatusCode::kInvalidArgument);
  o.io_mode = IoMode::kAuto;  // auto falls back instead
  auto layer = CreatePosixFileLayer(dir.path(), o);
  ASSERT_TRUE(layer.ok());
  EXPECT_FALSE((*layer)->info().direct);
}

TEST(PosixFileLayer, ErrnoMappingSeparatesNoSpaceFromDiskErrors) {
  EXPECT_EQ(ErrnoStatus(ENOSPC, "x").code(), StatusCode::kNoSpace);
  EXPECT_EQ(ErrnoStatus(EDQUOT, "x").code(), StatusCode::kNoSpace);
  EXPECT_EQ(ErrnoStatus(EIO, "x").code(), StatusCode::kIoError);
}

TEST(RingSet, EachThreadGetsItsOwnRingAndRingsOutliveNoThread) {
  RingSet rings(8, ProbeUring(8).defer_taskrun);
  TempDir dir;
  std::string path = dir.path() + "/f";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  std::vector<Ring*> seen(8, nullptr);
  // Many short-lived threads (more than one generation) each submit I/O on their own ring.
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        auto ring = rings.ForCurrentThread();
        ASSERT_TRUE(ring.ok()) << ring.status();
        seen[t] = *ring;
        EXPECT_EQ(*rings.ForCurrentThread(), *ring);  // same thread, same ring
        AlignedBuffer buf(kBlockBytes);
        std::memset(buf.data(), t + 1, kBlockBytes);
        std::vector<IoOp> ops(20, IoOp{IoOp::Kind::kWrite, fd, uint64_t(t) * kBlockBytes,
                                       buf.data(), kBlockBytes});  // more ops than ring entries
        EXPECT_TRUE((*ring)->Run(ops).ok());
      });
    }
    for (auto& th : threads) th.join();
  }
  ::close(fd);
}

TEST(Ring, ReportsTheFailingOpsErrno) {
  auto ring = Ring::Create(4, false);
  ASSERT_TRUE(ring.ok());
  AlignedBuffer buf(kBlockBytes);
  IoOp bad{IoOp::Kind::kRead, -1, 0, buf.data(), kBlockBytes};
  auto st = (*ring)->Run(std::span<IoOp>(&bad, 1));
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_NE(st.message().find("Bad file descriptor"), std::string::npos) << st;
}

TEST(BufferPool, ReusesAtMostMaxCachedBuffers) {
  BufferPool pool(8192, 1);
  uint8_t* kept = nullptr;
  {
    auto a = pool.Acquire();
    auto b = pool.Acquire();
    EXPECT_EQ(a->size(), 8192u);
    EXPECT_NE(a->data(), b->data());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a->data()) % kBlockBytes, 0u);
    kept = b->data();  // released first, so it is the one buffer the pool keeps
  }
  auto c = pool.Acquire();
  EXPECT_EQ(c->data(), kept);
}

class FaultFileLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto inner = CreatePosixFileLayer(dir_.path(), {});
    ASSERT_TRUE(inner.ok());
    layer_ = std::make_shared<FaultFileLayer>(std::shared_ptr<FileLayer>(std::move(*inner)), 7);
    auto f = layer_->OpenFile(dir_.path() + "/f", true);
    ASSERT_TRUE(f.ok());
    file_ = std::move(*f);
    ASSERT_TRUE(file_->Allocate(0, 64 << 10).ok());
    ASSERT_TRUE(layer_->SyncDirectory(dir_.path()).ok());
  }

  std::vector<uint8_t> ReadBack(std::unique_ptr<File>& file, uint64_t offset, size_t n) {
    AlignedBuffer buf(n);
    EXPECT_TRUE(file->Read(offset, buf.span()).ok());
    return std::vector<uint8_t>(buf.data(), buf.data() + n);
  }

  Status WriteFill(uint64_t offset, size_t n, uint8_t value) {
    AlignedBuffer buf(n);
    std::memset(buf.data(), value, n);
    return file_->Write(offset, buf.span());
  }

  TempDir dir_;
  std::shared_ptr<FaultFileLayer> layer_;
  std::unique_ptr<File> file_;
};

TEST_F(FaultFileLayerTest, InjectedErrorsHitChosenKindsAfterTheSkipCount) {
  layer_->InjectErrors(FaultFileLayer::kWrite, 1);
  EXPECT_TRUE(WriteFill(0, kBlockBytes, 1).ok());
  EXPECT_EQ(WriteFill(0, kBlockBytes, 1).code(), StatusCode::kIoError);
  EXPECT_TRUE(file_->Sync().ok());  // other kinds unaffected
  layer_->InjectErrors(FaultFileLayer::kSync, 0, StatusCode::kNoSpace);
  EXPECT_EQ(file_->Sync().code(), StatusCode::kNoSpace);
  layer_->ClearErrors();
  EXPECT_TRUE(WriteFill(0, kBlockBytes, 1).ok());
  layer_->SetFreeBytes(12345);
  EXPECT_EQ(layer_->StatFs(dir_.path())->free_bytes, 12345u);
  layer_->SetFreeBytes(std::nullopt);
  EXPECT_NE(layer_->StatFs(dir_.path())->free_bytes, 12345u);
}

TEST_F(FaultFileLayerTest, CrashDropsExactlyTheUnsyncedWritesAndFencesOldHandles) {
  ASSERT_TRUE(WriteFill(0, 8192, 0xaa).ok());
  ASSERT_TRUE(file_->Sync().ok());
  ASSERT_TRUE(WriteFill(4096, 8192, 0xbb).ok());  // overwrites one synced block, adds one
  EXPECT_EQ(layer_->UnsyncedBlocks(), 2u);
  layer_->Crash(1.0);
  EXPECT_EQ(layer_->UnsyncedBlocks(), 0u);
  EXPECT_EQ(WriteFill(0, kBlockBytes, 1).code(), StatusCode::kIoError);  // old handle fenced
  auto reopened = layer_->OpenFile(dir_.path() + "/f", false);
  ASSERT_TRUE(reopened.ok());
  auto bytes = ReadBack(*reopened, 0, 12288);
  EXPECT_TRUE(
      std::all_of(bytes.begin(), bytes.begin() + 8192, [](uint8_t b) { return b == 0xaa; }));
  EXPECT_TRUE(std::all_of(bytes.begin() + 8192, bytes.end(), [](uint8_t b) { return b == 0; }));
}

TEST_F(FaultFileLayerTest, CrashLosesEntriesWhoseDirectoryWasNotSynced) {
  ASSERT_TRUE(layer_->CreateDirectories(dir_.path() + "/a/b").ok());
  ASSERT_TRUE(layer_->OpenFile(dir_.path() + "/a/b/lost", true).ok());
  ASSERT_TRUE(layer_->OpenFile(dir_.path() + "/kept", true).ok());
  ASSERT_TRUE(layer_->SyncDirectory(dir_.path()).ok());         // persists "kept" and "a"
  ASSERT_TRUE(layer_->SyncDirectory(dir_.path() + "/a").ok());  // and "a/b"; not "a/b/lost"
  layer_->Crash(1.0);
  EXPECT_TRUE(layer_->OpenFile(dir_.path() + "/kept", false).ok());
  EXPECT_TRUE(layer_->ListDirectory(dir_.path() + "/a/b").ok());
  EXPECT_EQ(layer_->OpenFile(dir_.path() + "/a/b/lost", false).status().code(),
            StatusCode::kNotFound);
}

TEST_F(FaultFileLayerTest, PartialCrashTearsUnsyncedBlocksAtSectorGranularity) {
  ASSERT_TRUE(WriteFill(0, 32 << 10, 0xcc).ok());  // never synced
  layer_->Crash(0.5);
  auto reopened = layer_->OpenFile(dir_.path() + "/f", false);
  ASSERT_TRUE(reopened.ok());
  auto bytes = ReadBack(*reopened, 0, 32 << 10);
  size_t kept = 0;
  for (size_t s = 0; s < bytes.size(); s += 512) {
    // Each sector is entirely old or entirely new.
    bool all_new = std::all_of(bytes.begin() + s, bytes.begin() + s + 512,
                               [](uint8_t b) { return b == 0xcc; });
    bool all_old =
        std::all_of(bytes.begin() + s, bytes.begin() + s + 512, [](uint8_t b) { return b == 0; });
    EXPECT_TRUE(all_new || all_old) << "sector " << s / 512;
    kept += all_new;
  }
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, bytes.size() / 512);
}

}  // namespace
}  // namespace hf3fs::chunk
