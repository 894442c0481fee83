// The version rules CRAQ builds on (the table in chunk_engine.h).
#include <gtest/gtest.h>

#include "chunk/chunk_engine.h"
#include "chunk/chunk_test_util.h"

namespace hf3fs::chunk {
namespace {

using namespace testing;

class ChunkVersionTest : public EngineFixture {};

const ChunkId kC = MakeChunkId(InodeId(200), 0);

StatusCode WriteCode(ChunkEngine& e, uint64_t version, bool replace = true) {
  UpdateOptions o = V(version);
  o.replace_pending = replace;
  return e.Write(kTarget, kC, k256K, 0, Bytes(100, version), o).status().code();
}

TEST_F(ChunkVersionTest, StaleAndGapUpdatesAreRefusedWithDistinctCodes) {
  WriteCommit(*engine_, kC, k256K, 0, Bytes(100, 1), 1);
  WriteCommit(*engine_, kC, k256K, 0, Bytes(100, 2), 2);
  EXPECT_EQ(WriteCode(*engine_, 1), StatusCode::kChunkStaleVersion);
  EXPECT_EQ(WriteCode(*engine_, 2), StatusCode::kChunkStaleVersion);
  EXPECT_EQ(WriteCode(*engine_, 4), StatusCode::kChunkVersionGap);
  EXPECT_TRUE(Status(StatusCode::kChunkVersionGap).retryable());
  EXPECT_FALSE(Status(StatusCode::kChunkStaleVersion).retryable());
  EXPECT_EQ(WriteCode(*engine_, 3), StatusCode::kOk);
  // While 3 is pending, 4 needs 3 committed first.
  EXPECT_EQ(WriteCode(*engine_, 4), StatusCode::kChunkVersionGap);
  EXPECT_EQ(engine_->Truncate(kTarget, kC, k256K, 5, V(4)).status().code(),
            StatusCode::kChunkVersionGap);
  EXPECT_EQ(engine_->Remove(kTarget, kC, V(1)).status().code(), StatusCode::kChunkStaleVersion);
  // A new chunk starts at version 1.
  EXPECT_EQ(engine_->Write(kTarget, MakeChunkId(InodeId(200), 1), k256K, 0, Bytes(1, 1), V(2))
                .status()
                .code(),
            StatusCode::kChunkVersionGap);
}

TEST_F(ChunkVersionTest, ARepeatedPendingVersionIsRebuiltFromTheCommittedBytes) {
  auto base = Bytes(50000, 1);
  WriteCommit(*engine_, kC, k256K, 0, base, 1);
  // Pending v2 from an update that will be abandoned (e.g. the head died before forwarding).
  ASSERT_TRUE(engine_->Write(kTarget, kC, k256K, 100, Bytes(1000, 77), V(2)).ok());
  // The retried update carries the same version and other bytes; it replaces, not stacks.
  auto retry = Bytes(10, 88);
  auto w = engine_->Write(kTarget, kC, k256K, 40000, retry, V(2));
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE(engine_->Commit(kTarget, kC, 2, ChainVersion(1)).ok());
  auto expect = base;
  std::copy(retry.begin(), retry.end(), expect.begin() + 40000);
  EXPECT_EQ(Committed(*engine_, kC), expect);
  ExpectNoLeakedSlots(*engine_);  // the abandoned pending slot was released
  EXPECT_EQ(WriteCode(*engine_, 3), StatusCode::kOk);
  EXPECT_EQ(WriteCode(*engine_, 3, false), StatusCode::kChunkPendingExists);
  EXPECT_TRUE(Status(StatusCode::kChunkPendingExists).retryable());
}

TEST_F(ChunkVersionTest, ReplacingAnInPlacePendingAppendNeverTouchesTheCommittedBytes) {
  auto base = Bytes(10000, 1);
  WriteCommit(*engine_, kC, k256K, 0, base, 1);
  auto a = engine_->Write(kTarget, kC, k256K, 10000, Bytes(5000, 2), V(2));  // in place
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->pending->slot, a->committed->slot);
  // A different v2 (an append of other bytes) must not reuse the shared tail in place.
  auto other = Bytes(3000, 3);
  auto b = engine_->Write(kTarget, kC, k256K, 10000, other, V(2));
  ASSERT_TRUE(b.ok());
  EXPECT_NE(b->pending->slot, b->committed->slot);
  EXPECT_EQ(Committed(*engine_, kC), base);
  ASSERT_TRUE(engine_->Commit(kTarget, kC, 2, ChainVersion(1)).ok());
  auto expect = base;
  expect.insert(expect.end(), other.begin(), other.end());
  EXPECT_EQ(Committed(*engine_, kC), expect);
  ExpectNoLeakedSlots(*engine_);
}

TEST_F(ChunkVersionTest, CommitIsIdempotentAndRefusesVersionsItDoesNotHold) {
  EXPECT_EQ(engine_->Commit(kTarget, kC, 1, {}).status().code(), StatusCode::kChunkNotFound);
  ASSERT_TRUE(engine_->Write(kTarget, kC, k256K, 0, Bytes(10, 1), V(1)).ok());
  EXPECT_EQ(engine_->Commit(kTarget, kC, 2, {}).status().code(), StatusCode::kChunkVersionMismatch);
  auto first = engine_->Commit(kTarget, kC, 1, ChainVersion(4));
  ASSERT_TRUE(first.ok());
  auto again = engine_->Commit(kTarget, kC, 1, ChainVersion(5));
  ASSERT_TRUE(again.ok());  // already committed: a duplicate from a retried ack
  EXPECT_EQ(again->chain_version, ChainVersion(4));
  EXPECT_EQ(*again, *first);
  EXPECT_EQ(engine_->Commit(kTarget, kC, 2, {}).status().code(), StatusCode::kChunkVersionMismatch);
  EXPECT_EQ(engine_->Commit(kTarget, kC, 0, {}).status().code(), StatusCode::kChunkVersionMismatch);
}

TEST_F(ChunkVersionTest, UpdateAndCommitRecordTheChainVersion) {
  UpdateOptions o = V(1);
  o.chain_version = ChainVersion(17);
  auto w = engine_->Write(kTarget, kC, k256K, 0, Bytes(10, 1), o);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->chain_version, ChainVersion(17));
  EXPECT_EQ(engine_->GetMeta(kTarget, kC)->chain_version, ChainVersion(17));
  ASSERT_TRUE(engine_->Commit(kTarget, kC, 1, ChainVersion(18)).ok());
  EXPECT_EQ(engine_->GetMeta(kTarget, kC)->chain_version, ChainVersion(18));
}

TEST_F(ChunkVersionTest, ARemovalCanReplaceAPendingCreation) {
  ASSERT_TRUE(engine_->Write(kTarget, kC, k256K, 0, Bytes(10, 1), V(1)).ok());
  auto r = engine_->Remove(kTarget, kC, V(1));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(engine_->Commit(kTarget, kC, 1, {}).ok());
  EXPECT_EQ(engine_->GetMeta(kTarget, kC).status().code(), StatusCode::kChunkNotFound);
  EXPECT_EQ(engine_->GetSpaceInfo()->used_slot_bytes, 0u);
}

}  // namespace
}  // namespace hf3fs::chunk
