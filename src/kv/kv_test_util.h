// Shared machinery of the KV tests: the backends of the typed suite, its fixture, and helpers
// for child processes (which re-execute the test binary: see kv_test_main.cc).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "common/logging.h"
#include "kv/engine.h"
#include "kv/memory/memory_engine.h"
#include "kv/postgres/pg_engine.h"
#include "kv/postgres/pg_test_server.h"
#include "kv/retry.h"
#include "kv/rocksdb/rocksdb_engine.h"

namespace hf3fs::kv::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

#define ASSERT_OK(expr)                                                      \
  do {                                                                       \
    auto&& assert_ok_ = (expr);                                              \
    ASSERT_TRUE(assert_ok_.ok()) << ::hf3fs::internal::ToStatus(assert_ok_); \
  } while (0)
#define EXPECT_OK(expr)                                                      \
  do {                                                                       \
    auto&& expect_ok_ = (expr);                                              \
    EXPECT_TRUE(expect_ok_.ok()) << ::hf3fs::internal::ToStatus(expect_ok_); \
  } while (0)

// ---- Child processes -----------------------------------------------------------------------

// Runs this test binary as `kv_test --kv-child <args...>`, stdout to `stdout_fd` (or inherited).
inline pid_t SpawnChild(const std::vector<std::string>& args, int stdout_fd = -1) {
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

inline int WaitChild(pid_t pid) {
  int wstatus = 0;
  if (waitpid(pid, &wstatus, 0) != pid) return -1;
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

inline Status Increment(Engine& engine, std::string_view key) {
  RetryOptions retry;
  retry.deadline = 60s;
  retry.max_attempts = 100000;
  return RunTransaction(engine, retry, [&](Transaction& txn) -> Status {
    HF3FS_TRY_ASSIGN(auto v, txn.Get(key));
    uint64_t n = v ? std::stoull(*v) : 0;
    return txn.Set(key, std::to_string(n + 1));
  });
}

inline Result<uint64_t> ReadCounter(Engine& engine, std::string_view key) {
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
    return OpenRocksDbEngine(RocksDbEngineOptions{.path = dir.path + "/db"});
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

}  // namespace hf3fs::kv::test
