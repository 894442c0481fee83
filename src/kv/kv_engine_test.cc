// The KV test suite: one typed suite run unchanged against the memory, RocksDB and PostgreSQL
// backends, plus OCC-specific cases (memory and RocksDB) and RocksDB crash durability.
//
// PostgreSQL cases start their own throwaway server (PgTestServer) once per test process.
// Multi-process cases re-execute this binary in a child mode (see main at the bottom), so that
// children start from a fresh process image instead of a fork of a threaded parent.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "common/logging.h"
#include "common/metrics.h"
#include "kv/engine.h"
#include "kv/kv_config.h"
#include "kv/memory/memory_engine.h"
#include "kv/postgres/pg_engine.h"
#include "kv/postgres/pg_test_server.h"
#include "kv/retry.h"
#include "kv/rocksdb/rocksdb_engine.h"

namespace hf3fs::kv {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

#define ASSERT_OK(expr)                            \
  do {                                             \
    auto&& assert_ok_ = (expr);                    \
    ASSERT_TRUE(assert_ok_.ok()) << ::hf3fs::internal::ToStatus(assert_ok_); \
  } while (0)
#define EXPECT_OK(expr)                            \
  do {                                             \
    auto&& expect_ok_ = (expr);                    \
    EXPECT_TRUE(expect_ok_.ok()) << ::hf3fs::internal::ToStatus(expect_ok_); \
  } while (0)

// ---- Child processes -----------------------------------------------------------------------

// Runs this test binary as `kv_test --kv-child <args...>`, stdout to `stdout_fd` (or inherited).
pid_t SpawnChild(const std::vector<std::string>& args, int stdout_fd = -1) {
  std::vector<std::string> full = {"/proc/self/exe", "--kv-child"};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    if (stdout_fd >= 0 && dup2(stdout_fd, 1) < 0) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Kills and reaps a child that is still running when the test ends (e.g. after a failed ASSERT).
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

// Sets `stop` and joins the threads when the scope ends, also after a failed ASSERT.
struct ThreadsGuard {
  std::atomic<bool>& stop;
  std::vector<std::thread>& threads;
  ~ThreadsGuard() {
    stop = true;
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
};

int WaitChild(pid_t pid) {
  int wstatus = 0;
  if (waitpid(pid, &wstatus, 0) != pid) return -1;
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

Status Increment(Engine& engine, std::string_view key) {
  RetryOptions retry;
  retry.deadline = 60s;
  retry.max_attempts = 100000;
  return RunTransaction(engine, retry, [&](Transaction& txn) -> Status {
    HF3FS_TRY_ASSIGN(auto v, txn.Get(key));
    uint64_t n = v ? std::stoull(*v) : 0;
    return txn.Set(key, std::to_string(n + 1));
  });
}

Result<uint64_t> ReadCounter(Engine& engine, std::string_view key) {
  HF3FS_TRY_ASSIGN(auto txn, engine.Begin());
  HF3FS_TRY_ASSIGN(auto v, txn->Get(key));
  return v ? std::stoull(*v) : 0;
}

// ---- Backends ------------------------------------------------------------------------------

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/hf3fs-kv-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

struct MemoryBackend {
  static constexpr const char* kName = "memory";
  static void SetUpSuite() {}
  static void TearDownSuite() {}
  Result<std::unique_ptr<Engine>> Open() { return OpenMemoryEngine(); }
  // The store lives in the engine; children get their own (see MultiProcess).
  std::vector<std::string> ChildArgs() const { return {"memory"}; }
};

struct RocksDbBackend {
  static constexpr const char* kName = "rocksdb";
  static void SetUpSuite() {}
  static void TearDownSuite() {}
  Result<std::unique_ptr<Engine>> Open() {
    return OpenRocksDbEngine(RocksDbEngineOptions{.path = dir.path + "/db", .sync_wal = true});
  }
  std::vector<std::string> ChildArgs() const { return {"rocksdb", dir.path + "/db"}; }
  TempDir dir;
};

struct PostgresBackend {
  static constexpr const char* kName = "postgres";
  static void SetUpSuite() {
    auto s = pg::PgTestServer::Start();
    HF3FS_CHECK_MSG(s.ok(), "cannot start the PostgreSQL test server: {}", s.status());
    server = std::move(*s);
  }
  static void TearDownSuite() { server.reset(); }
  PostgresEngineOptions Options() const {
    PostgresEngineOptions o;
    o.conninfo = server->conninfo();
    o.table = table;
    return o;
  }
  Result<std::unique_ptr<Engine>> Open() { return OpenPostgresEngine(Options()); }
  std::vector<std::string> ChildArgs() const { return {"postgres", server->conninfo(), table}; }

  static inline std::unique_ptr<pg::PgTestServer> server;
  static inline int next_table = 0;
  std::string table = "kv_" + std::to_string(next_table++);  // one per test case
};

template <typename B>
class KvEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { B::SetUpSuite(); }
  static void TearDownTestSuite() { B::TearDownSuite(); }

  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Reopen()); }
  void TearDown() override { engine_.reset(); }

  void Reopen() {
    engine_.reset();
    auto e = backend_.Open();
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }

  std::unique_ptr<Transaction> Begin(TxnOptions options = {}) {
    auto t = engine_->Begin(options);
    HF3FS_CHECK_MSG(t.ok(), "Begin: {}", t.status());
    return std::move(*t);
  }

  // Commits `kvs` in one transaction.
  void Put(std::initializer_list<std::pair<std::string, std::string>> kvs) {
    auto txn = Begin();
    for (const auto& [k, v] : kvs) ASSERT_OK(txn->Set(k, v));
    ASSERT_OK(txn->Commit());
  }

  std::optional<std::string> Read(std::string_view key) {
    auto txn = Begin();
    auto v = txn->Get(key);
    HF3FS_CHECK_MSG(v.ok(), "Get: {}", v.status());
    return *v;
  }

  std::vector<std::string> Keys(const RangeResult& r) {
    std::vector<std::string> keys;
    for (const auto& kv : r.kvs) keys.push_back(kv.key);
    return keys;
  }

  B backend_;
  std::unique_ptr<Engine> engine_;
};

struct BackendNames {
  template <typename B>
  static std::string GetName(int) {
    return B::kName;
  }
};

using Backends = ::testing::Types<MemoryBackend, RocksDbBackend, PostgresBackend>;
TYPED_TEST_SUITE(KvEngineTest, Backends, BackendNames);

// ---- Basic operations -----------------------------------------------------------------------

TYPED_TEST(KvEngineTest, SetGetClearRoundTrip) {
  auto txn = this->Begin();
  EXPECT_EQ(*txn->Get("a"), std::nullopt);
  ASSERT_OK(txn->Set("a", "1"));
  ASSERT_OK(txn->Set("b", ""));  // empty values are values
  ASSERT_OK(txn->Set("", "empty key"));
  ASSERT_OK(txn->Commit());

  EXPECT_EQ(this->Read("a"), "1");
  EXPECT_EQ(this->Read("b"), "");
  EXPECT_EQ(this->Read(""), "empty key");
  EXPECT_EQ(this->Read("c"), std::nullopt);

  txn = this->Begin();
  ASSERT_OK(txn->Clear("a"));
  ASSERT_OK(txn->Clear("never-existed"));
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(this->Read("a"), std::nullopt);
  EXPECT_EQ(this->Read("b"), "");
}

TYPED_TEST(KvEngineTest, CommitAndCancelCloseTheTransaction) {
  auto txn = this->Begin();
  ASSERT_OK(txn->Set("a", "1"));
  txn->Cancel();
  txn->Cancel();  // idempotent
  EXPECT_EQ(txn->Set("a", "2").code(), StatusCode::kTxnClosed);
  EXPECT_EQ(txn->Commit().code(), StatusCode::kTxnClosed);
  EXPECT_EQ(this->Read("a"), std::nullopt);

  txn = this->Begin();
  ASSERT_OK(txn->Set("a", "1"));
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(txn->Get("a").status().code(), StatusCode::kTxnClosed);
  EXPECT_EQ(txn->Commit().code(), StatusCode::kTxnClosed);

  {
    auto dropped = this->Begin();
    ASSERT_OK(dropped->Set("dropped", "x"));
  }  // destroyed without Commit
  EXPECT_EQ(this->Read("dropped"), std::nullopt);
}

TYPED_TEST(KvEngineTest, ReadOnlyTransactionsRejectWrites) {
  this->Put({{"a", "1"}});
  auto txn = this->Begin(TxnOptions{.read_only = true});
  EXPECT_EQ(*txn->Get("a"), "1");
  EXPECT_EQ(txn->Set("a", "2").code(), StatusCode::kTxnReadOnly);
  EXPECT_EQ(txn->Clear("a").code(), StatusCode::kTxnReadOnly);
  EXPECT_EQ(txn->ClearRange("a", "b").code(), StatusCode::kTxnReadOnly);
  EXPECT_OK(txn->Commit());
  EXPECT_EQ(this->Read("a"), "1");
}

TYPED_TEST(KvEngineTest, KeysOrderBytewise) {
  // memcmp order, shorter first on a common prefix; the same in every backend.
  std::vector<std::string> sorted = {"",       std::string("\0", 1), std::string("\0\0", 2),
                                     "\x01",   "A",                  "a",
                                     "ab",     "a\x7f",              "a\x80",
                                     "\x7f",   "\x80",               "\xfe\xff",
                                     "\xff",   std::string("\xff\0", 2), "\xff\xff"};
  auto txn = this->Begin();
  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) ASSERT_OK(txn->Set(*it, "v"));
  ASSERT_OK(txn->Commit());

  txn = this->Begin();
  auto r = txn->GetRange("", KeyspaceEnd(), 0);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), sorted);
  r = txn->GetRange("", KeyspaceEnd(), 0, /*reverse=*/true);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), std::vector<std::string>(sorted.rbegin(), sorted.rend()));
  // A prefix range holds exactly the keys with the prefix.
  r = txn->GetRange("\xff", PrefixEnd("\xff"), 0);
  ASSERT_OK(r);
  EXPECT_EQ(r->kvs.size(), 3u);
  r = txn->GetRange("a", PrefixEnd("a"), 0);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), (std::vector<std::string>{"a", "ab", "a\x7f", "a\x80"}));
}

// ---- Range scans ------------------------------------------------------------------------------

TYPED_TEST(KvEngineTest, RangeScansWithLimitsAndReverse) {
  auto txn = this->Begin();
  for (int i = 0; i < 20; ++i) ASSERT_OK(txn->Set(fmt::format("k{:02}", i), std::to_string(i)));
  ASSERT_OK(txn->Set("j", "before"));
  ASSERT_OK(txn->Set("l", "after"));
  ASSERT_OK(txn->Commit());

  txn = this->Begin();
  auto r = txn->GetRange("k", "l", 5);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), (std::vector<std::string>{"k00", "k01", "k02", "k03", "k04"}));
  EXPECT_EQ(r->kvs[3].value, "3");
  EXPECT_TRUE(r->has_more);

  r = txn->GetRange("k", "l", 5, /*reverse=*/true);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), (std::vector<std::string>{"k19", "k18", "k17", "k16", "k15"}));
  EXPECT_TRUE(r->has_more);

  r = txn->GetRange("k", "l", 20);  // exactly the limit: nothing more
  ASSERT_OK(r);
  EXPECT_EQ(r->kvs.size(), 20u);
  EXPECT_FALSE(r->has_more);
  r = txn->GetRange("k", "l", 0);  // no limit
  ASSERT_OK(r);
  EXPECT_EQ(r->kvs.size(), 20u);
  EXPECT_FALSE(r->has_more);

  // begin inclusive, end exclusive, in both directions.
  r = txn->GetRange("k05", "k08", 0);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), (std::vector<std::string>{"k05", "k06", "k07"}));
  r = txn->GetRange("k05", "k08", 0, true);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), (std::vector<std::string>{"k07", "k06", "k05"}));
  r = txn->GetRange("k05", "k08", 2, true);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), (std::vector<std::string>{"k07", "k06"}));
  EXPECT_TRUE(r->has_more);

  // Pagination: continue after the last key until has_more is false.
  std::vector<std::string> all;
  std::string cursor = "k";
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 10);
    r = txn->GetRange(cursor, "l", 3);
    ASSERT_OK(r);
    for (const auto& kv : r->kvs) all.push_back(kv.key);
    if (!r->has_more) break;
    cursor = KeyAfter(r->kvs.back().key);
  }
  EXPECT_EQ(all.size(), 20u);

  // Empty and inverted ranges.
  r = txn->GetRange("k05", "k05", 0);
  ASSERT_OK(r);
  EXPECT_TRUE(r->kvs.empty());
  EXPECT_FALSE(r->has_more);
  r = txn->GetRange("z", "a", 0);
  ASSERT_OK(r);
  EXPECT_TRUE(r->kvs.empty());
  r = txn->SnapshotGetRange("k", "l", 1);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), std::vector<std::string>{"k00"});
}

TYPED_TEST(KvEngineTest, ReadYourWritesIncludingRanges) {
  this->Put({{"a1", "s"}, {"a2", "s"}, {"a3", "s"}, {"a4", "s"}, {"a5", "s"}, {"b1", "s"}});
  auto txn = this->Begin();
  ASSERT_OK(txn->Set("a2", "own"));     // overwrite
  ASSERT_OK(txn->Set("a25", "new"));    // insert between
  ASSERT_OK(txn->Clear("a3"));          // delete
  ASSERT_OK(txn->ClearRange("a4", "a6"));
  ASSERT_OK(txn->Set("a45", "back"));   // set inside the cleared range survives
  ASSERT_OK(txn->Set("a0", "first"));

  EXPECT_EQ(*txn->Get("a2"), "own");
  EXPECT_EQ(*txn->Get("a3"), std::nullopt);
  EXPECT_EQ(*txn->Get("a4"), std::nullopt);
  EXPECT_EQ(*txn->Get("a45"), "back");
  EXPECT_EQ(*txn->SnapshotGet("a25"), "new");

  std::vector<std::string> expected = {"a0", "a1", "a2", "a25", "a45"};
  auto r = txn->GetRange("a", "b", 0);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), expected);
  EXPECT_EQ(r->kvs[2].value, "own");
  r = txn->GetRange("a", "b", 0, /*reverse=*/true);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), std::vector<std::string>(expected.rbegin(), expected.rend()));
  r = txn->GetRange("a", "b", 2);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), (std::vector<std::string>{"a0", "a1"}));
  EXPECT_TRUE(r->has_more);
  r = txn->GetRange("a", "b", 2, true);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), (std::vector<std::string>{"a45", "a25"}));
  EXPECT_TRUE(r->has_more);
  r = txn->GetRange("a3", "b", 1);  // a3, a4, a5 are gone: the next visible key is own
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), std::vector<std::string>{"a45"});
  EXPECT_FALSE(r->has_more);
  ASSERT_OK(txn->Commit());

  txn = this->Begin();
  r = txn->GetRange("a", "c", 0);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), (std::vector<std::string>{"a0", "a1", "a2", "a25", "a45", "b1"}));
}

TYPED_TEST(KvEngineTest, ClearRangeRemovesEveryKeyInIt) {
  auto txn = this->Begin();
  for (int i = 0; i < 50; ++i) ASSERT_OK(txn->Set(fmt::format("d/{:03}", i), "x"));
  ASSERT_OK(txn->Set("d0", "outside"));
  ASSERT_OK(txn->Commit());
  txn = this->Begin();
  ASSERT_OK(txn->ClearRange("d/", PrefixEnd("d/")));
  ASSERT_OK(txn->Commit());
  txn = this->Begin();
  auto r = txn->GetRange("d", "e", 0);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), std::vector<std::string>{"d0"});
}

TYPED_TEST(KvEngineTest, ReadsSeeOneSnapshot) {
  this->Put({{"a", "old"}, {"b", "old"}});
  auto reader = this->Begin();
  EXPECT_EQ(*reader->Get("a"), "old");  // PostgreSQL takes the snapshot at the first read
  this->Put({{"a", "new"}, {"b", "new"}, {"c", "new"}});
  EXPECT_EQ(*reader->SnapshotGet("b"), "old");
  auto r = reader->SnapshotGetRange("a", "z", 0);
  ASSERT_OK(r);
  EXPECT_EQ(this->Keys(*r), (std::vector<std::string>{"a", "b"}));
  reader->Cancel();
  EXPECT_EQ(this->Read("b"), "new");
}

// ---- Serializability ---------------------------------------------------------------------------

// Runs two interleaved transactions step by step; returns how many committed. A step that fails
// must fail with a retryable conflict; the transaction then stops.
struct TxnPair {
  std::unique_ptr<Transaction> t[2];
  bool alive[2] = {true, true};
  int committed = 0;

  template <typename F>
  void Step(int i, F&& f) {
    if (!alive[i]) return;
    Status st = f(*t[i]);
    if (!st.ok()) {
      EXPECT_EQ(st.code(), StatusCode::kTxnConflict) << st;
      EXPECT_TRUE(st.retryable());
      alive[i] = false;
    }
  }
  void Commit(int i) {
    Step(i, [](Transaction& txn) { return txn.Commit(); });
    if (alive[i]) ++committed;
  }
};

TYPED_TEST(KvEngineTest, WriteSkewIsPrevented) {
  // Two doctors on call; each may leave if the other stays. Both leaving is not serializable.
  this->Put({{"alice", "on"}, {"bob", "on"}});
  TxnPair p{{this->Begin(), this->Begin()}};
  auto check_both = [](Transaction& txn) -> Status {
    HF3FS_TRY_ASSIGN(auto a, txn.Get("alice"));
    HF3FS_TRY_ASSIGN(auto b, txn.Get("bob"));
    return a == "on" && b == "on" ? Status::Ok() : Status(StatusCode::kInternal, "not both on");
  };
  p.Step(0, check_both);
  p.Step(1, check_both);
  p.Step(0, [](Transaction& txn) { return txn.Set("alice", "off"); });
  p.Step(1, [](Transaction& txn) { return txn.Set("bob", "off"); });
  p.Commit(0);
  p.Commit(1);
  EXPECT_EQ(p.committed, 1);
  int on = (this->Read("alice") == "on") + (this->Read("bob") == "on");
  EXPECT_EQ(on, 1);
}

TYPED_TEST(KvEngineTest, PhantomsInRangesArePrevented) {
  // rmdir checks the directory is empty and removes it; create checks it exists and adds an
  // entry. Both committing would leave an entry in a removed directory.
  this->Put({{"dir", "exists"}});
  TxnPair p{{this->Begin(), this->Begin()}};
  p.Step(0, [](Transaction& txn) -> Status {  // rmdir: is it empty?
    HF3FS_TRY_ASSIGN(auto r, txn.GetRange("dir/", PrefixEnd("dir/"), 1));
    return r.kvs.empty() ? Status::Ok() : Status(StatusCode::kInternal, "not empty");
  });
  p.Step(1, [](Transaction& txn) -> Status {  // create: does the directory exist?
    HF3FS_TRY_ASSIGN(auto d, txn.Get("dir"));
    return d ? Status::Ok() : Status(StatusCode::kInternal, "no dir");
  });
  p.Step(0, [](Transaction& txn) { return txn.Clear("dir"); });
  p.Step(1, [](Transaction& txn) { return txn.Set("dir/file", "entry"); });
  p.Commit(0);
  p.Commit(1);
  EXPECT_EQ(p.committed, 1);
  bool dir = this->Read("dir").has_value();
  bool file = this->Read("dir/file").has_value();
  EXPECT_TRUE(dir == file) << "dir=" << dir << " file=" << file;
}

TYPED_TEST(KvEngineTest, ExplicitReadConflictRangesArePrevented) {
  // The same anomaly with conflicts declared instead of read.
  this->Put({{"dir", "exists"}});
  TxnPair p{{this->Begin(), this->Begin()}};
  p.Step(0, [](Transaction& txn) { return txn.AddReadConflictRange("dir/", PrefixEnd("dir/")); });
  p.Step(1, [](Transaction& txn) { return txn.AddReadConflict("dir"); });
  p.Step(0, [](Transaction& txn) { return txn.Clear("dir"); });
  p.Step(1, [](Transaction& txn) { return txn.Set("dir/file", "entry"); });
  p.Commit(0);
  p.Commit(1);
  EXPECT_EQ(p.committed, 1);
}

TYPED_TEST(KvEngineTest, ConcurrentIncrementsFromThreadsAreExact) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        Status st = Increment(*this->engine_, "counter");
        if (!st.ok()) {
          ++failures;
          ADD_FAILURE() << st;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*ReadCounter(*this->engine_, "counter"), uint64_t{kThreads * kPerThread});
}

TYPED_TEST(KvEngineTest, ConcurrentIncrementsFromProcesses) {
  constexpr int kChildren = 4;
  constexpr int kPerChild = 30;
  std::string backend = TypeParam::kName;
  if (backend == "rocksdb") {
    // One process per directory: while this process has the DB open, another cannot open it.
    pid_t pid = SpawnChild({"expect-locked", this->backend_.ChildArgs()[1]});
    EXPECT_EQ(WaitChild(pid), 0);
    // Processes that take turns share it: each child increments, then the next one opens.
    this->engine_.reset();
    for (int c = 0; c < kChildren; ++c) {
      auto args = this->backend_.ChildArgs();
      args.insert(args.begin(), {"increment", std::to_string(kPerChild)});
      EXPECT_EQ(WaitChild(SpawnChild(args)), 0);
    }
    ASSERT_NO_FATAL_FAILURE(this->Reopen());
    EXPECT_EQ(*ReadCounter(*this->engine_, "counter"), uint64_t{kChildren * kPerChild});
    return;
  }
  // Children increment the same counter at the same time. Memory stores are per process: each
  // child checks its own count, and this process's store is untouched.
  std::vector<pid_t> pids;
  for (int c = 0; c < kChildren; ++c) {
    auto args = this->backend_.ChildArgs();
    args.insert(args.begin(), {"increment", std::to_string(kPerChild)});
    pids.push_back(SpawnChild(args));
  }
  for (pid_t pid : pids) EXPECT_EQ(WaitChild(pid), 0);
  uint64_t expected = backend == "postgres" ? uint64_t{kChildren * kPerChild} : 0;
  EXPECT_EQ(*ReadCounter(*this->engine_, "counter"), expected);
}

// ---- Sizes -------------------------------------------------------------------------------------

TYPED_TEST(KvEngineTest, SizeLimitsAreEnforcedAndLeaveTheTransactionUsable) {
  std::string big_value(kMaxValueBytes, 'v');
  big_value[12345] = '\0';
  std::string big_key(kMaxKeyBytes, 'k');
  auto txn = this->Begin();
  ASSERT_OK(txn->Set(big_key, big_value));
  EXPECT_EQ(txn->Set("x", std::string(kMaxValueBytes + 1, 'v')).code(),
            StatusCode::kKvValueTooLarge);
  EXPECT_EQ(txn->Set(std::string(kMaxKeyBytes + 1, 'k'), "v").code(), StatusCode::kKvKeyTooLarge);
  EXPECT_EQ(txn->Get(std::string(kMaxKeyBytes + 1, 'k')).status().code(),
            StatusCode::kKvKeyTooLarge);
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(this->Read(big_key), big_value);

  // kMaxTxnBytes of writes in one transaction: the write that crosses it fails, the rest commit.
  txn = this->Begin();
  int accepted = 0;
  Status st;
  for (int i = 0; i < 20 && st.ok(); ++i) {
    st = txn->Set(fmt::format("big{:02}", i), big_value);
    if (st.ok()) ++accepted;
  }
  EXPECT_EQ(st.code(), StatusCode::kTxnTooLarge);
  EXPECT_FALSE(st.retryable());
  EXPECT_EQ(accepted, static_cast<int>(kMaxTxnBytes / (kMaxValueBytes + 5)));
  ASSERT_OK(txn->Set("small", "ok"));
  ASSERT_OK(txn->Commit());
  txn = this->Begin();
  auto r = txn->GetRange("big", "big~", 0);
  ASSERT_OK(r);
  EXPECT_EQ(r->kvs.size(), static_cast<size_t>(accepted));
  EXPECT_EQ(r->kvs.back().value, big_value);
}

TYPED_TEST(KvEngineTest, ReadConflictsAreBounded) {
  std::string key(kMaxKeyBytes, 'r');
  auto txn = this->Begin();
  Status st;
  int added = 0;
  for (; added < 2000 && st.ok(); ++added) {
    key.back() = static_cast<char>(added % 256);
    key[key.size() - 2] = static_cast<char>(added / 256);
    st = txn->AddReadConflict(key);
  }
  EXPECT_EQ(st.code(), StatusCode::kTxnTooLarge) << st;
  EXPECT_EQ(added - 1, static_cast<int>(kMaxTxnBytes / (2 * kMaxKeyBytes + 1)));
  ASSERT_OK(txn->Set("still", "usable"));
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(this->Read("still"), "usable");
}

TYPED_TEST(KvEngineTest, ManyKeys) {
  constexpr int kKeys = 10000;
  constexpr int kPerTxn = 1000;
  for (int b = 0; b < kKeys / kPerTxn; ++b) {
    auto txn = this->Begin();
    for (int i = b * kPerTxn; i < (b + 1) * kPerTxn; ++i) {
      ASSERT_OK(txn->Set(fmt::format("m/{:06}", i), fmt::format("value-{}", i)));
    }
    ASSERT_OK(txn->Commit());
  }
  auto txn = this->Begin();
  auto all = txn->GetRange("m/", PrefixEnd("m/"), 0);
  ASSERT_OK(all);
  ASSERT_EQ(all->kvs.size(), size_t{kKeys});
  for (int i = 0; i < kKeys; i += 997) EXPECT_EQ(all->kvs[i].value, fmt::format("value-{}", i));
  size_t paged = 0;
  std::string end = std::string(PrefixEnd("m/"));
  for (int pages = 0;; ++pages) {  // backwards, 777 at a time
    ASSERT_LT(pages, 20);
    auto r = txn->GetRange("m/", end, 777, /*reverse=*/true);
    ASSERT_OK(r);
    paged += r->kvs.size();
    if (!r->has_more) break;
    end = r->kvs.back().key;
  }
  EXPECT_EQ(paged, size_t{kKeys});
  ASSERT_OK(txn->ClearRange("m/000100", "m/009900"));
  auto r = txn->GetRange("m/", PrefixEnd("m/"), 0);
  ASSERT_OK(r);
  EXPECT_EQ(r->kvs.size(), 200u);
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(this->Read("m/005000"), std::nullopt);
  EXPECT_EQ(this->Read("m/009900"), "value-9900");
}

// ---- Durability --------------------------------------------------------------------------------

TYPED_TEST(KvEngineTest, CommittedDataSurvivesAsDocumented) {
  std::string backend = TypeParam::kName;
  if (backend == "memory") {
    // The memory store lives and dies with its engine.
    this->Put({{"k", "v"}});
    ASSERT_NO_FATAL_FAILURE(this->Reopen());
    EXPECT_EQ(this->Read("k"), std::nullopt);
    return;
  }
  if (backend == "rocksdb") {
    // A writer process is killed with SIGKILL; every commit it acknowledged must be there.
    this->engine_.reset();
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ChildGuard child{SpawnChild({"writer", this->backend_.ChildArgs()[1]}, fds[1])};
    pid_t pid = child.pid;
    close(fds[1]);
    // Let it commit for a while (its first report means the DB is open).
    uint32_t index = 0;
    ASSERT_EQ(read(fds[0], &index, sizeof(index)), static_cast<ssize_t>(sizeof(index)));
    std::this_thread::sleep_for(500ms);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    EXPECT_EQ(WaitChild(pid), 128 + SIGKILL);
    child.pid = -1;
    std::vector<uint32_t> acked = {index};
    while (read(fds[0], &index, sizeof(index)) == static_cast<ssize_t>(sizeof(index))) {
      acked.push_back(index);
    }
    close(fds[0]);
    EXPECT_GT(acked.size(), 10u);
    ASSERT_NO_FATAL_FAILURE(this->Reopen());
    auto txn = this->Begin();
    for (uint32_t i : acked) {
      auto v = txn->Get(fmt::format("w/{:08}", i));
      ASSERT_OK(v);
      ASSERT_EQ(*v, std::optional<std::string>(std::to_string(i))) << "acknowledged key " << i;
    }
    return;
  }
  // PostgreSQL restarts while clients increment; they recover and no increment is lost or doubled.
  auto* server = PostgresBackend::server.get();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::vector<std::thread> threads;
  ThreadsGuard guard{stop, threads};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (!stop) {
        Status st = Increment(*this->engine_, "counter");
        if (st.ok()) {
          ++done;
        } else {
          ADD_FAILURE() << st;
          return;
        }
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  uint64_t before = done;
  ASSERT_OK(server->Stop());
  std::this_thread::sleep_for(300ms);
  ASSERT_OK(server->StartServer());
  auto deadline = Clock::now() + 30s;
  while (done < before + 50 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_GE(done.load(), before + 50) << "clients did not recover after the restart";
  EXPECT_EQ(*ReadCounter(*this->engine_, "counter"), done.load());
}

// ---- OCC-specific behaviour (memory and RocksDB) -----------------------------------------------

template <typename B>
class OccEngineTest : public KvEngineTest<B> {};
using OccBackends = ::testing::Types<MemoryBackend, RocksDbBackend>;
TYPED_TEST_SUITE(OccEngineTest, OccBackends, BackendNames);

TYPED_TEST(OccEngineTest, OnlyWhatWasReadConflicts) {
  this->Put({{"a", "1"}, {"r/1", "x"}, {"r/2", "x"}, {"r/3", "x"}});
  auto txn = this->Begin();
  ASSERT_OK(txn->SnapshotGet("snap"));          // no conflict
  ASSERT_OK(txn->SnapshotGetRange("s/", "s0", 0));
  ASSERT_OK(txn->Set("own", "1"));
  ASSERT_OK(txn->Get("own"));                   // own write: no conflict
  auto r = txn->GetRange("r/", "r0", 1);        // examines r/1 and r/2 only
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
  ASSERT_OK(root.LoadString(fmt::format(
      "[kv]\nbackend = \"rocksdb\"\n[kv.rocksdb]\npath = \"{}/db\"\nsync_wal = false\n"
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

// ---- Child modes -------------------------------------------------------------------------------

Result<std::unique_ptr<Engine>> OpenForChild(const std::vector<std::string>& args, size_t at) {
  const std::string& backend = args.at(at);
  if (backend == "memory") return OpenMemoryEngine();
  if (backend == "rocksdb") return OpenRocksDbEngine(RocksDbEngineOptions{.path = args.at(at + 1)});
  PostgresEngineOptions o;
  o.conninfo = args.at(at + 1);
  o.table = args.at(at + 2);
  return OpenPostgresEngine(o);
}

// kv_test --kv-child <mode> ...: exit status 0 means the child did what the parent expects.
int ChildMain(const std::vector<std::string>& args) {
  const std::string& mode = args.at(0);
  if (mode == "expect-locked") {  // <rocksdb path>: opening must fail
    auto e = OpenRocksDbEngine(RocksDbEngineOptions{.path = args.at(1)});
    if (e.ok()) return 1;
    return e.status().code() == StatusCode::kKvBackendError ? 0 : 2;
  }
  if (mode == "increment") {  // <count> <backend args>: count increments, then check own view
    int count = std::stoi(args.at(1));
    auto engine = OpenForChild(args, 2);
    if (!engine.ok()) {
      fmt::print(stderr, "child open: {}\n", engine.status());
      return 3;
    }
    for (int i = 0; i < count; ++i) {
      Status st = Increment(**engine, "counter");
      if (!st.ok()) {
        fmt::print(stderr, "child increment: {}\n", st);
        return 4;
      }
    }
    if (args.at(2) == "memory") return *ReadCounter(**engine, "counter") == uint64_t(count) ? 0 : 5;
    return 0;
  }
  if (mode == "writer") {  // <rocksdb path>: commit w/<i> forever, report each i after Commit
    auto engine = OpenRocksDbEngine(RocksDbEngineOptions{.path = args.at(1), .sync_wal = true});
    if (!engine.ok()) return 3;
    for (uint32_t i = 0;; ++i) {
      auto txn = (*engine)->Begin();
      if (!txn.ok() || !(*txn)->Set(fmt::format("w/{:08}", i), std::to_string(i)).ok() ||
          !(*txn)->Commit().ok()) {
        return 4;
      }
      if (write(1, &i, sizeof(i)) != static_cast<ssize_t>(sizeof(i))) return 5;
    }
  }
  return 100;
}

}  // namespace
}  // namespace hf3fs::kv

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "--kv-child") {
    return hf3fs::kv::ChildMain(std::vector<std::string>(argv + 2, argv + argc));
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
