// Garbage collection over every KV backend: the delay, open write sessions, files whose chunks
// need a remover, and recursive removal of a whole tree.
#include "meta/background/gc.h"

#include <set>

#include "meta/background/prune.h"
#include "meta/fsck.h"
#include "meta/meta_test_util.h"
#include "meta/store/meta_store.h"

namespace hf3fs::meta::test {
namespace {

template <typename B>
class GcTest : public MetaTest<B> {
 protected:
  GcStats Gc(std::chrono::nanoseconds delay = {}) {
    GcOptions o;
    o.delay = delay;
    o.dir_batch = 3;
    auto s = RunGcOnce(*this->ctx_, o);
    HF3FS_CHECK_MSG(s.ok(), "gc: {}", s.status());
    return *s;
  }
  void ExpectClean() {
    auto report = Fsck(*this->engine_);
    ASSERT_OK_META(report);
    EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
  }
};
TYPED_TEST_SUITE(GcTest, Backends, BackendNames);

TYPED_TEST(GcTest, DeletesAfterTheDelayOnly) {
  auto f = this->Touch(this->root_, "/f");
  ASSERT_OK_META(this->Remove(this->root_, "/f"));
  auto s = this->Gc(std::chrono::seconds(10));
  EXPECT_EQ(s.pending, 1u);
  EXPECT_EQ(s.deleted, 0u);
  this->now_ns_ += 11'000'000'000;
  s = this->Gc(std::chrono::seconds(10));
  EXPECT_EQ(s.deleted, 1u);
  EXPECT_EQ(this->CountKeys(store::kGcPrefix), 0u);
  EXPECT_EQ(this->CountKeys(store::kInodePrefix), 1u);  // only the root
  this->ExpectClean();
}

TYPED_TEST(GcTest, OpenWriteSessionKeepsTheFile) {
  auto c = this->Create(this->root_, "/f", O_CREAT | O_WRONLY);
  ASSERT_OK_META(c);
  ASSERT_OK_META(this->Remove(this->root_, "/f"));
  EXPECT_EQ(this->Gc().skipped, 1u);
  StatReq by_id;
  *by_id.mutable_path() = P("", c->inode().id());
  EXPECT_EQ(meta::Stat(*this->ctx_, by_id)->inode().nlink(), 0u);  // still readable by id
  CloseReq close;
  close.set_inode_id(c->inode().id());
  close.set_session_id(c->session_id());
  ASSERT_OK_META(meta::Close(*this->ctx_, close));
  EXPECT_EQ(this->Gc().deleted, 1u);
  EXPECT_ERRNO(meta::Stat(*this->ctx_, by_id), ENOENT);
  this->ExpectClean();
}

TYPED_TEST(GcTest, FilesWithChunksWaitForAChunkRemover) {
  auto c = this->Create(this->root_, "/f", O_CREAT | O_WRONLY);
  CloseReq close;
  close.set_inode_id(c->inode().id());
  close.set_session_id(c->session_id());
  close.set_has_length_hint(true);
  close.set_length_hint(100);
  ASSERT_OK_META(meta::Close(*this->ctx_, close));
  ASSERT_OK_META(this->Remove(this->root_, "/f"));
  EXPECT_EQ(this->Gc().skipped, 1u);  // no remover configured: never forget chunks
  EXPECT_EQ(this->CountKeys(store::kGcPrefix), 1u);
  this->ExpectClean();
}

TYPED_TEST(GcTest, RecursiveRemoveOfATree) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/t/a/b", 0755, true));
  for (int i = 0; i < 7; ++i) {
    ASSERT_OK_META(this->Touch(this->root_, fmt::format("/t/a/f{}", i)));
    ASSERT_OK_META(this->Touch(this->root_, fmt::format("/t/a/b/g{}", i)));
  }
  ASSERT_OK_META(this->Touch(this->root_, "/keep"));
  ASSERT_OK_META(this->Link(this->root_, "/t/a/f0", "/keep2"));  // survives: one link left
  ASSERT_OK_META(this->Xattr(this->root_, "/t/a", "user.x", "1"));
  ASSERT_OK_META(this->Remove(this->root_, "/t", REMOVE_RECURSIVE));
  this->ExpectClean();
  for (int pass = 0; pass < 10 && this->CountKeys(store::kGcPrefix) > 0; ++pass) this->Gc();
  EXPECT_EQ(this->CountKeys(store::kGcPrefix), 0u);
  EXPECT_EQ(this->CountKeys(store::kInodePrefix), 3u);  // root, keep, keep2's file
  EXPECT_EQ(this->CountKeys(store::kEntryPrefix), 2u);
  EXPECT_EQ(this->CountKeys(store::kXattrPrefix), 0u);
  EXPECT_EQ(this->Stat(this->root_, "/keep2")->nlink(), 1u);
  this->ExpectClean();
  EXPECT_EQ(*GcQueueLength(*this->ctx_), 0u);
}

}  // namespace
}  // namespace hf3fs::meta::test

namespace hf3fs::meta::test {
namespace {

TYPED_TEST(GcTest, SessionsOfDeadClientsArePruned) {
  OpenReq o;
  *o.mutable_user() = this->root_;
  *o.mutable_path() = P("/f");
  ASSERT_OK_META(this->Touch(this->root_, "/f"));
  o.set_flags(O_WRONLY);
  o.set_client_id(1);
  ASSERT_OK_META(meta::Open(*this->ctx_, o));
  o.set_client_id(2);
  ASSERT_OK_META(meta::Open(*this->ctx_, o));
  ASSERT_OK_META(this->Remove(this->root_, "/f"));
  EXPECT_EQ(this->Gc().skipped, 1u);
  // Client 1 is alive, client 2 is not; a session opened after the list was taken is kept.
  EXPECT_EQ(*PruneWriteSessions(*this->ctx_, {1}, this->now_ns_ - 1, 1), 0u);
  EXPECT_EQ(*PruneWriteSessions(*this->ctx_, {1}, this->now_ns_ + 1, 1), 1u);
  EXPECT_EQ(this->CountKeys(store::kSessionPrefix), 1u);
  EXPECT_EQ(this->Gc().skipped, 1u);
  EXPECT_EQ(*PruneWriteSessions(*this->ctx_, {}, this->now_ns_ + 1), 1u);
  EXPECT_EQ(this->Gc().deleted, 1u);
  this->ExpectClean();
}

TYPED_TEST(GcTest, FlockExcludesOtherOwnersAndDeadClientsLocksArePruned) {
  // docs/design/0012-cluster-locks.md: owners are (client, lock owner); shared locks coexist, an
  // exclusive lock excludes every other owner both ways; the owner converts its own lock.
  ASSERT_OK_META(this->Touch(this->root_, "/l"));
  uint64_t ino = this->Stat(this->root_, "/l")->id();
  auto lock = [&](uint64_t client, uint64_t owner, FlockOp op) {
    FlockReq r;
    r.set_inode_id(ino);
    r.set_client_id(client);
    r.set_owner(owner);
    r.set_op(op);
    return meta::Flock(*this->ctx_, r).status();
  };
  ASSERT_TRUE(lock(1, 10, FLOCK_SHARED).ok());
  ASSERT_TRUE(lock(2, 10, FLOCK_SHARED).ok());  // another mount, same kernel owner value
  EXPECT_ERRNO(lock(2, 11, FLOCK_EXCLUSIVE), EWOULDBLOCK);
  EXPECT_ERRNO(lock(1, 10, FLOCK_EXCLUSIVE), EWOULDBLOCK);  // conversion blocked by 2/10
  ASSERT_TRUE(lock(2, 10, FLOCK_UNLOCK).ok());
  ASSERT_TRUE(lock(1, 10, FLOCK_EXCLUSIVE).ok());        // now alone: converted
  EXPECT_ERRNO(lock(1, 11, FLOCK_SHARED), EWOULDBLOCK);  // another owner of the same mount
  EXPECT_ERRNO(lock(2, 10, FLOCK_SHARED), EWOULDBLOCK);
  EXPECT_EQ(this->CountKeys(store::kLockPrefix), 1u);
  ASSERT_TRUE(lock(1, 10, FLOCK_SHARED).ok());  // converted back
  ASSERT_TRUE(lock(2, 10, FLOCK_SHARED).ok());
  ASSERT_TRUE(lock(3, 5, FLOCK_UNLOCK).ok());  // unlocking what is not held is fine
  EXPECT_ERRNO(lock(3, 5, FlockOp(9)), EINVAL);
  EXPECT_ERRNO(lock(0, 5, FLOCK_SHARED), EINVAL);
  // Client 1 is alive, 2 is not; a lock taken after the live list was read is kept.
  EXPECT_EQ(*PruneLocks(*this->ctx_, {1}, this->now_ns_ - 1), 0u);
  EXPECT_EQ(*PruneLocks(*this->ctx_, {1}, this->now_ns_ + 1), 1u);
  EXPECT_EQ(this->CountKeys(store::kLockPrefix), 1u);
  EXPECT_ERRNO(lock(2, 10, FLOCK_EXCLUSIVE), EWOULDBLOCK);  // 1's shared lock stays
  ASSERT_TRUE(lock(1, 10, FLOCK_UNLOCK).ok());
  ASSERT_TRUE(lock(2, 10, FLOCK_EXCLUSIVE).ok());
}

TYPED_TEST(GcTest, OldIdempotencyRecordsArePruned) {
  RequestIds ids;
  ids.set_client_id(9);
  for (int i = 0; i < 5; ++i) {
    ids.set_request_id(i);
    ASSERT_OK_META(this->Mkdir(this->root_, fmt::format("/d{}", i)));
    ASSERT_OK_META(this->Remove(this->root_, fmt::format("/d{}", i), REMOVE_RMDIR, ids));
  }
  EXPECT_EQ(this->CountKeys(store::kIdempotencyPrefix), 5u);
  EXPECT_EQ(*PruneIdempotencyRecords(*this->ctx_, this->now_ns_, 2), 0u);
  EXPECT_EQ(*PruneIdempotencyRecords(*this->ctx_, this->now_ns_ + 1, 2), 5u);
  EXPECT_EQ(this->CountKeys(store::kIdempotencyPrefix), 0u);
}

TYPED_TEST(GcTest, RemoverClearsEveryFileWithALayoutButNotWhileASessionIsOpen) {
  std::vector<uint64_t> removed;
  GcOptions o;
  o.delay = {};
  o.remove_chunks = [&](const Inode& i) {
    removed.push_back(i.id());
    return Status::Ok();
  };
  auto busy = this->Create(this->root_, "/busy", O_CREAT | O_WRONLY);
  auto empty = this->Touch(this->root_, "/empty");  // length 0: chunks may exist all the same
  ASSERT_OK_META(busy);
  ASSERT_OK_META(empty);
  ASSERT_OK_META(this->Remove(this->root_, "/busy"));
  ASSERT_OK_META(this->Remove(this->root_, "/empty"));
  auto s = RunGcOnce(*this->ctx_, o);
  ASSERT_OK_META(s);
  EXPECT_EQ(s->deleted, 1u);
  EXPECT_EQ(s->skipped, 1u);
  EXPECT_EQ(removed, std::vector<uint64_t>{empty->id()});
  // A failing remover keeps the file queued.
  CloseReq close;
  close.set_inode_id(busy->inode().id());
  close.set_session_id(busy->session_id());
  ASSERT_OK_META(meta::Close(*this->ctx_, close));
  o.remove_chunks = [](const Inode&) { return Status(StatusCode::kTimeout, "storage down"); };
  EXPECT_FALSE(RunGcOnce(*this->ctx_, o).ok());
  EXPECT_EQ(this->CountKeys(store::kGcPrefix), 1u);
  o.remove_chunks = [&](const Inode& i) {
    removed.push_back(i.id());
    return Status::Ok();
  };
  EXPECT_EQ(RunGcOnce(*this->ctx_, o)->deleted, 1u);
  EXPECT_EQ(removed.back(), busy->inode().id());
  this->ExpectClean();
}

TYPED_TEST(GcTest, StaleSessionsAreFoundPerInodeBeforePruning) {
  ASSERT_OK_META(this->Touch(this->root_, "/f"));
  ASSERT_OK_META(this->Touch(this->root_, "/g"));
  OpenReq o;
  *o.mutable_user() = this->root_;
  o.set_flags(O_WRONLY);
  std::vector<std::pair<std::string, uint64_t>> opens = {{"/f", 2}, {"/f", 2}, {"/g", 1}, {"/g", 3}};
  for (const auto& [path, client] : opens) {
    *o.mutable_path() = P(path);
    o.set_client_id(client);
    ASSERT_OK_META(meta::Open(*this->ctx_, o));
  }
  auto stale = FindStaleWriteSessions(*this->ctx_, {1}, this->now_ns_ + 1);
  ASSERT_OK_META(stale);
  std::set<uint64_t> ids;
  for (auto id : *stale) ids.insert(id.value());
  EXPECT_EQ(stale->size(), 2u);  // /f once (two sessions), /g for client 3
  EXPECT_EQ(ids, (std::set<uint64_t>{this->Stat(this->root_, "/f")->id(),
                                     this->Stat(this->root_, "/g")->id()}));
  EXPECT_EQ(this->CountKeys(store::kSessionPrefix), 4u);  // nothing changed
  EXPECT_TRUE(FindStaleWriteSessions(*this->ctx_, {1, 2, 3}, this->now_ns_ + 1)->empty());
}

TYPED_TEST(GcTest, PlanTruncateNamesOnlyFilesAWriterMayCut) {
  ASSERT_OK_META(this->Touch(this->root_, "/f", 0644));
  SetAttrReq grow;
  grow.set_length(5 << 20);
  ASSERT_OK_META(this->SetAttr(this->root_, "/f", grow));
  auto plan = [&](const UserInfo& u, std::string path, uint64_t len) {
    auto r = PlanTruncate(*this->ctx_, u, P(std::move(path)), true, len);
    HF3FS_CHECK_MSG(r.ok(), "plan: {}", r.status());
    return r->has_value();
  };
  EXPECT_TRUE(plan(this->root_, "/f", 100));
  EXPECT_FALSE(plan(this->alice_, "/f", 100));       // no write permission: the op says EACCES
  EXPECT_FALSE(plan(this->root_, "/f", 5 << 20));    // not shorter, no writer
  EXPECT_FALSE(plan(this->root_, "/f", 6 << 20));
  EXPECT_FALSE(plan(this->root_, "/nope", 0));       // the op reports ENOENT (or creates)
  ASSERT_OK_META(this->Mkdir(this->root_, "/d"));
  EXPECT_FALSE(plan(this->root_, "/d", 0));
  ASSERT_OK_META(this->Open(this->root_, "/f", O_WRONLY));
  EXPECT_TRUE(plan(this->root_, "/f", 6 << 20));  // an open writer may have stored more
}

}  // namespace
}  // namespace hf3fs::meta::test

namespace hf3fs::meta::test {
namespace {

// Admin replies stay bounded on a long queue or a damaged namespace: the GC queue is counted in
// pages (more than one here), and fsck lists the first 1000 problems with their total.
TYPED_TEST(GcTest, QueueLengthAndFsckRepliesAreBounded) {
  constexpr uint64_t kQueued = 5000, kOrphanSessions = 1200;
  {
    auto txn = std::move(*this->engine_->Begin());
    for (uint64_t i = 0; i < kQueued; ++i) {
      ASSERT_TRUE(txn->Set(store::GcKey(1000 + i, InodeId(1'000'000 + i)), "").ok());
    }
    for (uint64_t i = 0; i < kOrphanSessions; ++i) {
      ASSERT_TRUE(txn->Set(store::SessionKey(InodeId(2'000'000 + i), 1), "").ok());
    }
    ASSERT_OK_META(txn->Commit());
  }
  EXPECT_EQ(*GcQueueLength(*this->ctx_), kQueued);
  auto rsp = FsckOp(*this->ctx_, FsckReq());
  ASSERT_OK_META(rsp);
  EXPECT_EQ(rsp->problems_size(), 1000);
  EXPECT_EQ(rsp->problems_total(), kOrphanSessions);
  EXPECT_EQ(rsp->gc_entries(), kQueued);
}

}  // namespace
}  // namespace hf3fs::meta::test
