// Fault injection: disk errors fail the engine; simulated power loss at every step of every update
// path (unsynced writes dropped, torn per sector) leaves only acknowledged or older versions, never
// a torn chunk or a leaked slot.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "chunk/chunk_engine.h"
#include "chunk/chunk_test_util.h"

namespace hf3fs::chunk {
namespace {

using namespace testing;

// An engine over a FaultFileLayer, with a switchable fault hook.
class FaultEngine {
 public:
  explicit FaultEngine(const std::string& dir) : dir_(dir) {
    auto inner = CreatePosixFileLayer(dir + "/data", {});
    HF3FS_CHECK(inner.ok());
    fault_ = std::make_shared<FaultFileLayer>(std::shared_ptr<FileLayer>(std::move(*inner)), 11);
  }

  Status Open() {
    ChunkEngineOptions o = SmallOptions(&registry_);
    o.file_layer = fault_;
    o.fault_hook = [this](std::string_view point) { return hook ? hook(point) : Status::Ok(); };
    auto e = ChunkEngine::Open(dir_, o);
    if (!e.ok()) return e.status();
    engine_ = std::move(*e);
    return Status::Ok();
  }
  // Power loss: unsynced sectors dropped with `p`, the engine discarded, then reopened.
  Status CrashAndReopen(double p) {
    fault_->Crash(p);
    engine_.reset();
    hook = nullptr;
    return Open();
  }

  ChunkEngine& operator*() { return *engine_; }
  ChunkEngine* operator->() { return engine_.get(); }
  FaultFileLayer& fault() { return *fault_; }
  metrics::Registry& registry() { return registry_; }

  std::function<Status(std::string_view)> hook;

 private:
  std::string dir_;
  metrics::Registry registry_;
  std::shared_ptr<FaultFileLayer> fault_;
  std::unique_ptr<ChunkEngine> engine_;
};

// Fails the named point (as a crash there would): the operation stops at that step.
std::function<Status(std::string_view)> FailAt(std::string point) {
  return [point](std::string_view p) {
    return p == point ? Status(StatusCode::kIoError, "simulated crash at " + point) : Status::Ok();
  };
}

const ChunkId kA = MakeChunkId(InodeId(300), 0);
const ChunkId kB = MakeChunkId(InodeId(300), 1);

struct DiskErrorCase {
  const char* name;
  uint32_t kinds;
};

void PrintTo(const DiskErrorCase& c, std::ostream* os) { *os << c.name; }

class ChunkDiskErrorTest : public ::testing::TestWithParam<DiskErrorCase> {};

TEST_P(ChunkDiskErrorTest, AnIoErrorFailsTheEngineUntilItIsReopened) {
  TempDir dir;
  FaultEngine e(dir.path());
  ASSERT_TRUE(e.Open().ok());
  auto v1 = Bytes(60000, 1);
  WriteCommit(*e, kA, k1M, 0, v1, 1);
  e.fault().InjectErrors(GetParam().kinds);
  // An overwrite reads, writes and syncs; a 600000-byte chunk needs a new group (fallocate).
  auto overwrite = e->Write(kTarget, kA, k1M, 10, Bytes(100, 2), V(2));
  auto fresh = e->Write(kTarget, kB, k1M, 0, Bytes(600000, 3), V(1));
  EXPECT_TRUE(overwrite.status().code() == StatusCode::kDiskError ||
              fresh.status().code() == StatusCode::kDiskError)
      << overwrite.status() << " / " << fresh.status();
  EXPECT_EQ(e->health().code(), StatusCode::kDiskError);
  e.fault().ClearErrors();
  // Failed for good: updates are refused even though the disk "works" again.
  EXPECT_EQ(e->Write(kTarget, kA, k1M, 0, Bytes(1, 1), V(2)).status().code(),
            StatusCode::kDiskError);
  EXPECT_EQ(e->Commit(kTarget, kA, 2, {}).status().code(), StatusCode::kDiskError);
  EXPECT_EQ(e->Purge(kTarget, kA).status().code(), StatusCode::kDiskError);
  EXPECT_EQ(e->RemoveRange(kTarget, {}, {}, 10).status().code(), StatusCode::kDiskError);
  EXPECT_EQ(e->ReplaceFull(kTarget, kB, Bytes(1, 1), {k1M, 1, true, {}, {}}).status().code(),
            StatusCode::kDiskError);
  EXPECT_EQ(Committed(*e, kA), v1);  // reads still try
  EXPECT_NE(e.registry().RenderPrometheus().find("hf3fs_chunk_engine_failed{disk=\"" + dir.path() +
                                                 "\"} 1"),
            std::string::npos);
  ASSERT_TRUE(e.CrashAndReopen(1.0).ok());
  EXPECT_TRUE(e->health().ok());
  EXPECT_EQ(Committed(*e, kA), v1);
  ExpectNoLeakedSlots(*e);
  WriteCommit(*e, kA, k1M, 10, Bytes(100, 4), 2);
}

INSTANTIATE_TEST_SUITE_P(Kinds, ChunkDiskErrorTest,
                         ::testing::Values(DiskErrorCase{"Write", FaultFileLayer::kWrite},
                                           DiskErrorCase{"Sync", FaultFileLayer::kSync},
                                           DiskErrorCase{"Read", FaultFileLayer::kRead},
                                           DiskErrorCase{"Allocate", FaultFileLayer::kAllocate}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ChunkFault, AReadErrorIsADiskError) {
  TempDir dir;
  FaultEngine e(dir.path());
  ASSERT_TRUE(e.Open().ok());
  WriteCommit(*e, kA, k1M, 0, Bytes(5000, 1), 1);
  e.fault().InjectErrors(FaultFileLayer::kRead);
  std::vector<uint8_t> out(100);
  EXPECT_EQ(e->Read(kTarget, kA, 0, out).status().code(), StatusCode::kDiskError);
  EXPECT_EQ(e->health().code(), StatusCode::kDiskError);
}

TEST(ChunkFault, AFailedMetadataWriteKeepsTheOldVersionAndLeaksNothingAfterReopen) {
  TempDir dir;
  FaultEngine e(dir.path());
  ASSERT_TRUE(e.Open().ok());
  auto v1 = Bytes(70000, 1);
  WriteCommit(*e, kA, k1M, 0, v1, 1);
  e.hook = FailAt("meta.write");
  EXPECT_EQ(e->Write(kTarget, kA, k1M, 5, Bytes(10, 2), V(2)).status().code(),
            StatusCode::kDiskError);
  ASSERT_TRUE(e.CrashAndReopen(1.0).ok());
  auto meta = e->GetMeta(kTarget, kA);
  ASSERT_TRUE(meta.ok());
  EXPECT_FALSE(meta->pending);
  EXPECT_EQ(Committed(*e, kA), v1);
  ExpectNoLeakedSlots(*e);
}

// One update of each path, interrupted at each step, then power loss.
struct CrashCase {
  const char* name;
  // Sets up the committed state (synced and acknowledged), returns the committed bytes.
  std::function<std::vector<uint8_t>(ChunkEngine&)> setup;
  // The interrupted operation; returns its status and the bytes of the version it produces.
  std::function<Status(ChunkEngine&, std::vector<uint8_t>*)> op;
  bool commits = false;  // the operation installs a committed version (else a pending one)
};

std::vector<uint8_t> SetupCommitted(ChunkEngine& e, size_t len) {
  auto data = Bytes(len, 1);
  WriteCommit(e, kA, k1M, 0, data, 1);
  return data;
}

std::vector<CrashCase> CrashCases() {
  auto base = [](size_t len) { return [len](ChunkEngine& e) { return SetupCommitted(e, len); }; };
  auto none = [](ChunkEngine&) { return std::vector<uint8_t>(); };
  return {
      {"NewChunk", none,
       [](ChunkEngine& e, std::vector<uint8_t>* out) {
         *out = Bytes(90000, 2);
         return e.Write(kTarget, kA, k1M, 0, *out, V(1)).status();
       }},
      {"UnalignedAppendInPlace", base(5001),
       [](ChunkEngine& e, std::vector<uint8_t>* out) {
         *out = Bytes(5001, 1);
         auto add = Bytes(20000, 4);  // rewrites the committed prefix of block 1 in place
         out->insert(out->end(), add.begin(), add.end());
         return e.Write(kTarget, kA, k1M, 5001, add, V(2)).status();
       }},
      {"GrowingAppendCopies", base(60000),
       [](ChunkEngine& e, std::vector<uint8_t>* out) {
         *out = Bytes(60000, 1);
         auto add = Bytes(300000, 3);  // outgrows the 64 KiB slot: copy to 512 KiB
         out->insert(out->end(), add.begin(), add.end());
         return e.Write(kTarget, kA, k1M, 60000, add, V(2)).status();
       }},
      {"OverwriteCopyOnWrite", base(200000),
       [](ChunkEngine& e, std::vector<uint8_t>* out) {
         *out = Bytes(200000, 1);
         auto patch = Bytes(70000, 5);
         std::copy(patch.begin(), patch.end(), out->begin() + 12345);
         return e.Write(kTarget, kA, k1M, 12345, patch, V(2)).status();
       }},
      {"TruncateShrink", base(200000),
       [](ChunkEngine& e, std::vector<uint8_t>* out) {
         *out = Bytes(200000, 1);
         out->resize(77777);
         return e.Truncate(kTarget, kA, k1M, 77777, V(2)).status();
       }},
      {"TruncateExtend", base(10001),
       [](ChunkEngine& e, std::vector<uint8_t>* out) {
         *out = Bytes(10001, 1);
         out->resize(60000, 0);
         return e.Truncate(kTarget, kA, k1M, 60000, V(2)).status();
       }},
      {"ReplaceCommitted", base(100000),
       [](ChunkEngine& e, std::vector<uint8_t>* out) {
         *out = Bytes(150000, 6);
         return e.ReplaceFull(kTarget, kA, *out, {k1M, 9, true, {}, {}}).status();
       },
       true},
      {"CommitPending", base(100000),
       [](ChunkEngine& e, std::vector<uint8_t>* out) {
         *out = Bytes(100000, 1);
         auto patch = Bytes(1000, 7);
         std::copy(patch.begin(), patch.end(), out->begin());
         auto w = e.Write(kTarget, kA, k1M, 0, patch, V(2));
         if (!w.ok()) return w.status();
         return e.Commit(kTarget, kA, 2, {}).status();
       },
       true},
  };
}

TEST(ChunkCrash, PowerLossAtAnyStepOfAnyUpdateLeavesOnlyWholeVersions) {
  const char* kPoints[] = {"update.data_written", "update.data_synced", "meta.write",
                           "update.after_batch", "commit.before_batch"};
  int iteration = 0;
  for (const CrashCase& c : CrashCases()) {
    for (const char* point : kPoints) {
      SCOPED_TRACE(fmt::format("{} crashed at {}", c.name, point));
      TempDir dir;
      FaultEngine e(dir.path());
      ASSERT_TRUE(e.Open().ok());
      std::vector<uint8_t> before = c.setup(*e);
      e.hook = FailAt(point);
      std::vector<uint8_t> after;
      Status st = c.op(*e, &after);
      ASSERT_TRUE(st.ok() || st.code() == StatusCode::kDiskError) << st;
      // Alternate between losing every unsynced sector and a random half of them.
      ASSERT_TRUE(e.CrashAndReopen(++iteration % 2 == 0 ? 1.0 : 0.5).ok());

      auto meta = e->GetMeta(kTarget, kA);
      if (!meta.ok()) {
        ASSERT_EQ(meta.status().code(), StatusCode::kChunkNotFound);
        EXPECT_TRUE(before.empty() && !st.ok()) << "an acknowledged chunk vanished";
        ExpectNoLeakedSlots(*e);
        continue;
      }
      // Every part present is whole: its bytes match its checksum (ReadFull verifies).
      std::optional<std::vector<uint8_t>> committed, pending;
      if (meta->committed) committed = Committed(*e, kA);
      if (meta->pending) {
        auto latest = e->ReadFull(kTarget, kA, ReadMode::kLatest);
        ASSERT_TRUE(latest.ok()) << latest.status() << " (torn pending version)";
        pending = latest->data;
      }
      if (c.commits) {
        ASSERT_TRUE(committed);
        EXPECT_TRUE(*committed == before || *committed == after) << "committed is neither";
        if (st.ok()) {
          EXPECT_EQ(*committed, after) << "acknowledged commit lost";
        }
      } else {
        if (!before.empty()) {
          EXPECT_EQ(committed, before) << "committed version changed";
        }
        if (pending) {
          EXPECT_EQ(*pending, after);
        }
        if (st.ok()) {
          EXPECT_TRUE(pending) << "acknowledged pending version lost";
        }
      }
      ExpectNoLeakedSlots(*e);
      // The chunk keeps working after recovery.
      uint64_t next = meta->commit_version() + 1;
      EXPECT_TRUE(e->Write(kTarget, kA, k1M, 0, Bytes(10, 9), V(next)).ok());
    }
  }
}

TEST(ChunkCrash, PowerLossDuringCompactionLosesNothing) {
  for (const char* point : {"compact.data_written", "compact.data_synced", "meta.write"}) {
    SCOPED_TRACE(point);
    TempDir dir;
    FaultEngine e(dir.path());
    ASSERT_TRUE(e.Open().ok());
    std::vector<ChunkId> ids;
    for (uint64_t i = 0; i < 24; ++i) {  // groups 0 (16) and 1 (8)
      ids.push_back(MakeChunkId(InodeId(500), i));
      WriteCommit(*e, ids.back(), k64K, 0, Bytes(20000 + i, i), 1);
    }
    for (uint64_t i = 0; i < 8; ++i) ASSERT_TRUE(*e->Purge(kTarget, ids[i]));
    int moves_left = 3;  // crash at the point of the fourth move
    e.hook = [&, p = std::string(point)](std::string_view at) {
      return at == p && moves_left-- == 0 ? Status(StatusCode::kIoError, "crash") : Status::Ok();
    };
    EXPECT_EQ(e->Compact(100).status().code(), StatusCode::kDiskError);
    ASSERT_TRUE(e.CrashAndReopen(0.5).ok());
    for (uint64_t i = 8; i < 24; ++i) EXPECT_EQ(Committed(*e, ids[i]), Bytes(20000 + i, i));
    ExpectNoLeakedSlots(*e);
    auto r = e->Compact(100);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->groups_emptied, 1u);
    for (uint64_t i = 8; i < 24; ++i) EXPECT_EQ(Committed(*e, ids[i]), Bytes(20000 + i, i));
  }
}

// Random updates with random crash points, checked against a model of acknowledged commits.
TEST(ChunkCrash, RandomUpdatesSurviveRepeatedPowerLoss) {
  TempDir dir;
  FaultEngine e(dir.path());
  ASSERT_TRUE(e.Open().ok());
  std::mt19937_64 rng(20261125);
  constexpr int kChunks = 6;
  const uint32_t kSizes[] = {k64K, k256K, k1M};
  struct Model {
    std::vector<uint8_t> bytes;
    bool exists = false;
  };
  std::map<int, Model> model;
  auto id_of = [](int i) { return MakeChunkId(InodeId(400), i); };
  for (int epoch = 0; epoch < 12; ++epoch) {
    int countdown = static_cast<int>(rng() % 40) + 1;  // the hook call that "crashes"
    e.hook = [&countdown](std::string_view) {
      return --countdown == 0 ? Status(StatusCode::kIoError, "crash") : Status::Ok();
    };
    int interrupted = -1;
    Model candidate;
    for (int step = 0; step < 40 && interrupted < 0; ++step) {
      int i = static_cast<int>(rng() % kChunks);
      ChunkId id = id_of(i);
      uint32_t size = kSizes[i % 3];
      Model next = model[i];
      auto meta = e->GetMeta(kTarget, id);
      uint64_t v = meta.ok() ? meta->commit_version() + 1 : 1;
      Status st;
      switch (rng() % 4) {
        case 0:
        case 1: {  // write at a random place (append, overwrite or gap)
          uint32_t off = static_cast<uint32_t>(rng() % size);
          uint32_t len = 1 + static_cast<uint32_t>(rng() % std::min<uint32_t>(size - off, 100000));
          auto data = Bytes(len, rng());
          if (next.bytes.size() < off + len) next.bytes.resize(off + len, 0);
          std::copy(data.begin(), data.end(), next.bytes.begin() + off);
          next.exists = true;
          st = e->Write(kTarget, id, size, off, data, V(v)).status();
          break;
        }
        case 2: {  // truncate
          uint32_t len = static_cast<uint32_t>(rng() % size);
          next.bytes.resize(len, 0);
          next.exists = true;
          st = e->Truncate(kTarget, id, size, len, V(v)).status();
          break;
        }
        case 3:  // remove
          if (!next.exists) continue;
          next = Model{};
          st = e->Remove(kTarget, id, V(v)).status();
          break;
      }
      if (st.ok()) st = e->Commit(kTarget, id, v, {}).status();
      if (st.ok()) {
        model[i] = next;
      } else {
        ASSERT_EQ(st.code(), StatusCode::kDiskError) << st;
        interrupted = i;
        candidate = next;
      }
    }
    ASSERT_TRUE(e.CrashAndReopen(rng() % 2 ? 1.0 : 0.5).ok());
    for (int i = 0; i < kChunks; ++i) {
      auto meta = e->GetMeta(kTarget, id_of(i));
      bool exists = meta.ok() && meta->committed;
      std::vector<uint8_t> bytes = exists ? Committed(*e, id_of(i)) : std::vector<uint8_t>{};
      if (meta.ok() && meta->pending && !meta->pending->removal) {
        EXPECT_TRUE(e->ReadFull(kTarget, id_of(i), ReadMode::kLatest).ok()) << "torn pending";
      }
      bool matches_model = exists == model[i].exists && bytes == model[i].bytes;
      if (i == interrupted && !matches_model) {
        // The interrupted update may have committed before the crash point.
        EXPECT_TRUE(exists == candidate.exists && bytes == candidate.bytes)
            << "epoch " << epoch << " chunk " << i << ": neither old nor new";
        model[i] = candidate;
      } else {
        EXPECT_TRUE(matches_model)
            << "epoch " << epoch << " chunk " << i << ": acknowledged state lost";
      }
    }
    ExpectNoLeakedSlots(*e);
  }
}

}  // namespace
}  // namespace hf3fs::chunk
