// Space: slot recycling, group punching, low-space refusal, a full file system, space info.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "chunk/chunk_engine.h"
#include "chunk/chunk_test_util.h"

namespace hf3fs::chunk {
namespace {

using namespace testing;

class ChunkSpaceTest : public EngineFixture {
 protected:
  void SetUp() override {
    auto inner = CreatePosixFileLayer(dir_->path() + "/data", {});
    ASSERT_TRUE(inner.ok());
    fault_ = std::make_shared<FaultFileLayer>(std::shared_ptr<FileLayer>(std::move(*inner)));
    layer_ = fault_;
    EngineFixture::SetUp();
  }

  ClassStats Stats(uint8_t class_log2) {
    auto space = engine_->GetSpaceInfo();
    EXPECT_TRUE(space.ok());
    return space->classes[ClassIndex(class_log2)];
  }

  // Allocated bytes (st_blocks) of all data files.
  uint64_t DiskBlocksBytes() {
    uint64_t total = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_->path() + "/data")) {
      struct stat st {};
      if (e.is_regular_file() && ::stat(e.path().c_str(), &st) == 0) total += st.st_blocks * 512;
    }
    return total;
  }

  std::shared_ptr<FaultFileLayer> fault_;
};

TEST_F(ChunkSpaceTest, ChurnReusesSlotsSoFilesStayBounded) {
  // 64 KiB class: 16 slots per 1 MiB group, 2 groups per file.
  std::vector<ChunkId> live;
  uint64_t next = 0;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 10; ++i) {
      ChunkId id = MakeChunkId(InodeId(1), next++);
      WriteCommit(*engine_, id, k64K, 0, Bytes(1000 + i, next), 1);
      live.push_back(id);
    }
    while (live.size() > 12) {  // keep at most 12 chunks alive
      ASSERT_TRUE(*engine_->Purge(kTarget, live.front()));
      live.erase(live.begin());
    }
  }
  ClassStats s = Stats(16);
  EXPECT_EQ(s.used_slots, 12u);
  EXPECT_LE(s.groups, 2u);  // at most 22 slots were ever live at once
  EXPECT_EQ(s.files, 1u);
  // Overwrites (copy-on-write) of one chunk ping-pong between two slots.
  ChunkId hot = live.back();
  for (uint64_t v = 2; v < 40; ++v) WriteCommit(*engine_, hot, k64K, 10, Bytes(100, v), v);
  EXPECT_EQ(Stats(16).used_slots, 12u);
  EXPECT_LE(Stats(16).groups, 2u);
  ExpectNoLeakedSlots(*engine_);
}

TEST_F(ChunkSpaceTest, EmptyGroupsAreHolePunchedAndReallocatedOnReuse) {
  std::vector<ChunkId> ids;
  for (uint64_t i = 0; i < 40; ++i) {  // 40 slots of 64 KiB: groups 0..2
    ids.push_back(MakeChunkId(InodeId(2), i));
    WriteCommit(*engine_, ids.back(), k64K, 0, Bytes(k64K, i), 1);
  }
  EXPECT_EQ(Stats(16).allocated_groups, 3u);
  uint64_t full = DiskBlocksBytes();
  EXPECT_GE(full, 3u << 20);
  for (uint64_t i = 16; i < 40; ++i) ASSERT_TRUE(*engine_->Purge(kTarget, ids[i]));
  EXPECT_EQ(Stats(16).allocated_groups, 1u);  // groups 1 and 2 emptied and punched
  EXPECT_LE(DiskBlocksBytes() + (2u << 20), full);
  for (uint64_t i = 0; i < 16; ++i) EXPECT_EQ(Committed(*engine_, ids[i]), Bytes(k64K, i));
  // Reuse: the punched group is allocated again before use and reads back correctly.
  for (uint64_t i = 16; i < 30; ++i)
    WriteCommit(*engine_, ids[i], k64K, 0, Bytes(k64K, 500 + i), 1);
  EXPECT_EQ(Stats(16).allocated_groups, 2u);
  for (uint64_t i = 16; i < 30; ++i) EXPECT_EQ(Committed(*engine_, ids[i]), Bytes(k64K, 500 + i));
  Reopen();  // after a restart, groups with chunks are known to be allocated
  EXPECT_EQ(Stats(16).allocated_groups, 2u);
  for (uint64_t i = 16; i < 30; ++i) EXPECT_EQ(Committed(*engine_, ids[i]), Bytes(k64K, 500 + i));
}

TEST_F(ChunkSpaceTest, LowSpaceRefusesNewChunksButNotUpdatesOfExistingOnes) {
  ChunkId existing = MakeChunkId(InodeId(3), 0);
  WriteCommit(*engine_, existing, k256K, 0, Bytes(1000, 1), 1);
  auto real = engine_->GetSpaceInfo();
  ASSERT_TRUE(real.ok());
  EXPECT_FALSE(real->low_space);
  engine_->SetLowSpaceThreshold(100u << 20, 0);
  fault_->SetFreeBytes(50u << 20);
  EXPECT_TRUE(engine_->GetSpaceInfo()->low_space);
  auto w = engine_->Write(kTarget, MakeChunkId(InodeId(3), 1), k256K, 0, Bytes(10, 2), V(1));
  EXPECT_EQ(w.status().code(), StatusCode::kNoSpace);
  EXPECT_EQ(w.status().errno_value(), ENOSPC);
  EXPECT_EQ(engine_->Truncate(kTarget, MakeChunkId(InodeId(3), 1), k256K, 10, V(1)).status().code(),
            StatusCode::kNoSpace);
  EXPECT_EQ(
      engine_
          ->ReplaceFull(kTarget, MakeChunkId(InodeId(3), 1), Bytes(10, 2), {k256K, 1, true, {}, {}})
          .status()
          .code(),
      StatusCode::kNoSpace);
  // Except a replace that completes a pending update so that its removal can follow (storage
  // sets it then): a chunk must stay deletable on a full disk.
  ChunkId resolving = MakeChunkId(InodeId(3), 2);
  ASSERT_TRUE(
      engine_->ReplaceFull(kTarget, resolving, Bytes(10, 2), {k256K, 1, false, {}, {}, true}).ok());
  ASSERT_TRUE(engine_->Commit(kTarget, resolving, 1, {}).ok());
  ASSERT_TRUE(engine_->Remove(kTarget, resolving, V(2)).ok());
  ASSERT_TRUE(engine_->Commit(kTarget, resolving, 2, {}).ok());
  // The existing chunk can still be overwritten, appended, committed and removed.
  WriteCommit(*engine_, existing, k256K, 0, Bytes(1000, 3), 2);
  WriteCommit(*engine_, existing, k256K, 1000, Bytes(1000, 4), 3);
  ASSERT_TRUE(engine_->Remove(kTarget, existing, V(4)).ok());
  ASSERT_TRUE(engine_->Commit(kTarget, existing, 4, {}).ok());
  // Percentage threshold: 50 MiB free is below 99.9% of any real disk.
  engine_->SetLowSpaceThreshold(0, 99.9);
  EXPECT_TRUE(engine_->GetSpaceInfo()->low_space);
  engine_->SetLowSpaceThreshold(0, 0);  // hot change: refusal stops at once
  EXPECT_FALSE(engine_->GetSpaceInfo()->low_space);
  EXPECT_TRUE(
      engine_->Write(kTarget, MakeChunkId(InodeId(3), 1), k256K, 0, Bytes(10, 2), V(1)).ok());
  EXPECT_TRUE(engine_->health().ok());
}

TEST_F(ChunkSpaceTest, AFullFileSystemIsNoSpaceAndDoesNotFailTheDisk) {
  ChunkId kept = MakeChunkId(InodeId(4), 0);
  WriteCommit(*engine_, kept, k1M, 0, Bytes(600000, 1), 1);
  fault_->InjectErrors(FaultFileLayer::kAllocate, 0, StatusCode::kNoSpace);
  // 600000 bytes use a 1 MiB slot, one per group: a copy needs a new group, whose fallocate
  // fails with ENOSPC.
  auto w = engine_->Write(kTarget, kept, k1M, 10, Bytes(10, 2), V(2));
  EXPECT_EQ(w.status().code(), StatusCode::kNoSpace);
  EXPECT_TRUE(engine_->health().ok());
  EXPECT_EQ(Committed(*engine_, kept), Bytes(600000, 1));  // nothing written is lost
  ExpectNoLeakedSlots(*engine_);
  fault_->ClearErrors();
  WriteCommit(*engine_, kept, k1M, 10, Bytes(10, 2), 2);
}

// 40 chunks of 64 KiB (16 per group: groups 0..2), then chunks 0..19 purged: group 0 empty,
// group 1 holds 12, group 2 (the tail) holds 8 = half full.
std::vector<ChunkId> MakeSparseTail(ChunkEngine& e) {
  std::vector<ChunkId> ids;
  for (uint64_t i = 0; i < 40; ++i) {
    ids.push_back(MakeChunkId(InodeId(6), i));
    WriteCommit(e, ids.back(), k64K, 0, Bytes(30000 + i, i), 1);
  }
  for (uint64_t i = 0; i < 20; ++i) EXPECT_TRUE(*e.Purge(kTarget, ids[i]));
  return ids;
}

TEST_F(ChunkSpaceTest, CompactionEmptiesTheSparseTailGroupIntoLowerSlots) {
  auto ids = MakeSparseTail(*engine_);
  EXPECT_EQ(Stats(16).allocated_groups, 2u);  // group 0 was punched
  auto r = engine_->Compact(100);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->moved, 8u);
  EXPECT_EQ(r->groups_emptied, 1u);
  EXPECT_FALSE(r->more);  // group 1 (12 of 16) is not sparse
  ClassStats s = Stats(16);
  EXPECT_EQ(s.used_slots, 20u);
  EXPECT_EQ(s.allocated_groups, 2u);  // groups 0 and 1; group 2 punched
  for (uint64_t i = 20; i < 40; ++i) {
    EXPECT_EQ(Committed(*engine_, ids[i]), Bytes(30000 + i, i));
    EXPECT_LT(engine_->GetMeta(kTarget, ids[i])->committed->slot.index, 32u);
  }
  ExpectNoLeakedSlots(*engine_);
  Reopen();
  for (uint64_t i = 20; i < 40; ++i) EXPECT_EQ(Committed(*engine_, ids[i]), Bytes(30000 + i, i));
  auto again = engine_->Compact(100);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->moved, 0u);
  auto moved =
      registry_.GetCounter("hf3fs_chunk_compacted_chunks_total", "", {{"disk", dir_->path()}});
  EXPECT_EQ(moved->Value(), 8u);  // per disk, across engine instances of the process
}

TEST_F(ChunkSpaceTest, CompactionIsBoundedAndSkipsChunksWithAPendingUpdate) {
  auto ids = MakeSparseTail(*engine_);
  EXPECT_EQ(engine_->Compact(0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->Compact(kMaxCompactMoves + 1).status().code(), StatusCode::kInvalidArgument);
  auto r = engine_->Compact(3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->moved, 3u);
  EXPECT_TRUE(r->more);
  // A pending update in the tail group: nothing there moves, the pending bytes stay readable.
  ASSERT_TRUE(engine_->Write(kTarget, ids[39], k64K, 30039, Bytes(10, 1), V(2)).ok());
  auto blocked = engine_->Compact(100);
  ASSERT_TRUE(blocked.ok());
  EXPECT_EQ(blocked->moved, 0u);
  EXPECT_EQ(blocked->groups_emptied, 0u);
  ASSERT_TRUE(engine_->Commit(kTarget, ids[39], 2, {}).ok());
  auto rest = engine_->Compact(100);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->moved, 5u);
  EXPECT_EQ(rest->groups_emptied, 1u);
  auto expect = Bytes(30039, 39);
  auto tail = Bytes(10, 1);
  expect.insert(expect.end(), tail.begin(), tail.end());
  EXPECT_EQ(Committed(*engine_, ids[39]), expect);
  for (uint64_t i = 20; i < 39; ++i) EXPECT_EQ(Committed(*engine_, ids[i]), Bytes(30000 + i, i));
  ExpectNoLeakedSlots(*engine_);
}

TEST_F(ChunkSpaceTest, SpaceInfoReportsClassesAndTargets) {
  WriteCommit(*engine_, MakeChunkId(InodeId(5), 0), k64K, 0, Bytes(10, 1), 1);
  WriteCommit(*engine_, MakeChunkId(InodeId(5), 1), k1M, 0, Bytes(300000, 1), 1);
  ASSERT_TRUE(
      engine_->Write(TargetId(99), MakeChunkId(InodeId(5), 0), k64K, 0, Bytes(10, 1), V(1)).ok());
  auto s = engine_->GetSpaceInfo();
  ASSERT_TRUE(s.ok());
  EXPECT_GT(s->capacity_bytes, 0u);
  EXPECT_EQ(s->classes.size(), kNumClasses);
  EXPECT_EQ(s->classes[ClassIndex(16)].used_slots, 2u);
  EXPECT_EQ(s->classes[ClassIndex(19)].used_slots, 1u);  // 300000 bytes -> 512 KiB slot
  EXPECT_EQ(s->used_slot_bytes, 2 * (64u << 10) + (512u << 10));
  EXPECT_EQ(s->chunks_per_target.at(kTarget), 2u);
  EXPECT_EQ(s->chunks_per_target.at(TargetId(99)), 1u);
}

}  // namespace
}  // namespace hf3fs::chunk
