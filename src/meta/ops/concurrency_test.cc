// Many threads creating, renaming and removing in the same directories, and racing rmdir against
// creates inside the directory, over every KV backend. At the end the entries present equal the
// successful operations and fsck finds the namespace consistent.
#include <random>
#include <thread>

#include "meta/fsck.h"
#include "meta/meta_test_util.h"
#include "meta/quota.h"

namespace hf3fs::meta::test {
namespace {

template <typename B>
class ConcurrencyTest : public MetaTest<B> {};
TYPED_TEST_SUITE(ConcurrencyTest, Backends, BackendNames);

struct Counts {
  std::atomic<int> creates{0}, unlinks{0}, renames{0}, failures{0};
};

// One worker: random exclusive creates, no-replace renames and unlinks over a few names in three
// shared directories. Every failure must be an expected namespace error.
template <typename T>
void Worker(T* test, int seed, int ops, Counts& counts) {
  std::mt19937 rng(seed);
  auto name = [&] { return fmt::format("/c{}/n{}", rng() % 3, rng() % 8); };
  for (int i = 0; i < ops; ++i) {
    Status st;
    int op = rng() % 3;
    if (op == 0) {
      st = test->Create(test->root_, name(), O_CREAT | O_EXCL | O_RDONLY).status();
      if (st.ok()) ++counts.creates;
    } else if (op == 1) {
      st = test->Rename(test->root_, name(), name(), /*no_replace=*/true);
      if (st.ok()) ++counts.renames;
    } else {
      st = test->Remove(test->root_, name());
      if (st.ok()) ++counts.unlinks;
    }
    int e = st.errno_value();
    if (!st.ok() && e != EEXIST && e != ENOENT && e != EXDEV) {  // EXDEV: in or out of /c0
      ADD_FAILURE() << "unexpected failure: " << st;
      ++counts.failures;
    }
  }
}

TYPED_TEST(ConcurrencyTest, CreatesRenamesUnlinksInSharedDirectories) {
  for (int d = 0; d < 3; ++d) ASSERT_OK_META(this->Mkdir(this->root_, fmt::format("/c{}", d)));
  // /c0 accounts a quota: fsck then checks its usage against what is in it.
  SetQuotaReq q;
  *q.mutable_user() = this->root_;
  *q.mutable_path() = P("/c0");
  q.set_max_inodes(1000);
  ASSERT_OK_META(meta::SetQuota(*this->ctx_, q));
  Counts counts;
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) threads.emplace_back([&, t] { Worker(this, t + 1, 150, counts); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(counts.failures, 0);
  size_t present = 0;
  for (int d = 0; d < 3; ++d) present += this->List(this->root_, fmt::format("/c{}", d))->size();
  EXPECT_EQ(static_cast<int>(present), counts.creates - counts.unlinks);
  EXPECT_GT(counts.creates, 0);
  EXPECT_GT(counts.renames, 0);
  auto report = Fsck(*this->engine_);
  ASSERT_OK_META(report);
  EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
  EXPECT_EQ(report->inodes, 1 + 3 + present + counts.unlinks);  // unlinked files await GC
}

TYPED_TEST(ConcurrencyTest, RmdirRacesCreatesInside) {
  std::atomic<bool> stop{false};
  std::atomic<int> rmdirs{0}, creates{0};
  std::thread remover([&] {
    for (int i = 0; i < 20; ++i) {
      (void)this->Mkdir(this->root_, "/race");
      std::this_thread::sleep_for(std::chrono::milliseconds(3));  // let creators in
      // Retry until the directory is caught empty (creators pause between their files).
      for (int attempt = 0; attempt < 500; ++attempt) {
        Status st = this->Rmdir(this->root_, "/race");
        if (st.ok()) {
          ++rmdirs;
          break;
        }
        if (st.errno_value() != ENOTEMPTY) ADD_FAILURE() << st;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    stop = true;
  });
  std::vector<std::thread> creators;
  for (int t = 0; t < 3; ++t) {
    creators.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        auto path = fmt::format("/race/f{}-{}", t, i);
        if (this->Touch(this->root_, path).ok()) {
          ++creates;
          EXPECT_OK(this->Remove(this->root_, path));
        }
        // Leave the directory empty now and then, so that rmdirs succeed too.
        std::this_thread::sleep_for(std::chrono::milliseconds(2 * (t + 1)));
      }
    });
  }
  remover.join();
  for (auto& t : creators) t.join();
  EXPECT_GT(rmdirs.load(), 0);
  EXPECT_GT(creates.load(), 0);
  auto report = Fsck(*this->engine_);
  ASSERT_OK_META(report);
  EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
}

}  // namespace
}  // namespace hf3fs::meta::test
