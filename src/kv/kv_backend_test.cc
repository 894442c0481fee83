// Backend-specific KV tests: precise OCC conflicts (memory, RocksDB), RocksDB group commit,
// PostgreSQL failure handling, and configuration.
#include "common/metrics.h"
#include "kv/kv_config.h"
#include "kv/kv_test_util.h"

namespace hf3fs::kv::test {
namespace {

// ---- OCC-specific behaviour (memory and RocksDB) -----------------------------------------------

template <typename B>
class OccEngineTest : public KvEngineTest<B> {};
using OccBackends = ::testing::Types<MemoryBackend, RocksDbBackend>;
TYPED_TEST_SUITE(OccEngineTest, OccBackends, BackendNames);

TYPED_TEST(OccEngineTest, OnlyWhatWasReadConflicts) {
  this->Put({{"a", "1"}, {"r/1", "x"}, {"r/2", "x"}, {"r/3", "x"}});
  auto txn = this->Begin();
  ASSERT_OK(txn->SnapshotGet("snap"));  // no conflict
  ASSERT_OK(txn->SnapshotGetRange("s/", "s0", 0));
  ASSERT_OK(txn->Set("own", "1"));
  ASSERT_OK(txn->Get("own"));             // own write: no conflict
  auto r = txn->GetRange("r/", "r0", 1);  // examines r/1 and r/2 only
  ASSERT_OK(r);
  EXPECT_TRUE(r->has_more);
  this->Put({{"snap", "x"}, {"s/1", "x"}, {"own", "other"}, {"r/3", "y"}, {"r/4", "y"}});
  EXPECT_OK(txn->Commit());  // blind writes of "own" do not conflict either

  txn = this->Begin();
  r = txn->GetRange("r/", "r0", 1);
  ASSERT_OK(r);
  ASSERT_OK(txn->Set("w", "1"));
  this->Put({{"r/2", "changed"}});  // the key that decided has_more
  EXPECT_EQ(txn->Commit().code(), StatusCode::kTxnConflict);

  txn = this->Begin();
  r = txn->GetRange("r/", "r0", 0, /*reverse=*/true);  // whole range
  ASSERT_OK(r);
  ASSERT_OK(txn->Set("w", "1"));
  this->Put({{"r/", "new first key"}});
  EXPECT_EQ(txn->Commit().code(), StatusCode::kTxnConflict);
}

TYPED_TEST(OccEngineTest, ClearRangeConflictsWithReadsInside) {
  this->Put({{"d/1", "x"}});
  auto txn = this->Begin();
  ASSERT_OK(txn->Get("d/5"));  // absent, but read
  ASSERT_OK(txn->Set("w", "1"));
  auto other = this->Begin();
  ASSERT_OK(other->ClearRange("d/", "d0"));
  ASSERT_OK(other->Commit());
  EXPECT_EQ(txn->Commit().code(), StatusCode::kTxnConflict);
}

TYPED_TEST(OccEngineTest, ReadOnlyAndWriteFreeTransactionsAlwaysCommit) {
  this->Put({{"a", "1"}});
  auto ro = this->Begin(TxnOptions{.read_only = true});
  auto rw = this->Begin();
  ASSERT_OK(ro->Get("a"));
  ASSERT_OK(rw->Get("a"));
  this->Put({{"a", "2"}});
  EXPECT_OK(ro->Commit());
  EXPECT_OK(rw->Commit());  // read but wrote nothing: serializable at its snapshot
}

TEST(MemoryEngineTest, TooOldTransactionsAreRetryable) {
  auto engine = OpenMemoryEngine(MemoryEngineOptions{.conflict_log_max_bytes = 4096});
  auto old = std::move(*engine->Begin());
  ASSERT_OK(old->Get("a"));
  for (int i = 0; i < 200; ++i) {
    auto txn = std::move(*engine->Begin());
    ASSERT_OK(txn->Set(fmt::format("k{}", i), "v"));
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK(old->Set("b", "1"));
  Status st = old->Commit();
  EXPECT_EQ(st.code(), StatusCode::kTxnTooOld) << st;
  EXPECT_TRUE(IsRetryableTxnError(st));
}

TEST(RocksDbEngineTest, OpenNeedsAPath) {
  auto e = OpenRocksDbEngine(RocksDbEngineOptions{});
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
}

TEST(RocksDbEngineTest, ConcurrentCommitsShareGroupWrites) {
  // Many threads commit disjoint keys with sync on; every commit lands exactly once.
  TempDir dir;
  auto engine = std::move(*OpenRocksDbEngine(RocksDbEngineOptions{.path = dir.path + "/db"}));
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Status st = RunTransaction(*engine, RetryOptions{}, [&](Transaction& txn) -> Status {
          HF3FS_TRY(txn.Set(fmt::format("t{}/{:04}", t, i), "v"));
          HF3FS_TRY(txn.AddReadConflict(fmt::format("t{}/{:04}", t, i)));
          return Status::Ok();
        });
        EXPECT_OK(st);
      }
    });
  }
  for (auto& th : threads) th.join();
  auto txn = std::move(*engine->Begin());
  auto r = txn->GetRange("t", "u", 0);
  ASSERT_OK(r);
  EXPECT_EQ(r->kvs.size(), size_t{kThreads * kPerThread});
}

TEST(RocksDbEngineTest, GroupCommitRespectsItsByteBound) {
  // With a bound smaller than any commit, every group holds exactly one commit.
  TempDir dir;
  auto* groups = metrics::Registry::Global().GetCounter("hf3fs_kv_rocksdb_group_writes_total", "");
  auto engine = std::move(*OpenRocksDbEngine(
      RocksDbEngineOptions{.path = dir.path + "/db", .max_group_commit_bytes = 1}));
  uint64_t before = groups->Value();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto txn = std::move(*engine->Begin());
        EXPECT_OK(txn->Set(fmt::format("t{}/{}", t, i), "v"));
        EXPECT_OK(txn->Commit());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(groups->Value() - before, uint64_t{kThreads * kPerThread});
  auto txn = std::move(*engine->Begin());
  auto r = txn->GetRange("t", "u", 0);
  ASSERT_OK(r);
  EXPECT_EQ(r->kvs.size(), size_t{kThreads * kPerThread});
}

// ---- PostgreSQL-specific ---------------------------------------------------------------------

TEST(PostgresEngineTest, UnreachableServerIsUnavailable) {
  TempDir dir;  // no server listens here
  PostgresEngineOptions o;
  o.conninfo = "host=" + dir.path + " port=5999 user=nobody dbname=none";
  auto e = OpenPostgresEngine(o);
  EXPECT_EQ(e.status().code(), StatusCode::kKvUnavailable) << e.status();
  EXPECT_TRUE(e.status().retryable());
  o.table = "bad name; drop table kv";
  EXPECT_EQ(OpenPostgresEngine(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(PostgresEngineTest, CommitsWhoseReplyIsLostAreResolvedExactly) {
  // Every third commit pretends its reply was lost; the engine must find out from the server that
  // it committed, or RunTransaction would apply the increment twice.
  PostgresBackend::SetUpSuite();
  PostgresEngineOptions o;
  o.conninfo = PostgresBackend::server->conninfo();
  o.fault_lose_commit_reply_every = 3;
  auto engine = OpenPostgresEngine(o);
  ASSERT_OK(engine);
  for (int i = 0; i < 30; ++i) ASSERT_OK(Increment(**engine, "counter"));
  EXPECT_EQ(*ReadCounter(**engine, "counter"), 30u);
  engine->reset();
  PostgresBackend::TearDownSuite();
}

TEST(PostgresEngineTest, ConnectionPoolIsBounded) {
  PostgresBackend::SetUpSuite();
  PostgresEngineOptions o;
  o.conninfo = PostgresBackend::server->conninfo();
  o.max_connections = 1;
  o.pool_wait = 100ms;
  auto engine = OpenPostgresEngine(o);
  ASSERT_OK(engine);
  {
    auto first = (*engine)->Begin();
    ASSERT_OK(first);
    auto start = Clock::now();
    auto second = (*engine)->Begin();
    EXPECT_EQ(second.status().code(), StatusCode::kKvUnavailable) << second.status();
    EXPECT_GE(Clock::now() - start, 100ms);
  }
  auto again = (*engine)->Begin();  // the connection went back to the pool
  EXPECT_OK(again);
  again->reset();
  engine->reset();
  PostgresBackend::TearDownSuite();
}

TEST(KvConfigTest, OpensTheConfiguredBackend) {
  struct Root : config::Section {
    KvConfig kv{this, "kv"};
  };
  Root root;
  EXPECT_EQ(root.kv.backend.Get(), "rocksdb");
  EXPECT_EQ(OpenEngine(root.kv).status().code(), StatusCode::kConfigInvalid);  // no path
  EXPECT_EQ(root.LoadString("[kv]\nbackend = \"etcd\"\n").code(), StatusCode::kConfigInvalid);

  ASSERT_OK(root.LoadString("[kv]\nbackend = \"postgres\"\n"));
  EXPECT_EQ(OpenEngine(root.kv).status().code(), StatusCode::kConfigInvalid);  // no conninfo

  TempDir dir;
  ASSERT_OK(root.LoadString(
      fmt::format("[kv]\nbackend = \"rocksdb\"\ndurability = \"strict\"\n[kv.rocksdb]\npath = \"{}/db\"\n"
                  "[kv.retry]\nmax_attempts = 7\n",
                  dir.path)));
  EXPECT_EQ(root.kv.retry.ToOptions().max_attempts, 7u);
  auto engine = OpenEngine(root.kv);
  ASSERT_OK(engine);
  EXPECT_EQ((*engine)->backend(), "rocksdb");

  ASSERT_OK(root.LoadString("[kv]\nbackend = \"memory\"\n"));
  engine = OpenEngine(root.kv);
  ASSERT_OK(engine);
  EXPECT_EQ((*engine)->backend(), "memory");
}

}  // namespace
}  // namespace hf3fs::kv::test
