// Window durability of the chunk engine (docs/design/0009-durability.md): updates are readable at
// once, durable after Sync() or the background flush; a power loss keeps every chunk at its state
// of the last flush or at a later acknowledged state, never torn, never with a leaked slot, also
// when the kernel wrote back some of the unsynced data or metadata and not the rest.
#include <rocksdb/env.h>

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <thread>

#include "chunk/chunk_test_util.h"
#include "kv/rocksdb/power_loss_fs.h"

namespace hf3fs::chunk {
namespace {

using namespace testing;

// A window-durability engine whose data files and metadata store both lose unsynced writes in a
// simulated power loss.
class WindowEngine {
 public:
  explicit WindowEngine(const std::string& dir, uint64_t seed = 1) : dir_(dir), rng_(seed) {
    auto inner = CreatePosixFileLayer(dir + "/data", {});
    HF3FS_CHECK(inner.ok());
    data_ = std::make_shared<FaultFileLayer>(std::shared_ptr<FileLayer>(std::move(*inner)), seed);
    meta_fs_ = kv::PowerLossFs::Create();
    meta_env_ = kv::PowerLossFs::NewEnv(meta_fs_);
  }
  ~WindowEngine() { engine_.reset(); }

  Status Open() {
    ChunkEngineOptions o = SmallOptions(&registry_);
    o.durability = Durability::kWindow;
    o.sync_interval = std::chrono::hours(1);  // flushes only when a test asks
    o.file_layer = data_;
    o.meta_env = meta_env_.get();
    o.boot_id = "boot-" + std::to_string(boot_);
    o.fault_hook = [this](std::string_view point) { return hook ? hook(point) : Status::Ok(); };
    o.journal_max_bytes = journal_max_bytes;
    auto e = ChunkEngine::Open(dir_, o);
    if (!e.ok()) return e.status();
    engine_ = std::move(*e);
    return Status::Ok();
  }

  // What of the metadata store's unsynced log the kernel wrote back before the power went.
  enum class Log { kSyncedOnly, kRandomPrefix, kAll };

  // The machine loses power and boots again. Unsynced data sectors are lost with probability
  // `drop` each; the metadata log keeps what `log` says of its unsynced tail.
  Status PowerLoss(double drop, Log log) {
    data_->Crash(drop);
    meta_fs_->Cut();
    engine_.reset();  // its final flush fails: the disk is gone
    HF3FS_TRY(meta_fs_->Recover(KeepFn(log)));
    ++boot_;
    return Open();
  }

  // The process dies but the machine stays up: everything written reached the kernel. (The
  // engine's final flush is made to fail; nothing is dropped.)
  Status ProcessCrash() {
    data_->Crash(0.0);
    meta_fs_->Cut();
    engine_.reset();
    HF3FS_TRY(meta_fs_->Recover(KeepFn(Log::kAll)));
    return Open();
  }

  std::function<uint64_t(uint64_t)> KeepFn(Log log) {
    switch (log) {
      case Log::kSyncedOnly:
        return nullptr;
      case Log::kAll:
        return [](uint64_t n) { return n; };
      case Log::kRandomPrefix:
        return [this](uint64_t n) { return rng_() % (n + 1); };
    }
    return nullptr;
  }

  // A counter of this engine's metrics ("disk" label added).
  uint64_t Counter(std::string_view name, metrics::Labels labels = {}) {
    labels.insert(labels.begin(), {"disk", dir_});
    return registry_.GetCounter(name, "", labels)->Value();
  }

  std::function<Status(std::string_view)> hook;  // the engine's fault hook (null: none)
  uint32_t journal_max_bytes = 64u << 10;        // at the next Open

  ChunkEngine& operator*() { return *engine_; }
  ChunkEngine* operator->() { return engine_.get(); }
  FaultFileLayer& data() { return *data_; }
  kv::PowerLossFs& meta_fs() { return *meta_fs_; }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::string dir_;
  std::mt19937_64 rng_;
  int boot_ = 1;
  metrics::Registry registry_;
  std::shared_ptr<FaultFileLayer> data_;
  std::shared_ptr<kv::PowerLossFs> meta_fs_;
  std::unique_ptr<rocksdb::Env> meta_env_;
  std::unique_ptr<ChunkEngine> engine_;
};

const ChunkId kA = MakeChunkId(InodeId(600), 0);

uint64_t UsedSlots(ChunkEngine& e) {
  auto space = e.GetSpaceInfo();
  EXPECT_TRUE(space.ok());
  uint64_t used = 0;
  for (const auto& c : space->classes) used += c.used_slots;
  return used;
}

TEST(ChunkWindowDurability, UpdatesAreReadableAtOnceAndDurableAfterSync) {
  TempDir dir;
  WindowEngine e(dir.path());
  ASSERT_TRUE(e.Open().ok());
  auto v1 = Bytes(100000, 1);
  WriteCommit(*e, kA, k1M, 0, v1, 1);
  EXPECT_EQ(Committed(*e, kA), v1);
  auto meta = e->GetMeta(kTarget, kA);
  ASSERT_TRUE(meta.ok());
  EXPECT_GT(meta->committed->epoch, e->durable_epoch()) << "acknowledged before any flush";
  EXPECT_GT(e.data().UnsyncedBlocks(), 0u) << "the update paid a data flush";
  EXPECT_GT(e.meta_fs().UnsyncedBytes(), 0u) << "the update paid a log flush";
  ASSERT_TRUE(e->Sync().ok());
  EXPECT_GE(e->durable_epoch(), meta->committed->epoch);
  EXPECT_EQ(e.data().UnsyncedBlocks(), 0u);
  EXPECT_EQ(e.meta_fs().UnsyncedBytes(), 0u);
  ASSERT_TRUE(e.PowerLoss(1.0, WindowEngine::Log::kSyncedOnly).ok());
  EXPECT_EQ(Committed(*e, kA), v1);
}

TEST(ChunkWindowDurability, FreedSlotsAreReusedOnlyOnceTheirEpochIsDurable) {
  TempDir dir;
  WindowEngine e(dir.path());
  ASSERT_TRUE(e.Open().ok());
  WriteCommit(*e, kA, k1M, 0, Bytes(100000, 1), 1);
  ASSERT_TRUE(e->Sync().ok());
  EXPECT_EQ(UsedSlots(*e), 1u);
  // A copy-on-write overwrite (larger than a journaled one): the durable version stays allocated
  // as the fallback.
  WriteCommit(*e, kA, k1M, 10, Bytes(70000, 2), 2);
  auto meta = e->GetMeta(kTarget, kA);
  ASSERT_TRUE(meta.ok());
  ASSERT_TRUE(meta->fallback) << ToString(*meta);
  EXPECT_EQ(meta->fallback->version, 1u);
  EXPECT_EQ(UsedSlots(*e), 2u);
  ASSERT_TRUE(e->Sync().ok());
  EXPECT_EQ(UsedSlots(*e), 1u);
  ExpectNoLeakedSlots(*e);
  // Removal: the slot comes back with the flush, not before.
  ASSERT_TRUE(e->Remove(kTarget, kA, V(3)).ok());
  ASSERT_TRUE(e->Commit(kTarget, kA, 3, {}).ok());
  EXPECT_EQ(UsedSlots(*e), 1u);
  ASSERT_TRUE(e->Sync().ok());
  EXPECT_EQ(UsedSlots(*e), 0u);
}

TEST(ChunkWindowDurability, AFreedSlotIsNotReusedBeforeItsChangeIsDurable) {
  // A removal frees the slot of a durable version without keeping it as a fallback; another
  // chunk must not get that slot before the removal is durable.
  TempDir dir;
  WindowEngine e(dir.path());
  ASSERT_TRUE(e.Open().ok());
  auto v1 = Bytes(100000, 1);
  WriteCommit(*e, kA, k1M, 0, v1, 1);
  ASSERT_TRUE(e->Sync().ok());
  ASSERT_TRUE(e->Remove(kTarget, kA, V(2)).ok());
  ASSERT_TRUE(e->Commit(kTarget, kA, 2, {}).ok());
  const ChunkId b = MakeChunkId(InodeId(600), 1);
  WriteCommit(*e, b, k1M, 0, Bytes(100000, 3), 1);  // a new chunk of the same slot class
  // The data reached the disk, the log did not: the durable record of kA comes back.
  ASSERT_TRUE(e.PowerLoss(0.0, WindowEngine::Log::kSyncedOnly).ok());
  EXPECT_EQ(Committed(*e, kA), v1);
  ExpectNoLeakedSlots(*e);
}

TEST(ChunkWindowDurability, APowerLossRevertsAVersionWhoseBytesWereLost) {
  TempDir dir;
  WindowEngine e(dir.path());
  ASSERT_TRUE(e.Open().ok());
  auto v1 = Bytes(200000, 1);
  WriteCommit(*e, kA, k1M, 0, v1, 1);
  ASSERT_TRUE(e->Sync().ok());
  WriteCommit(*e, kA, k1M, 5000, Bytes(70000, 2), 2);  // a copy, not journaled
  // The worst order: the kernel wrote the record back, the new bytes never reached the disk.
  ASSERT_TRUE(e.PowerLoss(1.0, WindowEngine::Log::kAll).ok());
  EXPECT_TRUE(e->recovery().verified);
  EXPECT_EQ(e->recovery().reverted, 1u);
  EXPECT_EQ(Committed(*e, kA), v1);
  ExpectNoLeakedSlots(*e);
  // And when the bytes did land, the newer version is kept (the chunk is back at version 1).
  WriteCommit(*e, kA, k1M, 5000, Bytes(70000, 3), 2);
  auto v3 = v1;
  auto patch = Bytes(70000, 3);
  std::copy(patch.begin(), patch.end(), v3.begin() + 5000);
  ASSERT_TRUE(e.PowerLoss(0.0, WindowEngine::Log::kAll).ok());
  EXPECT_EQ(Committed(*e, kA), v3);
}

TEST(ChunkWindowDurability, AShrinkThenAppendNeverOverwritesTheDurableVersion) {
  // Data writes reach the disk but the log does not: the durable record comes back, and the
  // bytes of its (longer) committed version must still be there.
  for (bool synced_shrink : {false, true}) {
    SCOPED_TRACE(synced_shrink ? "shrink durable before its commit" : "shrink and commit unsynced");
    TempDir dir;
    WindowEngine e(dir.path());
    ASSERT_TRUE(e.Open().ok());
    auto v1 = Bytes(200000, 1);
    WriteCommit(*e, kA, k1M, 0, v1, 1);
    ASSERT_TRUE(e->Sync().ok());
    ASSERT_TRUE(e->Truncate(kTarget, kA, k1M, 50000, V(2)).ok());
    // Durable shrink: the commit below then has no fallback to protect v1's bytes.
    if (synced_shrink) {
      ASSERT_TRUE(e->Sync().ok());
    }
    ASSERT_TRUE(e->Commit(kTarget, kA, 2, {}).ok());
    WriteCommit(*e, kA, k1M, 50000, Bytes(100000, 3), 3);
    ASSERT_TRUE(e.PowerLoss(0.0, WindowEngine::Log::kSyncedOnly).ok());
    EXPECT_EQ(Committed(*e, kA), v1);
    auto meta = e->GetMeta(kTarget, kA);
    ASSERT_TRUE(meta.ok());
    if (meta->pending) {
      EXPECT_TRUE(e->ReadFull(kTarget, kA, ReadMode::kLatest).ok()) << "torn pending shrink";
    }
    ExpectNoLeakedSlots(*e);
  }
}

TEST(ChunkWindowDurability, OnlyARebootMakesOpenVerifyUnsyncedEpochs) {
  TempDir dir;
  WindowEngine e(dir.path());
  ASSERT_TRUE(e.Open().ok());
  for (uint64_t i = 0; i < 5; ++i) {
    WriteCommit(*e, MakeChunkId(InodeId(601), i), k64K, 0, Bytes(30000, i), 1);
  }
  ASSERT_TRUE(e.ProcessCrash().ok());
  EXPECT_FALSE(e->recovery().verified) << "same boot: the kernel kept every byte";
  for (uint64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(Committed(*e, MakeChunkId(InodeId(601), i)), Bytes(30000, i));
  }
  for (uint64_t i = 0; i < 5; ++i) {
    WriteCommit(*e, MakeChunkId(InodeId(601), i), k64K, 100, Bytes(100, 10 + i), 2);
  }
  ASSERT_TRUE(e.PowerLoss(0.0, WindowEngine::Log::kAll).ok());
  EXPECT_TRUE(e->recovery().verified) << "another boot: unsynced epochs must be checked";
  EXPECT_EQ(e->recovery().intact, 5u);
  for (uint64_t i = 0; i < 5; ++i) {
    auto want = Bytes(30000, i);
    auto patch = Bytes(100, 10 + i);
    std::copy(patch.begin(), patch.end(), want.begin() + 100);
    EXPECT_EQ(Committed(*e, MakeChunkId(InodeId(601), i)), want);
  }
  ExpectNoLeakedSlots(*e);
}

// One committed state of a chunk in the model: its bytes, or nullopt for "no chunk".
using State = std::optional<std::vector<uint8_t>>;

struct ChunkHistory {
  State synced;               // the state when the last flush finished
  std::vector<State> since;   // states acknowledged after it, in order
};

// The state of chunk `id` after recovery, checked to be whole (ReadFull verifies the checksum).
State Observe(ChunkEngine& e, const ChunkId& id) {
  auto meta = e.GetMeta(kTarget, id);
  if (!meta.ok()) {
    EXPECT_EQ(meta.status().code(), StatusCode::kChunkNotFound);
    return std::nullopt;
  }
  if (meta->pending && !meta->pending->removal) {
    EXPECT_TRUE(e.ReadFull(kTarget, id, ReadMode::kLatest).ok()) << "torn pending part";
  }
  if (!meta->committed) return std::nullopt;
  auto full = e.ReadFull(kTarget, id, ReadMode::kLastCommitted);
  EXPECT_TRUE(full.ok()) << "torn committed part: " << full.status();
  return full.ok() ? State(full->data) : State();
}

// Random writes, truncates and removals on a few chunks, random flushes, then a power loss with a
// random mix of what reached the disk; twelve rounds, each starting from what the last one left.
TEST(ChunkWindowDurability, RandomUpdatesKeepEverySyncedStateThroughPowerLosses) {
  TempDir dir;
  WindowEngine e(dir.path(), 20261207);
  ASSERT_TRUE(e.Open().ok());
  auto& rng = e.rng();
  constexpr int kChunks = 10;  // sharing few slot classes: freed slots get reused by others
  const uint32_t kSizes[] = {k128K, k256K, k1M};
  auto id_of = [](int i) { return MakeChunkId(InodeId(602), i); };
  std::map<int, ChunkHistory> history;
  uint64_t reverted = 0, dropped = 0;
  for (int round = 0; round < 16; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    for (int step = 0; step < 60; ++step) {
      int i = static_cast<int>(rng() % kChunks);
      ChunkId id = id_of(i);
      uint32_t size = kSizes[i % 3];
      auto& h = history[i];
      State now = h.since.empty() ? h.synced : h.since.back();
      std::vector<uint8_t> bytes = now.value_or(std::vector<uint8_t>{});
      auto meta = e->GetMeta(kTarget, id);
      uint64_t v = meta.ok() ? meta->commit_version() + 1 : 1;
      Status st;
      State next;
      switch (rng() % 6) {
        case 5:  // a small overwrite inside the bytes (journaled once the chunk is durable)
          if (bytes.size() < 2) continue;
          {
            uint32_t off = static_cast<uint32_t>(rng() % (bytes.size() - 1));
            uint32_t len =
                1 + static_cast<uint32_t>(rng() % std::min<uint64_t>(bytes.size() - off, 9000));
            auto data = Bytes(len, rng());
            std::copy(data.begin(), data.end(), bytes.begin() + off);
            next = bytes;
            st = e->Write(kTarget, id, size, off, data, V(v)).status();
          }
          break;
        case 0:
        case 1: {  // write: append, overwrite or past a gap
          uint32_t off = rng() % 3 == 0 ? static_cast<uint32_t>(bytes.size())
                                        : static_cast<uint32_t>(rng() % size);
          off = std::min(off, size - 1);
          uint32_t len = 1 + static_cast<uint32_t>(rng() % std::min<uint32_t>(size - off, 70000));
          auto data = Bytes(len, rng());
          if (bytes.size() < off + len) bytes.resize(off + len, 0);
          std::copy(data.begin(), data.end(), bytes.begin() + off);
          next = bytes;
          st = e->Write(kTarget, id, size, off, data, V(v)).status();
          break;
        }
        case 2: {  // truncate (mostly shrinking)
          uint32_t len = static_cast<uint32_t>(rng() % size);
          if (!bytes.empty() && rng() % 2) len = static_cast<uint32_t>(rng() % bytes.size());
          bytes.resize(len, 0);
          next = bytes;
          st = e->Truncate(kTarget, id, size, len, V(v)).status();
          break;
        }
        case 3:  // remove
          if (!now) continue;
          next = std::nullopt;
          st = e->Remove(kTarget, id, V(v)).status();
          break;
        case 4:  // a flush
          ASSERT_TRUE(e->Sync().ok());
          for (auto& [c, hist] : history) {
            if (!hist.since.empty()) hist.synced = hist.since.back();
            hist.since.clear();
          }
          continue;
      }
      ASSERT_TRUE(st.ok()) << st;
      auto c = e->Commit(kTarget, id, v, {});
      ASSERT_TRUE(c.ok()) << c.status();
      h.since.push_back(next);
    }
    double drop = std::array{0.0, 0.5, 1.0}[rng() % 3];
    auto log = std::array{WindowEngine::Log::kSyncedOnly, WindowEngine::Log::kRandomPrefix,
                          WindowEngine::Log::kAll}[rng() % 3];
    ASSERT_TRUE(e.PowerLoss(drop, log).ok());
    for (int i = 0; i < kChunks; ++i) {
      auto& h = history[i];
      State got = Observe(*e, id_of(i));
      bool allowed = got == h.synced;
      for (const State& s : h.since) allowed = allowed || got == s;
      EXPECT_TRUE(allowed) << "chunk " << i << " is at a state never acknowledged after its "
                           << "last flush (" << (got ? got->size() : 0) << " bytes, "
                           << h.since.size() << " states since the flush)";
      h.synced = got;
      h.since.clear();
    }
    reverted += e->recovery().reverted;
    dropped += e->recovery().dropped;
    ExpectNoLeakedSlots(*e);
  }
  // The rounds took the recovery paths this test is about (a fixed seed keeps this stable).
  EXPECT_GT(reverted, 0u);
  EXPECT_GT(dropped, 0u);
  EXPECT_GT(e.Counter("hf3fs_chunk_updates_total", {{"path", "journal"}}), 0u);
}

// Writers and a flusher at once: a flush that returned covers every commit acknowledged before it
// started, whatever ran alongside (including updates that waited for that flush).
TEST(ChunkWindowDurability, ConcurrentUpdatesAndFlushesKeepEveryFlushedCommit) {
  TempDir dir;
  WindowEngine e(dir.path(), 99);
  ASSERT_TRUE(e.Open().ok());
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 4;  // chunks per writer
  std::atomic<uint64_t> acks{0};
  std::atomic<uint64_t> flushed_up_to{0};
  struct Ack {
    uint64_t seq;
    std::vector<uint8_t> bytes;
  };
  std::vector<std::map<int, std::vector<Ack>>> log(kWriters);
  std::atomic<bool> stop{false};
  std::thread flusher([&] {
    while (!stop) {
      uint64_t before = acks.load();
      if (!e->Sync().ok()) {
        ADD_FAILURE() << "flush failed";
        return;
      }
      flushed_up_to = before;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(w + 1);
      std::vector<std::vector<uint8_t>> content(kPerWriter);
      for (int n = 0; n < 60; ++n) {
        int c = static_cast<int>(rng() % kPerWriter);
        ChunkId id = MakeChunkId(InodeId(700 + w), c);
        uint64_t v = n + 1;
        auto meta = e->GetMeta(kTarget, id);
        v = meta.ok() ? meta->commit_version() + 1 : 1;
        uint32_t off = static_cast<uint32_t>(rng() % 100000);
        auto data = Bytes(1 + rng() % 20000, rng());
        auto& b = content[c];
        if (b.size() < off + data.size()) b.resize(off + data.size(), 0);
        std::copy(data.begin(), data.end(), b.begin() + off);
        if (!e->Write(kTarget, id, k1M, off, data, V(v)).ok() ||
            !e->Commit(kTarget, id, v, {}).ok()) {
          ADD_FAILURE() << "update failed";
          return;
        }
        log[w][c].push_back(Ack{++acks, b});
      }
    });
  }
  for (auto& t : writers) t.join();
  stop = true;
  flusher.join();
  ASSERT_TRUE(e.PowerLoss(0.5, WindowEngine::Log::kRandomPrefix).ok());
  uint64_t flushed = flushed_up_to.load();
  for (int w = 0; w < kWriters; ++w) {
    for (auto& [c, acked] : log[w]) {
      State got = Observe(*e, MakeChunkId(InodeId(700 + w), c));
      // Allowed: the newest state acknowledged before the last flush started, or any later one.
      size_t first = 0;
      for (size_t k = 0; k < acked.size(); ++k) {
        if (acked[k].seq <= flushed) first = k;
      }
      bool before_any_flush = acked.front().seq > flushed;
      bool allowed = before_any_flush && !got;
      for (size_t k = before_any_flush ? 0 : first; k < acked.size(); ++k) {
        allowed = allowed || (got && *got == acked[k].bytes);
      }
      EXPECT_TRUE(allowed) << "writer " << w << " chunk " << c << ": a flushed commit was lost";
    }
  }
  ExpectNoLeakedSlots(*e);
}

// ---- Journaled small overwrites (docs/design/0010-small-overwrites.md) ----

// Applies `data` at `offset` to the model.
void Patch(std::vector<uint8_t>& model, uint32_t offset, const std::vector<uint8_t>& data) {
  std::copy(data.begin(), data.end(), model.begin() + offset);
}

// Opens the engine and makes chunk kA `n` bytes, committed and flushed (so that overwrites of it
// are journaled); returns its bytes.
std::vector<uint8_t> OpenWithDurableChunk(WindowEngine& e, size_t n) {
  EXPECT_TRUE(e.Open().ok());
  auto bytes = Bytes(n, 1);
  WriteCommit(*e, kA, k1M, 0, bytes, 1);
  EXPECT_TRUE(e->Sync().ok());
  return bytes;
}

TEST(ChunkJournal, SmallOverwritesAreReadAtOnceWithoutACopyAndWrittenInPlaceByTheFlush) {
  TempDir dir;
  WindowEngine e(dir.path());
  auto model = OpenWithDurableChunk(e, 300000);
  auto slot = e->GetMeta(kTarget, kA)->committed->slot;
  uint64_t cow_before = e.Counter("hf3fs_chunk_cow_copied_bytes_total");
  // Unaligned, one whole block, the last partial block, and one overlapping an earlier entry.
  struct Overwrite {
    uint32_t offset, length;
  };
  uint64_t v = 2;
  for (auto [off, len] :
       {Overwrite{5000, 3000}, {40960, 4096}, {299000, 1000}, {6000, 100}, {0, 65536}}) {
    auto data = Bytes(len, v);
    WriteCommit(*e, kA, k1M, off, data, v++, nullptr);
    Patch(model, off, data);
    EXPECT_EQ(Committed(*e, kA), model) << "after the overwrite at " << off;  // CRC verified
  }
  std::vector<uint8_t> part(100);
  ASSERT_TRUE(e->Read(kTarget, kA, 5950, part).ok());
  EXPECT_TRUE(std::equal(part.begin(), part.end(), model.begin() + 5950));
  EXPECT_EQ(e.Counter("hf3fs_chunk_updates_total", {{"path", "journal"}}), 5u);
  EXPECT_EQ(e.Counter("hf3fs_chunk_cow_copied_bytes_total"), cow_before) << "a chunk was copied";
  EXPECT_EQ(e->GetMeta(kTarget, kA)->committed->slot, slot);
  EXPECT_EQ(UsedSlots(*e), 1u);
  ASSERT_TRUE(e->Sync().ok());
  EXPECT_EQ(e.Counter("hf3fs_chunk_journal_applied_total"), 5u);
  EXPECT_EQ(Committed(*e, kA), model);
  // Everything was in place and synced: a power loss that drops every unsynced byte keeps it.
  ASSERT_TRUE(e.PowerLoss(1.0, WindowEngine::Log::kSyncedOnly).ok());
  EXPECT_EQ(e->recovery().journal_redone, 0u);
  EXPECT_EQ(Committed(*e, kA), model);
  ExpectNoLeakedSlots(*e);
}

TEST(ChunkJournal, StrictDurabilityAndJournalingTurnedOffCopy) {
  TempDir dir;
  WindowEngine e(dir.path());
  e.journal_max_bytes = 0;
  OpenWithDurableChunk(e, 100000);
  WriteCommit(*e, kA, k1M, 10, Bytes(10, 2), 2);
  EXPECT_EQ(e.Counter("hf3fs_chunk_updates_total", {{"path", "journal"}}), 0u);
  metrics::Registry registry;
  auto strict = ChunkEngine::Open(dir.path() + "/strict", SmallOptions(&registry));
  ASSERT_TRUE(strict.ok()) << strict.status();
  WriteCommit(**strict, kA, k1M, 0, Bytes(100000, 1), 1);
  WriteCommit(**strict, kA, k1M, 10, Bytes(10, 2), 2);
  auto* journaled = registry.GetCounter("hf3fs_chunk_updates_total", "",
                                        {{"disk", dir.path() + "/strict"}, {"path", "journal"}});
  EXPECT_EQ(journaled->Value(), 0u);
}

TEST(ChunkJournal, AJournaledVersionSurvivesAPowerLossExactlyWhenItsRecordDoes) {
  TempDir dir;
  WindowEngine e(dir.path());
  auto v1 = OpenWithDurableChunk(e, 300000);
  auto patch = Bytes(3000, 2);
  auto v2 = v1;
  Patch(v2, 5000, patch);
  // The log never reached the disk: the slot was never touched, the chunk is at version 1.
  WriteCommit(*e, kA, k1M, 5000, patch, 2);
  ASSERT_TRUE(e.PowerLoss(1.0, WindowEngine::Log::kSyncedOnly).ok());
  EXPECT_EQ(Committed(*e, kA), v1);
  // The kernel wrote the log back: the record is redone at open.
  WriteCommit(*e, kA, k1M, 5000, patch, 2);
  ASSERT_TRUE(e.PowerLoss(1.0, WindowEngine::Log::kAll).ok());
  EXPECT_EQ(e->recovery().journal_redone, 1u);
  EXPECT_EQ(Committed(*e, kA), v2);
  // A pending journaled part comes back pending, laid over its slot; committing it works.
  auto patch3 = Bytes(5000, 3);
  auto v3 = v2;
  Patch(v3, 100000, patch3);
  ASSERT_TRUE(e->Write(kTarget, kA, k1M, 100000, patch3, V(3)).ok());
  ASSERT_TRUE(e.PowerLoss(1.0, WindowEngine::Log::kAll).ok());
  auto meta = e->GetMeta(kTarget, kA);
  ASSERT_TRUE(meta.ok());
  ASSERT_TRUE(meta->pending) << ToString(*meta);
  EXPECT_EQ(meta->pending->version, 3u);
  auto latest = e->ReadFull(kTarget, kA, ReadMode::kLatest);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->data, v3);
  EXPECT_EQ(Committed(*e, kA), v2);
  ASSERT_TRUE(e->Commit(kTarget, kA, 3, {}).ok());
  ASSERT_TRUE(e->Sync().ok());
  ASSERT_TRUE(e.PowerLoss(1.0, WindowEngine::Log::kSyncedOnly).ok());
  EXPECT_EQ(Committed(*e, kA), v3);
  ExpectNoLeakedSlots(*e);
}

TEST(ChunkJournal, APowerLossDuringTheInPlaceWritesIsRedoneAtOpen) {
  for (const char* point : {"journal.wal_synced", "journal.applied"}) {
    SCOPED_TRACE(point);
    TempDir dir;
    WindowEngine e(dir.path(), 5);
    auto model = OpenWithDurableChunk(e, 400000);
    for (uint64_t v = 2; v < 12; ++v) {
      uint32_t off = static_cast<uint32_t>((v * 37000) % 390000);
      auto data = Bytes(1 + (v * 5000) % 9000, v);
      WriteCommit(*e, kA, k1M, off, data, v);
      Patch(model, off, data);
    }
    // The flush stops after the step named: the in-place writes did not happen, or happened
    // without being synced, and half of their sectors are lost.
    e.hook = [&](std::string_view p) {
      return p == point ? Status(StatusCode::kIoError, "injected") : Status::Ok();
    };
    EXPECT_FALSE(e->Sync().ok());
    e.hook = nullptr;
    ASSERT_TRUE(e.PowerLoss(0.5, WindowEngine::Log::kSyncedOnly).ok());
    EXPECT_EQ(e->recovery().journal_redone, 10u);
    EXPECT_EQ(Committed(*e, kA), model);
    // Redone records are gone once open made them durable: another power loss changes nothing.
    ASSERT_TRUE(e.PowerLoss(1.0, WindowEngine::Log::kSyncedOnly).ok());
    EXPECT_EQ(e->recovery().journal_redone, 0u);
    EXPECT_EQ(Committed(*e, kA), model);
    ExpectNoLeakedSlots(*e);
  }
}

TEST(ChunkJournal, OtherUpdatesOfAJournaledChunkFlushItFirst) {
  TempDir dir;
  WindowEngine e(dir.path());
  auto model = OpenWithDurableChunk(e, 300000);
  uint64_t v = 2;
  auto journaled = [&] {
    auto data = Bytes(2000, v);
    WriteCommit(*e, kA, k1M, 1000, data, v++);
    Patch(model, 1000, data);
  };
  // Truncate (shrink in place).
  journaled();
  ASSERT_TRUE(e->Truncate(kTarget, kA, k1M, 250000, V(v)).ok());
  ASSERT_TRUE(e->Commit(kTarget, kA, v++, {}).ok());
  model.resize(250000);
  EXPECT_EQ(Committed(*e, kA), model);
  // A large overwrite (copy-on-write).
  ASSERT_TRUE(e->Sync().ok());
  journaled();
  auto big = Bytes(100000, 50);
  WriteCommit(*e, kA, k1M, 20000, big, v++);
  Patch(model, 20000, big);
  EXPECT_EQ(Committed(*e, kA), model);
  // An append.
  ASSERT_TRUE(e->Sync().ok());
  journaled();
  auto tail = Bytes(10000, 51);
  WriteCommit(*e, kA, k1M, static_cast<uint32_t>(model.size()), tail, v++);
  model.insert(model.end(), tail.begin(), tail.end());
  EXPECT_EQ(Committed(*e, kA), model);
  EXPECT_GE(e.Counter("hf3fs_chunk_journal_forced_flushes_total"), 2u);  // a shrunk part copies
  // A journaled pending part replaced by another journaled one, then by a copy.
  ASSERT_TRUE(e->Sync().ok());
  ASSERT_TRUE(e->Write(kTarget, kA, k1M, 100, Bytes(500, 60), V(v)).ok());
  auto second = Bytes(700, 61);
  ASSERT_TRUE(e->Write(kTarget, kA, k1M, 200, second, V(v)).ok());
  auto third = Bytes(90000, 62);
  ASSERT_TRUE(e->Write(kTarget, kA, k1M, 300, third, V(v)).ok());
  ASSERT_TRUE(e->Commit(kTarget, kA, v++, {}).ok());
  Patch(model, 300, third);
  EXPECT_EQ(Committed(*e, kA), model);
  ASSERT_TRUE(e->Sync().ok());
  ASSERT_TRUE(e->Write(kTarget, kA, k1M, 100, Bytes(500, 63), V(v)).ok());
  ASSERT_TRUE(e->Write(kTarget, kA, k1M, 200, second, V(v)).ok());
  ASSERT_TRUE(e->Commit(kTarget, kA, v++, {}).ok());
  Patch(model, 200, second);
  EXPECT_EQ(Committed(*e, kA), model);
  // Removal, and a purge of another journaled chunk: no record of either comes back.
  journaled();
  ASSERT_TRUE(e->Remove(kTarget, kA, V(v)).ok());
  ASSERT_TRUE(e->Commit(kTarget, kA, v++, {}).ok());
  const ChunkId kB = MakeChunkId(InodeId(600), 1);
  WriteCommit(*e, kB, k1M, 0, Bytes(100000, 70), 1);
  ASSERT_TRUE(e->Sync().ok());
  WriteCommit(*e, kB, k1M, 10, Bytes(10, 71), 2);
  ASSERT_TRUE(e->Purge(kTarget, kB).ok());
  ASSERT_TRUE(e.PowerLoss(0.5, WindowEngine::Log::kAll).ok());
  EXPECT_EQ(e->GetMeta(kTarget, kA).status().code(), StatusCode::kChunkNotFound);
  EXPECT_EQ(e->GetMeta(kTarget, kB).status().code(), StatusCode::kChunkNotFound);
  EXPECT_EQ(e->recovery().journal_redone, 0u);
  ExpectNoLeakedSlots(*e);
}

}  // namespace
}  // namespace hf3fs::chunk
