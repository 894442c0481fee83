// ChunkEngine API: reads, writes, copy-on-write, appends, truncate, removal, replace, listing,
// range removal, reopen, concurrency, metrics and config.
#include "chunk/chunk_engine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <thread>

#include "chunk/chunk_engine_config.h"
#include "chunk/chunk_test_util.h"
#include "common/units.h"

namespace hf3fs::chunk {
namespace {

using namespace testing;

class ChunkEngineTest : public EngineFixture {};

const ChunkId kA = MakeChunkId(InodeId(100), 0);
const ChunkId kB = MakeChunkId(InodeId(100), 1);

TEST_F(ChunkEngineTest, WriteIsPendingUntilCommittedThenReadsBack) {
  auto data = Bytes(100000, 1);
  auto w = engine_->Write(kTarget, kA, k1M, 0, data, V(1));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->state(), ChunkState::kPending);
  EXPECT_EQ(w->update_version(), 1u);
  EXPECT_EQ(w->commit_version(), 0u);
  EXPECT_EQ(w->pending->checksum, Crc(data));

  std::vector<uint8_t> out(data.size());
  EXPECT_EQ(engine_->Read(kTarget, kA, 0, out).status().code(), StatusCode::kChunkNotCommitted);
  EXPECT_TRUE(engine_->Read(kTarget, kA, 0, out).status().retryable());
  EXPECT_EQ(engine_->Read(kTarget, kA, 0, out, ReadMode::kLastCommitted).status().code(),
            StatusCode::kChunkNotFound);
  auto latest = engine_->Read(kTarget, kA, 0, out, ReadMode::kLatest);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(out, data);

  auto c = engine_->Commit(kTarget, kA, 1, ChainVersion(3));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->state(), ChunkState::kCommitted);
  EXPECT_EQ(c->commit_version(), 1u);
  EXPECT_EQ(c->chain_version, ChainVersion(3));
  std::fill(out.begin(), out.end(), 0);
  auto r = engine_->Read(kTarget, kA, 0, out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->bytes, data.size());
  EXPECT_EQ(r->version, 1u);
  EXPECT_EQ(r->meta.committed->checksum, Crc(data));
  EXPECT_EQ(out, data);
}

TEST_F(ChunkEngineTest, ReadsAtAnyOffsetAndZeroFillPastTheLength) {
  auto data = Bytes(70001, 2);
  WriteCommit(*engine_, kA, k1M, 0, data, 1);
  for (uint32_t offset : {0u, 1u, 4095u, 4096u, 12345u, 65536u, 69999u}) {
    std::vector<uint8_t> out(3000, 0xee);
    auto r = engine_->Read(kTarget, kA, offset, out);
    ASSERT_TRUE(r.ok()) << r.status();
    uint32_t expect = std::min<uint32_t>(3000, 70001 - offset);
    EXPECT_EQ(r->bytes, expect) << offset;
    EXPECT_TRUE(std::equal(out.begin(), out.begin() + expect, data.begin() + offset)) << offset;
    EXPECT_TRUE(std::all_of(out.begin() + expect, out.end(), [](uint8_t b) { return b == 0; }));
  }
  // An aligned buffer, offset and length take the direct path.
  AlignedBuffer aligned(64 << 10);
  auto r = engine_->Read(kTarget, kA, 4096, aligned.span());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::equal(aligned.data(), aligned.data() + aligned.size(), data.begin() + 4096));
  // Entirely past the end: nothing, all zeros.
  std::vector<uint8_t> past(100, 1);
  auto p = engine_->Read(kTarget, kA, 900000, past);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->bytes, 0u);
  EXPECT_TRUE(std::all_of(past.begin(), past.end(), [](uint8_t b) { return b == 0; }));
  EXPECT_EQ(engine_->Read(kTarget, kA, k1M - 10, past).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->Read(kTarget, kB, 0, past).status().code(), StatusCode::kChunkNotFound);
}

TEST_F(ChunkEngineTest, GapsBeforeAWriteReadAsZeros) {
  auto tail = Bytes(10000, 3);
  std::vector<uint8_t> model;
  WriteCommit(*engine_, kA, k1M, 200000, tail, 1, &model);
  EXPECT_EQ(Committed(*engine_, kA), model);
  EXPECT_EQ(model.size(), 210000u);
  // A second gap, appended in place after the first write.
  auto more = Bytes(5000, 4);
  WriteCommit(*engine_, kA, k1M, 250001, more, 2, &model);
  EXPECT_EQ(Committed(*engine_, kA), model);
  auto meta = engine_->GetMeta(kTarget, kA);
  EXPECT_EQ(meta->committed->checksum, Crc(model));
}

TEST_F(ChunkEngineTest, OverwriteIsCopyOnWriteAndTheCommittedVersionStaysReadable) {
  auto v1 = Bytes(200000, 5);
  WriteCommit(*engine_, kA, k1M, 0, v1, 1);
  auto patch = Bytes(3000, 6);
  auto w = engine_->Write(kTarget, kA, k1M, 50001, patch, V(2));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_NE(w->pending->slot, w->committed->slot);
  EXPECT_EQ(Committed(*engine_, kA), v1);  // the committed bytes are untouched
  auto v2 = v1;
  std::copy(patch.begin(), patch.end(), v2.begin() + 50001);
  auto latest = engine_->ReadFull(kTarget, kA, ReadMode::kLatest);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->data, v2);
  EXPECT_EQ(latest->checksum, Crc(v2));
  auto space = engine_->GetSpaceInfo();
  EXPECT_EQ(space->used_slot_bytes, 2 * 256u << 10);  // both versions held
  ASSERT_TRUE(engine_->Commit(kTarget, kA, 2, ChainVersion(1)).ok());
  EXPECT_EQ(Committed(*engine_, kA), v2);
  EXPECT_EQ(engine_->GetSpaceInfo()->used_slot_bytes, 256u << 10);  // old slot released
}

TEST_F(ChunkEngineTest, AppendsStayInTheSlotWithAnIncrementalChecksum) {
  std::vector<uint8_t> model;
  WriteCommit(*engine_, kA, k1M, 0, Bytes(5000, 7), 1, &model);  // unaligned end
  auto slot = engine_->GetMeta(kTarget, kA)->committed->slot;
  EXPECT_EQ(slot.class_log2, 16);
  uint64_t version = 2;
  for (uint32_t n : {1u, 4095u, 4096u, 7u, 30000u}) {
    auto w = engine_->Write(kTarget, kA, k1M, model.size(), Bytes(n, version), V(version));
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(w->pending->slot, slot) << "append moved the chunk";
    EXPECT_EQ(Committed(*engine_, kA), model) << "committed bytes changed by an append";
    ASSERT_TRUE(engine_->Commit(kTarget, kA, version, ChainVersion(1)).ok());
    auto add = Bytes(n, version);
    model.insert(model.end(), add.begin(), add.end());
    EXPECT_EQ(Committed(*engine_, kA), model);
    EXPECT_EQ(engine_->GetMeta(kTarget, kA)->committed->checksum, Crc(model));
    ++version;
  }
  auto appends = registry_.GetCounter("hf3fs_chunk_updates_total", "",
                                      {{"disk", dir_->path()}, {"path", "append"}});
  EXPECT_EQ(appends->Value(), 5u);
}

TEST_F(ChunkEngineTest, AnAppendThatOutgrowsItsSlotMovesToAtLeastFourTimesTheClass) {
  std::vector<uint8_t> model;
  WriteCommit(*engine_, kA, k1M, 0, Bytes(60000, 8), 1, &model);
  WriteCommit(*engine_, kA, k1M, 60000, Bytes(10000, 9), 2, &model);
  auto meta = engine_->GetMeta(kTarget, kA);
  EXPECT_EQ(meta->committed->slot.class_log2, 18);  // 64 KiB -> 256 KiB
  EXPECT_EQ(Committed(*engine_, kA), model);
  // The chunk size caps the class.
  WriteCommit(*engine_, kB, k128K, 0, Bytes(60000, 10), 1);
  WriteCommit(*engine_, kB, k128K, 60000, Bytes(60000, 11), 2);
  EXPECT_EQ(engine_->GetMeta(kTarget, kB)->committed->slot.class_log2, 17);
}

TEST_F(ChunkEngineTest, TruncateShrinksInPlaceAndExtendingWritesZerosOverStaleBytes) {
  auto data = Bytes(100000, 12);
  WriteCommit(*engine_, kA, k1M, 0, data, 1);
  auto slot = engine_->GetMeta(kTarget, kA)->committed->slot;
  auto t = engine_->Truncate(kTarget, kA, k1M, 30001, V(2));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->pending->slot, slot);
  EXPECT_EQ(t->pending->length, 30001u);
  ASSERT_TRUE(engine_->Commit(kTarget, kA, 2, ChainVersion(1)).ok());
  std::vector<uint8_t> model(data.begin(), data.begin() + 30001);
  EXPECT_EQ(Committed(*engine_, kA), model);
  // Extending must not resurrect the old bytes that still sit in the slot.
  ASSERT_TRUE(engine_->Truncate(kTarget, kA, k1M, 90000, V(3)).ok());
  ASSERT_TRUE(engine_->Commit(kTarget, kA, 3, ChainVersion(1)).ok());
  model.resize(90000, 0);
  EXPECT_EQ(Committed(*engine_, kA), model);
  EXPECT_EQ(engine_->GetMeta(kTarget, kA)->committed->checksum, Crc(model));
  // Same length: a new version with the same bytes; zero: no slot at all.
  ASSERT_TRUE(engine_->Truncate(kTarget, kA, k1M, 90000, V(4)).ok());
  ASSERT_TRUE(engine_->Commit(kTarget, kA, 4, ChainVersion(1)).ok());
  EXPECT_EQ(Committed(*engine_, kA), model);
  ASSERT_TRUE(engine_->Truncate(kTarget, kA, k1M, 0, V(5)).ok());
  auto zero = engine_->Commit(kTarget, kA, 5, ChainVersion(1));
  ASSERT_TRUE(zero.ok());
  EXPECT_FALSE(zero->committed->slot.valid());
  EXPECT_TRUE(Committed(*engine_, kA).empty());
  EXPECT_EQ(engine_->GetSpaceInfo()->used_slot_bytes, 0u);
  // Truncating a missing chunk creates it, full of zeros.
  ASSERT_TRUE(engine_->Truncate(kTarget, kB, k1M, 5000, V(1)).ok());
  ASSERT_TRUE(engine_->Commit(kTarget, kB, 1, ChainVersion(1)).ok());
  EXPECT_EQ(Committed(*engine_, kB), std::vector<uint8_t>(5000, 0));
  EXPECT_EQ(engine_->Truncate(kTarget, kB, k1M, k1M + 1, V(2)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ChunkEngineTest, RemovalIsPendingUntilCommitted) {
  auto data = Bytes(5000, 13);
  WriteCommit(*engine_, kA, k1M, 0, data, 1);
  auto r = engine_->Remove(kTarget, kA, V(2));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->pending->removal);
  std::vector<uint8_t> out(10);
  EXPECT_EQ(engine_->Read(kTarget, kA, 0, out).status().code(), StatusCode::kChunkNotCommitted);
  EXPECT_EQ(engine_->Read(kTarget, kA, 0, out, ReadMode::kLatest).status().code(),
            StatusCode::kChunkNotFound);
  EXPECT_EQ(Committed(*engine_, kA), data);
  auto c = engine_->Commit(kTarget, kA, 2, ChainVersion(1));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->removed());
  EXPECT_EQ(engine_->GetMeta(kTarget, kA).status().code(), StatusCode::kChunkNotFound);
  EXPECT_EQ(engine_->GetSpaceInfo()->used_slot_bytes, 0u);
  EXPECT_TRUE(engine_->GetSpaceInfo()->chunks_per_target.empty());
  EXPECT_EQ(engine_->Remove(kTarget, kA, V(1)).status().code(), StatusCode::kChunkNotFound);
  // Versions start over for a chunk created again.
  WriteCommit(*engine_, kA, k1M, 0, data, 1);
}

TEST_F(ChunkEngineTest, ReplaceFullInstallsWholeChunksAsCommittedOrPending) {
  auto data = Bytes(300000, 14);
  ReplaceOptions o{k1M, 10, true, ChainVersion(2), Crc(data)};
  auto r = engine_->ReplaceFull(kTarget, kA, data, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->commit_version(), 10u);
  EXPECT_EQ(Committed(*engine_, kA), data);
  auto newer = Bytes(1000, 15);
  ASSERT_TRUE(engine_->ReplaceFull(kTarget, kA, newer, {k1M, 12, false, ChainVersion(2), {}}).ok());
  EXPECT_EQ(Committed(*engine_, kA), data);
  EXPECT_EQ(engine_->ReadFull(kTarget, kA, ReadMode::kLatest)->data, newer);
  // Older than the pending part: stale. Normal updates must follow the commit version.
  EXPECT_EQ(engine_->ReplaceFull(kTarget, kA, newer, {k1M, 11, false, {}, {}}).status().code(),
            StatusCode::kChunkStaleVersion);
  EXPECT_EQ(engine_->Write(kTarget, kA, k1M, 0, newer, V(11)).status().code(),
            StatusCode::kChunkStaleVersion);
  // Committing a replacement drops the pending part and its slot.
  ASSERT_TRUE(engine_->ReplaceFull(kTarget, kA, newer, {k1M, 9, true, {}, {}}).ok());
  auto meta = engine_->GetMeta(kTarget, kA);
  EXPECT_FALSE(meta->pending);
  EXPECT_EQ(meta->commit_version(), 9u);
  EXPECT_EQ(Committed(*engine_, kA), newer);
  ExpectNoLeakedSlots(*engine_);
  EXPECT_EQ(engine_->ReplaceFull(kTarget, kB, newer, {k1M, 1, true, {}, 1234}).status().code(),
            StatusCode::kChunkChecksumMismatch);
  ASSERT_TRUE(engine_->ReplaceFull(kTarget, kB, {}, {k1M, 1, true, {}, {}}).ok());
  EXPECT_TRUE(Committed(*engine_, kB).empty());
}

TEST_F(ChunkEngineTest, ClientChecksumIsVerifiedBeforeAnythingIsWritten) {
  auto data = Bytes(4096, 16);
  UpdateOptions o = V(1);
  o.expected_checksum = Crc(data) ^ 1;
  auto w = engine_->Write(kTarget, kA, k1M, 0, data, o);
  EXPECT_EQ(w.status().code(), StatusCode::kChunkChecksumMismatch);
  EXPECT_TRUE(w.status().retryable());
  EXPECT_EQ(engine_->GetMeta(kTarget, kA).status().code(), StatusCode::kChunkNotFound);
  EXPECT_EQ(engine_->GetSpaceInfo()->used_slot_bytes, 0u);
  o.expected_checksum = Crc(data);
  EXPECT_TRUE(engine_->Write(kTarget, kA, k1M, 0, data, o).ok());
}

// Where the committed bytes of `id` live on disk, computed from the format document.
std::pair<std::string, uint64_t> SlotLocation(ChunkEngine& e, const std::string& dir,
                                              const ChunkId& id) {
  SlotAddress slot = e.GetMeta(kTarget, id)->committed->slot;
  const Layout& layout = e.info().layout;
  uint64_t spg = layout.slots_per_group[ClassIndex(slot.class_log2)];
  uint64_t gpf = layout.groups_per_file[ClassIndex(slot.class_log2)];
  uint64_t group = slot.index / spg;
  uint64_t cls = ClassBytes(slot.class_log2);
  uint64_t offset = (group % gpf) * spg * cls + (slot.index % spg) * cls;
  return {fmt::format("{}/data/{}/{:08}", dir, FormatSize(cls), group / gpf), offset};
}

TEST_F(ChunkEngineTest, CorruptBytesAreDetectedOnWholeReadsAndNeverCopied) {
  auto data = Bytes(100000, 17);
  WriteCommit(*engine_, kA, k1M, 0, data, 1);
  auto [path, offset] = SlotLocation(*engine_, dir_->path(), kA);
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  uint8_t flipped = data[777] ^ 0x40;
  ASSERT_EQ(::pwrite(fd, &flipped, 1, static_cast<off_t>(offset + 777)), 1);
  ::fsync(fd);
  ::close(fd);

  EXPECT_EQ(engine_->ReadFull(kTarget, kA).status().code(), StatusCode::kDataCorruption);
  std::vector<uint8_t> whole(data.size());
  EXPECT_EQ(engine_->Read(kTarget, kA, 0, whole).status().code(), StatusCode::kDataCorruption);
  std::vector<uint8_t> part(100);
  EXPECT_TRUE(engine_->Read(kTarget, kA, 5000, part).ok());  // partial reads are not verified
  // Updates that read the committed bytes refuse to spread the corruption.
  EXPECT_EQ(engine_->Write(kTarget, kA, k1M, 10, Bytes(10, 1), V(2)).status().code(),
            StatusCode::kDataCorruption);
  EXPECT_EQ(engine_->Truncate(kTarget, kA, k1M, 50000, V(2)).status().code(),
            StatusCode::kDataCorruption);
  EXPECT_TRUE(engine_->health().ok());  // corruption of one chunk is not a disk failure
  ExpectNoLeakedSlots(*engine_);
  auto failures =
      registry_.GetCounter("hf3fs_chunk_checksum_failures_total", "", {{"disk", dir_->path()}});
  EXPECT_GE(failures->Value(), 4u);
}

TEST_F(ChunkEngineTest, RejectsInvalidArguments) {
  auto data = Bytes(10, 18);
  auto code = [](const auto& r) { return r.status().code(); };
  EXPECT_EQ(code(engine_->Write(kTarget, kA, 100000, 0, data, V(1))), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(engine_->Write(kTarget, kA, k64K, k64K - 5, data, V(1))),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(engine_->Write(kTarget, kA, k1M, 0, data, V(0))), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(engine_->Write(kTarget, ChunkId(), k1M, 0, data, V(1))),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(engine_->Write(kTarget, ChunkId(std::string(65, 'x')), k1M, 0, data, V(1))),
            StatusCode::kInvalidArgument);
  WriteCommit(*engine_, kA, k1M, 0, data, 1);
  EXPECT_EQ(code(engine_->Write(kTarget, kA, k64K, 0, data, V(2))), StatusCode::kChunkSizeMismatch);
  EXPECT_EQ(code(engine_->ListMeta(kTarget, {}, {}, 0)), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(engine_->ListMeta(kTarget, {}, {}, kMaxRangeLimit + 1)),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(engine_->RemoveRange(kTarget, {}, {}, 0)), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(engine_->GetMeta(kTarget, ChunkId())), StatusCode::kInvalidArgument);
  ChunkEngineOptions bad = SmallOptions(&registry_);
  bad.io_piece_bytes = 1000;
  TempDir other;
  EXPECT_EQ(ChunkEngine::Open(other.path(), bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ChunkEngineTest, ListMetaPagesThroughOneTargetOnly) {
  for (uint64_t i = 0; i < 10; ++i) {
    WriteCommit(*engine_, MakeChunkId(InodeId(5), i), k64K, 0, Bytes(100, i), 1);
  }
  ASSERT_TRUE(
      engine_->Write(TargetId(8), MakeChunkId(InodeId(5), 0), k64K, 0, Bytes(1, 1), V(1)).ok());
  std::vector<ChunkId> seen;
  ChunkId cursor;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = engine_->ListMeta(kTarget, cursor, {}, 3);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& m : page->metas) {
      EXPECT_EQ(m.target, kTarget);
      seen.push_back(m.chunk_id);
    }
    if (!page->more) break;
    EXPECT_EQ(page->metas.size(), 3u);
    cursor = page->next;
  }
  ASSERT_EQ(seen.size(), 10u);
  for (uint64_t i = 0; i < 10; ++i) EXPECT_EQ(seen[i], MakeChunkId(InodeId(5), i));
  auto other = engine_->ListMeta(TargetId(8), {}, {}, 100);
  ASSERT_EQ(other->metas.size(), 1u);
  EXPECT_EQ(other->metas[0].state(), ChunkState::kPending);
  auto [begin, end] = FileChunkRange(InodeId(5), 7);
  EXPECT_EQ(engine_->ListMeta(kTarget, begin, end, 100)->metas.size(), 3u);
  EXPECT_EQ(engine_->GetSpaceInfo()->chunks_per_target.at(kTarget), 10u);
  EXPECT_EQ(engine_->GetSpaceInfo()->chunks_per_target.at(TargetId(8)), 1u);
}

TEST_F(ChunkEngineTest, QueryLastChunkSummarizesCommittedChunksOfAFile) {
  auto [begin, end] = FileChunkRange(InodeId(9));
  auto empty = engine_->QueryLastChunk(kTarget, begin, end);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->last);
  WriteCommit(*engine_, MakeChunkId(InodeId(9), 0), k64K, 0, Bytes(k64K, 1), 1);
  WriteCommit(*engine_, MakeChunkId(InodeId(9), 3), k64K, 0, Bytes(1000, 2), 1);
  ASSERT_TRUE(engine_->Write(kTarget, MakeChunkId(InodeId(9), 5), k64K, 0, Bytes(9, 3), V(1)).ok());
  WriteCommit(*engine_, MakeChunkId(InodeId(10), 0), k64K, 0, Bytes(7, 4), 1);
  auto sum = engine_->QueryLastChunk(kTarget, begin, end);
  ASSERT_TRUE(sum.ok()) << sum.status();
  ASSERT_TRUE(sum->last);
  EXPECT_EQ(sum->last->chunk_id, MakeChunkId(InodeId(9), 3));  // chunk 5 is only pending
  EXPECT_EQ(sum->chunks, 2u);
  EXPECT_EQ(sum->total_length, k64K + 1000u);
  EXPECT_EQ(sum->pending, 1u);
}

TEST_F(ChunkEngineTest, RemoveRangeIsBatchedResumableAndFreesSlots) {
  for (uint64_t i = 0; i < 10; ++i) {
    WriteCommit(*engine_, MakeChunkId(InodeId(20), i), k64K, 0, Bytes(5000, i), 1);
  }
  WriteCommit(*engine_, MakeChunkId(InodeId(21), 0), k64K, 0, Bytes(5000, 99), 1);
  auto [begin, end] = FileChunkRange(InodeId(20));
  ChunkId cursor = begin;
  uint32_t removed = 0;
  int calls = 0;
  for (;;) {
    auto r = engine_->RemoveRange(kTarget, cursor, end, 4);
    ASSERT_TRUE(r.ok()) << r.status();
    removed += r->removed;
    ++calls;
    if (!r->more) break;
    cursor = r->next;
  }
  EXPECT_EQ(removed, 10u);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(engine_->GetSpaceInfo()->chunks_per_target.at(kTarget), 1u);
  EXPECT_EQ(Committed(*engine_, MakeChunkId(InodeId(21), 0)), Bytes(5000, 99));
  ExpectNoLeakedSlots(*engine_);
  auto again = engine_->RemoveRange(kTarget, begin, end, 4);
  EXPECT_EQ(again->removed, 0u);
  auto purged = engine_->Purge(kTarget, MakeChunkId(InodeId(21), 0));
  ASSERT_TRUE(purged.ok());
  EXPECT_TRUE(*purged);
  EXPECT_FALSE(*engine_->Purge(kTarget, MakeChunkId(InodeId(21), 0)));
  EXPECT_EQ(engine_->GetSpaceInfo()->used_slot_bytes, 0u);
}

TEST_F(ChunkEngineTest, ReopenRebuildsAllocationAndKeepsCommittedAndPendingParts) {
  std::map<ChunkId, std::vector<uint8_t>> model;
  for (uint64_t i = 0; i < 12; ++i) {
    ChunkId id = MakeChunkId(InodeId(30), i);
    uint32_t size = (i % 3 == 0) ? k64K : (i % 3 == 1 ? k256K : k1M);
    auto data = Bytes((1000 + i * 20000) % (size - 1) + 1, i);
    WriteCommit(*engine_, id, size, 0, data, 1);
    model[id] = data;
  }
  ASSERT_TRUE(
      engine_->Write(kTarget, MakeChunkId(InodeId(30), 1), k256K, 0, Bytes(7, 7), V(2)).ok());
  auto before = engine_->GetSpaceInfo();
  Reopen();
  auto after = engine_->GetSpaceInfo();
  EXPECT_EQ(after->used_slot_bytes, before->used_slot_bytes);
  EXPECT_EQ(after->chunks_per_target, before->chunks_per_target);
  for (const auto& [id, data] : model) EXPECT_EQ(Committed(*engine_, id), data);
  EXPECT_EQ(engine_->GetMeta(kTarget, MakeChunkId(InodeId(30), 1))->update_version(), 2u);
  // New chunks get free slots: nothing existing is overwritten.
  for (uint64_t i = 0; i < 12; ++i) {
    WriteCommit(*engine_, MakeChunkId(InodeId(31), i), k1M, 0, Bytes(90000, 1000 + i), 1);
  }
  for (const auto& [id, data] : model) EXPECT_EQ(Committed(*engine_, id), data);
  ExpectNoLeakedSlots(*engine_);
}

TEST_F(ChunkEngineTest, ConcurrentUpdatesAndReadsOfManyChunksStayConsistent) {
  constexpr int kThreads = 4;
  constexpr int kOps = 25;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint8_t>> models(kThreads * 2);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int op = 0; op < kOps; ++op) {
        int which = t * 2 + op % 2;
        ChunkId id = MakeChunkId(InodeId(40), which);
        auto& model = models[which];
        uint64_t version = engine_->GetMeta(kTarget, id).ok()
                               ? engine_->GetMeta(kTarget, id)->commit_version() + 1
                               : 1;
        uint32_t offset = (op * 7919) % 200000;
        auto data = Bytes(1 + (op * 104729) % 60000, t * 1000 + op);
        WriteCommit(*engine_, id, k256K, offset, data, version, &model);
        std::vector<uint8_t> out(4096);
        EXPECT_TRUE(
            engine_->Read(kTarget, MakeChunkId(InodeId(40), (which + 1) % (kThreads * 2)), 0, out)
                .status()
                .code() != StatusCode::kDataCorruption);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < kThreads * 2; ++i)
    EXPECT_EQ(Committed(*engine_, MakeChunkId(InodeId(40), i)), models[i]);
  ExpectNoLeakedSlots(*engine_);
}

TEST_F(ChunkEngineTest, ExportsMetricsPerDisk) {
  WriteCommit(*engine_, kA, k1M, 0, Bytes(5000, 1), 1);
  std::vector<uint8_t> out(10);
  ASSERT_TRUE(engine_->Read(kTarget, kA, 0, out).ok());
  EXPECT_FALSE(engine_->Read(kTarget, kB, 0, out).ok());
  std::string text = registry_.RenderPrometheus();
  for (const char* name :
       {"hf3fs_chunk_ops_total", "hf3fs_chunk_op_latency_seconds", "hf3fs_chunk_slots_used",
        "hf3fs_chunk_slots_free", "hf3fs_chunk_disk_capacity_bytes", "hf3fs_chunk_engine_failed",
        "hf3fs_chunk_op_errors_total", "hf3fs_chunk_write_bytes_total"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
  EXPECT_NE(text.find("code=\"ChunkNotFound\""), std::string::npos);
  EXPECT_NE(text.find("hf3fs_chunk_slots_used{disk=\"" + dir_->path() + "\",class=\"64KiB\"} 1"),
            std::string::npos)
      << text;
}

TEST(ChunkEngineConfig, TomlValuesBecomeEngineOptions) {
  struct Root : config::Section {
    Root() : Section("root") {}
    ChunkEngineConfig chunk{this, "chunk_engine", "chunk engine"};
  } root;
  auto st = root.LoadString(R"(
    [chunk_engine]
    group_bytes = "64MiB"
    io_mode = "buffered"
    sync_mode = "dsync"
    low_space_threshold_percent = 5.5
    io_piece_bytes = "1MiB"
  )");
  ASSERT_TRUE(st.ok()) << st;
  ChunkEngineOptions o = root.chunk.ToOptions();
  EXPECT_EQ(o.group_bytes, 64u << 20);
  EXPECT_EQ(o.io.io_mode, IoMode::kBuffered);
  EXPECT_TRUE(o.io.dsync);
  EXPECT_EQ(o.low_space_threshold_percent, 5.5);
  EXPECT_EQ(o.io_piece_bytes, 1u << 20);
  EXPECT_EQ(root.LoadString("[chunk_engine]\nio_mode = \"fast\"").code(),
            StatusCode::kConfigInvalid);
  EXPECT_TRUE(root.HotUpdate("[chunk_engine]\nlow_space_threshold_bytes = \"2GiB\"").ok());
  EXPECT_EQ(root.HotUpdate("[chunk_engine]\ngroup_bytes = \"1GiB\"").code(),
            StatusCode::kConfigNotHotUpdatable);
}

// The same round trip on a disk (O_DIRECT) and on tmpfs, with and without O_DIRECT there (tmpfs
// refuses it before Linux 6.6; the refusal is simulated where the kernel accepts it).
enum class FsCase { kDiskDirect, kTmpfsAuto, kTmpfsBufferedFallback };

const char* FsCaseName(FsCase c) {
  switch (c) {
    case FsCase::kDiskDirect:
      return "DiskDirect";
    case FsCase::kTmpfsAuto:
      return "TmpfsAuto";
    case FsCase::kTmpfsBufferedFallback:
      return "TmpfsBufferedFallback";
  }
  return "?";
}
void PrintTo(FsCase c, std::ostream* os) { *os << FsCaseName(c); }

class ChunkEngineIoModeTest : public ::testing::TestWithParam<FsCase> {};

TEST_P(ChunkEngineIoModeTest, RoundTripsOnDirectAndBufferedFileSystems) {
  FsCase c = GetParam();
  bool tmpfs = c != FsCase::kDiskDirect;
  if (tmpfs && !HaveTmpfs()) GTEST_SKIP() << "no tmpfs at /dev/shm";
  TempDir dir(tmpfs ? "/dev/shm" : TempDir::DiskBase());
  metrics::Registry registry;
  ChunkEngineOptions o = SmallOptions(&registry);
  o.io.simulate_direct_refused = c == FsCase::kTmpfsBufferedFallback;
  auto e = ChunkEngine::Open(dir.path(), o);
  ASSERT_TRUE(e.ok()) << e.status();
  bool expect_direct =
      c == FsCase::kDiskDirect || (c == FsCase::kTmpfsAuto && DirectSupported(dir.path()));
  EXPECT_EQ((*e)->info().io.direct, expect_direct);
  std::vector<uint8_t> model;
  WriteCommit(**e, kA, k1M, 0, Bytes(300000, 1), 1, &model);
  WriteCommit(**e, kA, k1M, 1234, Bytes(5000, 2), 2, &model);
  WriteCommit(**e, kA, k1M, 300000, Bytes(5000, 3), 3, &model);
  EXPECT_EQ(Committed(**e, kA), model);
  e->reset();
  auto again = ChunkEngine::Open(dir.path(), o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Committed(**again, kA), model);
}

INSTANTIATE_TEST_SUITE_P(FileSystems, ChunkEngineIoModeTest,
                         ::testing::Values(FsCase::kDiskDirect, FsCase::kTmpfsAuto,
                                           FsCase::kTmpfsBufferedFallback),
                         [](const auto& info) { return std::string(FsCaseName(info.param)); });

}  // namespace
}  // namespace hf3fs::chunk
