// The KV test suite: one typed suite run unchanged against the memory, RocksDB and PostgreSQL
// backends (kv_test_util.h). PostgreSQL cases start their own throwaway server once per test
// process. Backend-specific cases are in kv_backend_test.cc.
#include "kv/kv_test_util.h"

namespace hf3fs::kv::test {
namespace {

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
  std::vector<std::string> sorted = {"",
                                     std::string("\0", 1),
                                     std::string("\0\0", 2),
                                     "\x01",
                                     "A",
                                     "a",
                                     "ab",
                                     "a\x7f",
                                     "a\x80",
                                     "\x7f",
                                     "\x80",
                                     "\xfe\xff",
                                     "\xff",
                                     std::string("\xff\0", 2),
                                     "\xff\xff"};
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
  ASSERT_OK(txn->Set("a2", "own"));   // overwrite
  ASSERT_OK(txn->Set("a25", "new"));  // insert between
  ASSERT_OK(txn->Clear("a3"));        // delete
  ASSERT_OK(txn->ClearRange("a4", "a6"));
  ASSERT_OK(txn->Set("a45", "back"));  // set inside the cleared range survives
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
  // Incompressible bytes: PostgreSQL must store (and index) the largest key as it is.
  std::string big_key(kMaxKeyBytes, 'k');
  uint64_t x = 88172645463325252ull;
  for (auto& c : big_key) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
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
  for (; added < 10000 && st.ok(); ++added) {
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
    // Let it commit for about half a second (and at least 20 commits, however slow the disk),
    // then kill it mid-stream.
    std::vector<uint32_t> acked;
    uint32_t index = 0;
    auto start = Clock::now();
    while ((acked.size() < 20 || Clock::now() - start < 500ms) && Clock::now() - start < 20s &&
           read(fds[0], &index, sizeof(index)) == static_cast<ssize_t>(sizeof(index))) {
      acked.push_back(index);
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    EXPECT_EQ(WaitChild(pid), 128 + SIGKILL);  // still running: it never stopped committing
    child.pid = -1;
    while (read(fds[0], &index, sizeof(index)) == static_cast<ssize_t>(sizeof(index))) {
      acked.push_back(index);  // acknowledged before the kill, still in the pipe
    }
    close(fds[0]);
    EXPECT_GE(acked.size(), 20u);
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

}  // namespace
}  // namespace hf3fs::kv::test
