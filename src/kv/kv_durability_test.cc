// The durability contract of the KV backends (docs/design/0009-durability.md): with window
// durability a simulated power loss keeps every commit made before the last Sync() (or the last
// background flush) and leaves a prefix of the commit order; strict durability keeps every commit;
// Sync() is what flushes PostgreSQL's asynchronous commits.
#include <rocksdb/env.h>

#include "kv/kv_test_util.h"
#include "kv/postgres/pg_connection.h"
#include "kv/rocksdb/power_loss_fs.h"

namespace hf3fs::kv::test {
namespace {

// A RocksDB engine over a PowerLossFs.
class PowerLossDb {
 public:
  explicit PowerLossDb(Durability durability, std::chrono::milliseconds interval = 1h)
      : durability_(durability), interval_(interval) {
    fs_ = PowerLossFs::Create();
    env_ = PowerLossFs::NewEnv(fs_);
  }
  ~PowerLossDb() { engine.reset(); }

  void Open() {
    RocksDbEngineOptions o;
    o.path = dir_.path + "/db";
    o.durability = durability_;
    o.sync_interval = interval_;
    o.env = env_.get();
    auto e = OpenRocksDbEngine(o);
    HF3FS_CHECK_MSG(e.ok(), "open: {}", e.status());
    engine = std::move(*e);
  }
  // The machine loses power: unsynced WAL bytes are gone when it comes back.
  void PowerLossAndReopen() {
    fs_->Cut();
    engine.reset();  // its final flush fails: the disk is gone
    HF3FS_CHECK(fs_->Recover().ok());
    Open();
  }
  PowerLossFs& fs() { return *fs_; }

  std::unique_ptr<Engine> engine;

 private:
  Durability durability_;
  std::chrono::milliseconds interval_;
  TempDir dir_;
  std::shared_ptr<PowerLossFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
};

// Commit i sets "k/<i>" and "last" = i: a state holds a prefix of the commits iff "last" names
// the highest key present and every lower key is there.
void CommitSeries(Engine& engine, int from, int to) {
  for (int i = from; i < to; ++i) {
    auto txn = engine.Begin();
    ASSERT_OK(txn);
    ASSERT_OK((*txn)->Set(fmt::format("k/{:06}", i), "v"));
    ASSERT_OK((*txn)->Set("last", std::to_string(i)));
    ASSERT_OK((*txn)->Commit());
  }
}

// The number of commits the store holds; fails the test unless they are a prefix.
int PrefixLength(Engine& engine) {
  auto txn = engine.Begin(TxnOptions{.read_only = true});
  HF3FS_CHECK(txn.ok());
  auto keys = (*txn)->GetRange("k/", "k0", 0);
  HF3FS_CHECK(keys.ok());
  int n = static_cast<int>(keys->kvs.size());
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(keys->kvs[i].key, fmt::format("k/{:06}", i)) << "a commit is missing before " << n;
  }
  auto last = (*txn)->Get("last");
  HF3FS_CHECK(last.ok());
  if (n == 0) {
    EXPECT_FALSE(last->has_value());
  } else {
    EXPECT_EQ(*last, std::optional<std::string>(std::to_string(n - 1)));
  }
  return n;
}

TEST(KvDurability, WindowKeepsWhatSyncCoveredAfterAPowerLoss) {
  PowerLossDb db(Durability::kWindow);
  db.Open();
  ASSERT_NO_FATAL_FAILURE(CommitSeries(*db.engine, 0, 100));
  ASSERT_OK(db.engine->Sync());
  ASSERT_NO_FATAL_FAILURE(CommitSeries(*db.engine, 100, 200));
  // Acknowledged and readable, but only in the kernel: nothing flushed them.
  EXPECT_GT(db.fs().UnsyncedBytes(), 0u);
  EXPECT_EQ(PrefixLength(*db.engine), 200);
  db.PowerLossAndReopen();
  int kept = PrefixLength(*db.engine);
  EXPECT_GE(kept, 100) << "a commit covered by Sync() was lost";
  EXPECT_LT(kept, 200) << "the simulated power loss dropped nothing: the test proves nothing";
}

TEST(KvDurability, StrictKeepsEveryCommitAfterAPowerLoss) {
  PowerLossDb db(Durability::kStrict);
  db.Open();
  ASSERT_NO_FATAL_FAILURE(CommitSeries(*db.engine, 0, 100));
  EXPECT_EQ(db.fs().UnsyncedBytes(), 0u);
  db.PowerLossAndReopen();
  EXPECT_EQ(PrefixLength(*db.engine), 100);
}

TEST(KvDurability, TheBackgroundFlushBoundsTheWindow) {
  PowerLossDb db(Durability::kWindow, 20ms);
  db.Open();
  ASSERT_NO_FATAL_FAILURE(CommitSeries(*db.engine, 0, 50));
  for (int i = 0; i < 500 && db.fs().UnsyncedBytes() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(db.fs().UnsyncedBytes(), 0u);
  db.PowerLossAndReopen();
  EXPECT_EQ(PrefixLength(*db.engine), 50);
}

TEST(KvDurability, ConcurrentCommitsAndSyncsNeverLoseASyncedCommit) {
  PowerLossDb db(Durability::kWindow);
  db.Open();
  // Writers commit "t<thread>/<i>" then Sync; the highest i whose Sync returned must survive.
  constexpr int kThreads = 4;
  std::atomic<int> synced[kThreads];
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    synced[t] = -1;
    threads.emplace_back([&, t] {
      for (int i = 0; i < 60; ++i) {
        auto txn = db.engine->Begin();
        if (!txn.ok() || !(*txn)->Set(fmt::format("t{}/{:04}", t, i), "v").ok() ||
            !(*txn)->Commit().ok()) {
          ADD_FAILURE() << "commit failed";
          return;
        }
        if (i % 3 == 0) {
          if (!db.engine->Sync().ok()) {
            ADD_FAILURE() << "sync failed";
            return;
          }
          synced[t] = i;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  db.PowerLossAndReopen();
  auto txn = db.engine->Begin(TxnOptions{.read_only = true});
  ASSERT_OK(txn);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i <= synced[t]; ++i) {
      auto v = (*txn)->Get(fmt::format("t{}/{:04}", t, i));
      ASSERT_OK(v);
      EXPECT_TRUE(v->has_value()) << "thread " << t << " commit " << i << " was synced";
    }
  }
}

// PostgreSQL: with window durability a commit returns before its WAL is flushed, and Sync()
// flushes it. The WAL writer is slowed down to 10 s so that it cannot do Sync's work.
TEST(KvDurability, PostgresSyncFlushesAsynchronousCommits) {
  auto server = pg::PgTestServer::Start();
  ASSERT_OK(server);
  auto admin = pg::PgConnection::Connect((*server)->conninfo(), 5s);
  ASSERT_OK(admin);
  ASSERT_OK((*admin)->Command("ALTER SYSTEM SET wal_writer_delay = '10s'"));
  auto lsn = [&](const char* fn) -> uint64_t {
    std::string sql = fmt::format("SELECT ({}() - '0/0'::pg_lsn)::bigint", fn);
    pg::PgResultPtr res(PQexec((*admin)->raw(), sql.c_str()));
    HF3FS_CHECK(res && PQresultStatus(res.get()) == PGRES_TUPLES_OK);
    return std::stoull(PQgetvalue(res.get(), 0, 0));
  };
  {
    pg::PgResultPtr res(PQexec((*admin)->raw(), "SELECT pg_reload_conf()"));
    ASSERT_TRUE(res && PQresultStatus(res.get()) == PGRES_TUPLES_OK);
  }
  std::this_thread::sleep_for(200ms);  // the WAL writer picks the new delay up
  PostgresEngineOptions o;
  o.conninfo = (*server)->conninfo();
  o.durability = Durability::kWindow;
  o.sync_interval = 1h;
  auto engine = OpenPostgresEngine(o);
  ASSERT_OK(engine);
  ASSERT_NO_FATAL_FAILURE(CommitSeries(**engine, 0, 1));
  uint64_t written = lsn("pg_current_wal_insert_lsn");
  EXPECT_LT(lsn("pg_current_wal_flush_lsn"), written) << "the commit was flushed: not async";
  ASSERT_OK((*engine)->Sync());
  EXPECT_GE(lsn("pg_current_wal_flush_lsn"), written) << "Sync did not flush the WAL";
}

}  // namespace
}  // namespace hf3fs::kv::test
