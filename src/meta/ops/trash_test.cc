// Remove-to-trash, restore and the trash cleaner over every KV backend.
#include "meta/background/gc.h"
#include "meta/background/trash_cleaner.h"
#include "meta/fsck.h"
#include "meta/meta_test_util.h"
#include "meta/store/meta_store.h"

namespace hf3fs::meta::test {
namespace {

template <typename B>
class TrashTest : public MetaTest<B> {
 protected:
  Status Trash(const UserInfo& u, std::string path, RemoveKind kind = REMOVE_UNLINK) {
    RemoveReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_kind(kind);
    r.set_to_trash(true);
    return meta::Remove(*this->ctx_, r).status();
  }
  std::vector<TrashEntry> TrashList(const UserInfo& u) {
    ListTrashReq r;
    *r.mutable_user() = u;
    auto rsp = meta::ListTrash(*this->ctx_, r);
    HF3FS_CHECK_MSG(rsp.ok(), "list trash: {}", rsp.status());
    return {rsp->entries().begin(), rsp->entries().end()};
  }
  Result<Inode> Restore(const UserInfo& u, uint64_t id) {
    RestoreTrashReq r;
    *r.mutable_user() = u;
    r.set_inode_id(id);
    HF3FS_TRY_ASSIGN(auto rsp, meta::RestoreTrash(*this->ctx_, r));
    return rsp.inode();
  }
  void ExpectClean() {
    auto report = Fsck(*this->engine_);
    ASSERT_OK_META(report);
    EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
  }
};
TYPED_TEST_SUITE(TrashTest, Backends, BackendNames);

TYPED_TEST(TrashTest, RemoveToTrashThenRestore) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/d", 0777));
  auto f = this->Touch(this->alice_, "/d/f");
  ASSERT_OK_META(this->Trash(this->alice_, "/d/f"));
  EXPECT_ERRNO(this->Stat(this->alice_, "/d/f"), ENOENT);
  auto mine = this->Stat(this->alice_, "/.hf3fs-trash/1000");
  ASSERT_OK_META(mine);
  EXPECT_EQ(mine->uid(), 1000u);
  EXPECT_EQ(mine->mode(), 0700u);
  auto listed = this->TrashList(this->alice_);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].original_name(), "f");
  EXPECT_EQ(listed[0].inode_id(), f->id());
  EXPECT_EQ(this->Stat(this->alice_, "/.hf3fs-trash/1000/" + listed[0].trash_name())->id(),
            f->id());
  EXPECT_TRUE(this->TrashList(this->bob_).empty());
  EXPECT_EQ(this->TrashList(this->root_).size(), 1u);
  EXPECT_ERRNO(this->Restore(this->bob_, f->id()), EPERM);
  ASSERT_OK_META(this->Restore(this->alice_, f->id()));
  EXPECT_EQ(this->Stat(this->alice_, "/d/f")->id(), f->id());
  EXPECT_TRUE(this->TrashList(this->alice_).empty());
  EXPECT_ERRNO(this->Restore(this->alice_, f->id()), ENOENT);
  EXPECT_EQ(this->CountKeys(store::kTrashQueuePrefix), 0u);
  this->ExpectClean();
}

TYPED_TEST(TrashTest, RestoreNeedsTheOldPlace) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/d", 0777));
  auto f = this->Touch(this->alice_, "/d/f");
  ASSERT_OK_META(this->Trash(this->alice_, "/d/f"));
  ASSERT_OK_META(this->Touch(this->alice_, "/d/f"));
  EXPECT_ERRNO(this->Restore(this->alice_, f->id()), EEXIST);
  ASSERT_OK_META(this->Remove(this->root_, "/d", REMOVE_RECURSIVE));
  EXPECT_ERRNO(this->Restore(this->alice_, f->id()), ENOENT);
  // A directory moves with everything in it.
  ASSERT_OK_META(this->Chmod(this->root_, "/", 0777));
  ASSERT_OK_META(this->Mkdir(this->alice_, "/.hf3fs-trash/1000/../../t/u", 0755, true));
  ASSERT_OK_META(this->Mkdir(this->root_, "/t/r", 0755));
  EXPECT_ERRNO(this->Trash(this->alice_, "/t/r", REMOVE_RECURSIVE), EACCES);  // r is root's
  ASSERT_OK_META(this->Trash(this->alice_, "/t", REMOVE_RECURSIVE));
  auto t = this->TrashList(this->alice_);
  ASSERT_EQ(t.size(), 2u);
  this->ExpectClean();
  EXPECT_ERRNO(this->Trash(this->alice_, "/.hf3fs-trash/1000", REMOVE_RECURSIVE), EACCES);
  EXPECT_ERRNO(this->Trash(this->root_, "/.hf3fs-trash", REMOVE_RECURSIVE), EBUSY);
}

TYPED_TEST(TrashTest, ExpiredEntriesAreRemovedForReal) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/t/a", 0755, true));
  ASSERT_OK_META(this->Touch(this->root_, "/t/a/f"));
  ASSERT_OK_META(this->Touch(this->root_, "/g"));
  ASSERT_OK_META(this->Link(this->root_, "/g", "/g2"));
  ASSERT_OK_META(this->Trash(this->root_, "/g"));  // other links: plainly unlinked
  ASSERT_OK_META(this->Trash(this->root_, "/t", REMOVE_RECURSIVE));
  EXPECT_EQ(this->TrashList(this->root_).size(), 1u);
  EXPECT_EQ(*CleanTrash(*this->ctx_), 0u);  // not expired yet
  this->now_ns_ += this->ctx_->limits.trash_expiry.count() + 1'000'000'000;
  EXPECT_EQ(*CleanTrash(*this->ctx_), 1u);
  EXPECT_TRUE(this->TrashList(this->root_).empty());
  EXPECT_EQ(*this->List(this->root_, "/.hf3fs-trash/0"), std::vector<std::string>{});
  this->ExpectClean();
  GcOptions gc;
  gc.delay = {};
  for (int i = 0; i < 5; ++i) ASSERT_OK_META(RunGcOnce(*this->ctx_, gc));
  EXPECT_EQ(this->CountKeys(store::kGcPrefix), 0u);
  // root, /g2's file, the trash directory and root's trash directory.
  EXPECT_EQ(this->CountKeys(store::kInodePrefix), 4u);
  this->ExpectClean();
}

}  // namespace
}  // namespace hf3fs::meta::test
