// unlink, rmdir, recursive remove and rename over every KV backend: success paths, Linux's
// replacement rules and each error path with its errno; idempotent retries by request id.
#include "meta/fsck.h"
#include "meta/meta_test_util.h"
#include "meta/store/meta_store.h"

namespace hf3fs::meta::test {
namespace {

template <typename B>
class RemoveRenameTest : public MetaTest<B> {};
TYPED_TEST_SUITE(RemoveRenameTest, Backends, BackendNames);

TYPED_TEST(RemoveRenameTest, Unlink) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/d", 0777));
  ASSERT_OK_META(this->Touch(this->alice_, "/d/f"));
  ASSERT_OK_META(this->Remove(this->alice_, "/d/f"));
  EXPECT_ERRNO(this->Stat(this->root_, "/d/f"), ENOENT);
  EXPECT_EQ(this->CountKeys(store::kGcPrefix), 1u);  // the file awaits garbage collection
  EXPECT_ERRNO(this->Remove(this->alice_, "/d/f"), ENOENT);
  EXPECT_ERRNO(this->Remove(this->root_, "/d"), EISDIR);
  EXPECT_ERRNO(this->Remove(this->root_, "/d/."), EISDIR);
  EXPECT_ERRNO(this->Remove(this->root_, "/"), EISDIR);
  ASSERT_OK_META(this->Touch(this->root_, "/g"));
  EXPECT_ERRNO(this->Remove(this->root_, "/g/"), ENOTDIR);
  EXPECT_ERRNO(this->Remove(this->alice_, "/g"), EACCES);  // / is 0755 root
  ASSERT_OK_META(this->Symlink(this->root_, "/s", "d"));
  ASSERT_OK_META(this->Remove(this->root_, "/s"));  // removes the link, not its target
  ASSERT_OK_META(this->Stat(this->root_, "/d"));
  EXPECT_EQ(this->CountKeys(store::kGcPrefix), 1u);  // symlinks are deleted at once
}

// Found by fuzz_meta_ops: a kind outside the enum passed every check as "not unlink, not
// rmdir" and removed a non-empty directory without its children.
TYPED_TEST(RemoveRenameTest, UnknownKindIsRefused) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/d", 0777));
  ASSERT_OK_META(this->Touch(this->root_, "/d/f"));
  EXPECT_ERRNO(this->Remove(this->root_, "/d", static_cast<RemoveKind>(73)), EINVAL);
  EXPECT_ERRNO(this->Remove(this->root_, "/d/f", static_cast<RemoveKind>(3)), EINVAL);
  ASSERT_OK_META(this->Stat(this->root_, "/d/f"));
  auto report = Fsck(*this->engine_);
  ASSERT_OK_META(report);
  EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
}

TYPED_TEST(RemoveRenameTest, Rmdir) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/d"));
  ASSERT_OK_META(this->Touch(this->root_, "/d/f"));
  EXPECT_ERRNO(this->Rmdir(this->root_, "/d"), ENOTEMPTY);
  EXPECT_ERRNO(this->Rmdir(this->root_, "/d/f"), ENOTDIR);
  EXPECT_ERRNO(this->Rmdir(this->root_, "/d/."), EINVAL);
  EXPECT_ERRNO(this->Rmdir(this->root_, "/d/.."), ENOTEMPTY);
  EXPECT_ERRNO(this->Rmdir(this->root_, "/"), EBUSY);
  EXPECT_ERRNO(this->Rmdir(this->root_, "/nope"), ENOENT);
  EXPECT_ERRNO(this->Rmdir(this->bob_, "/d"), EACCES);
  ASSERT_OK_META(this->Remove(this->root_, "/d/f"));
  auto d = this->Stat(this->root_, "/d");
  ASSERT_OK_META(this->Rmdir(this->root_, "/d/"));
  EXPECT_ERRNO(this->Stat(this->root_, "/d"), ENOENT);
  StatReq by_id;
  *by_id.mutable_path() = P("", d->id());
  EXPECT_ERRNO(meta::Stat(*this->ctx_, by_id), ENOENT);  // the inode is gone with it
}

TYPED_TEST(RemoveRenameTest, RecursiveRemoveIsOneStep) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/t/a/b", 0755, true));
  for (int i = 0; i < 5; ++i) ASSERT_OK_META(this->Touch(this->root_, fmt::format("/t/a/f{}", i)));
  auto t = this->Stat(this->root_, "/t");
  EXPECT_ERRNO(this->Remove(this->root_, "/t", REMOVE_RMDIR), ENOTEMPTY);
  ASSERT_OK_META(this->Remove(this->root_, "/t", REMOVE_RECURSIVE));
  EXPECT_ERRNO(this->Stat(this->root_, "/t"), ENOENT);
  EXPECT_EQ(this->CountKeys(store::kGcPrefix), 1u);  // one GC entry for the whole tree
  // Nothing can be created in the removed tree through a stale directory handle.
  CreateReq c;
  *c.mutable_user() = this->root_;
  *c.mutable_path() = P("x", t->id());
  c.set_flags(O_CREAT | O_RDONLY);
  EXPECT_ERRNO(meta::Create(*this->ctx_, c), ENOENT);
  ASSERT_OK_META(this->Touch(this->root_, "/f"));
  EXPECT_ERRNO(this->Remove(this->root_, "/f", REMOVE_RECURSIVE), ENOTDIR);
}

TYPED_TEST(RemoveRenameTest, StickyDirectory) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/tmp", 01777));
  ASSERT_OK_META(this->Touch(this->alice_, "/tmp/a"));
  ASSERT_OK_META(this->Touch(this->alice_, "/tmp/a2"));
  EXPECT_ERRNO(this->Remove(this->bob_, "/tmp/a"), EPERM);
  EXPECT_ERRNO(this->Rename(this->bob_, "/tmp/a", "/tmp/b"), EPERM);
  ASSERT_OK_META(this->Touch(this->bob_, "/tmp/b"));
  EXPECT_ERRNO(this->Rename(this->alice_, "/tmp/a", "/tmp/b"), EPERM);  // replacing bob's file
  ASSERT_OK_META(this->Rename(this->alice_, "/tmp/a", "/tmp/c"));
  ASSERT_OK_META(this->Remove(this->alice_, "/tmp/c"));
  ASSERT_OK_META(this->Remove(this->root_, "/tmp/a2"));  // root may
  ASSERT_OK_META(this->Mkdir(this->bob_, "/tmp/bobs", 01777));
  ASSERT_OK_META(this->Touch(this->alice_, "/tmp/bobs/x"));
  ASSERT_OK_META(this->Remove(this->bob_, "/tmp/bobs/x"));  // the directory's owner may
}

TYPED_TEST(RemoveRenameTest, RenameFiles) {
  auto f = this->Touch(this->root_, "/f");
  ASSERT_OK_META(this->Mkdir(this->root_, "/d"));
  ASSERT_OK_META(this->Rename(this->root_, "/f", "/d/g"));
  EXPECT_ERRNO(this->Stat(this->root_, "/f"), ENOENT);
  EXPECT_EQ(this->Stat(this->root_, "/d/g")->id(), f->id());
  auto h = this->Touch(this->root_, "/h");
  ASSERT_OK_META(this->Rename(this->root_, "/d/g", "/h"));  // replaces h
  EXPECT_EQ(this->Stat(this->root_, "/h")->id(), f->id());
  EXPECT_EQ(this->CountKeys(store::kGcPrefix), 1u);  // the replaced file
  ASSERT_OK_META(this->Touch(this->root_, "/k"));
  EXPECT_ERRNO(this->Rename(this->root_, "/h", "/k", /*no_replace=*/true), EEXIST);
  EXPECT_ERRNO(this->Rename(this->root_, "/h", "/d"), EISDIR);
  EXPECT_ERRNO(this->Rename(this->root_, "/nope", "/x"), ENOENT);
  EXPECT_ERRNO(this->Rename(this->root_, "/h", "/nodir/x"), ENOENT);
  EXPECT_ERRNO(this->Rename(this->root_, "/h", "/k/x"), ENOTDIR);
  EXPECT_ERRNO(this->Rename(this->root_, "/h/", "/x"), ENOTDIR);
  EXPECT_ERRNO(this->Rename(this->root_, "/h", "/d/."), EBUSY);
  EXPECT_ERRNO(this->Rename(this->root_, "/", "/x"), EBUSY);
  EXPECT_ERRNO(this->Rename(this->bob_, "/h", "/x"), EACCES);
  // Two links of one inode: a no-op that leaves both.
  ASSERT_OK_META(this->Link(this->root_, "/h", "/h2"));
  ASSERT_OK_META(this->Rename(this->root_, "/h", "/h2"));
  EXPECT_EQ(this->Stat(this->root_, "/h")->nlink(), 2u);
  ASSERT_OK_META(this->Rename(this->root_, "/h", "/h"));
  EXPECT_EQ(*this->List(this->root_, "/"), (std::vector<std::string>{"d", "h", "h2", "k"}));
}

TYPED_TEST(RemoveRenameTest, ExchangeSwapsTwoEntriesAtomically) {
  auto exchange = [&](const UserInfo& u, std::string a, std::string b, bool no_replace = false) {
    RenameReq r;
    *r.mutable_user() = u;
    *r.mutable_src() = P(std::move(a));
    *r.mutable_dst() = P(std::move(b));
    r.set_exchange(true);
    r.set_no_replace(no_replace);
    return meta::Rename(*this->ctx_, r).status();
  };
  ASSERT_OK_META(this->Mkdir(this->root_, "/p", 0777));
  ASSERT_OK_META(this->Mkdir(this->root_, "/q", 0777));
  auto f = this->Touch(this->alice_, "/p/f");
  auto d = this->Mkdir(this->alice_, "/q/d", 0755);
  ASSERT_OK_META(f);
  ASSERT_OK_META(d);
  ASSERT_OK_META(this->Touch(this->alice_, "/q/d/inside"));
  // A file and a directory in different parents trade places.
  ASSERT_OK_META(exchange(this->alice_, "/p/f", "/q/d"));
  EXPECT_EQ(this->Stat(this->root_, "/p/f")->id(), d->id());
  EXPECT_EQ(this->Stat(this->root_, "/q/d")->id(), f->id());
  EXPECT_EQ(this->Stat(this->root_, "/p/f")->parent(), this->Stat(this->root_, "/p")->id());
  ASSERT_OK_META(this->Stat(this->root_, "/p/f/inside"));
  // Errors as Linux: a missing side, both flags, a directory into its own subtree, a trailing
  // slash on a file, no permission.
  EXPECT_ERRNO(exchange(this->alice_, "/p/f", "/q/missing"), ENOENT);
  EXPECT_ERRNO(exchange(this->alice_, "/p/f", "/q/d", true), EINVAL);
  EXPECT_ERRNO(exchange(this->alice_, "/p/f", "/p/f/inside"), EINVAL);
  EXPECT_ERRNO(exchange(this->alice_, "/p/f/", "/q/d/"), ENOTDIR);
  ASSERT_OK_META(this->Touch(this->root_, "/top"));
  EXPECT_ERRNO(exchange(this->alice_, "/top", "/q/d"), EACCES);  // / is 0755 root
  // The same inode on both sides is a no-op.
  ASSERT_OK_META(this->Link(this->alice_, "/q/d", "/q/d2"));
  ASSERT_OK_META(exchange(this->alice_, "/q/d", "/q/d2"));
  auto report = Fsck(*this->engine_);
  ASSERT_OK_META(report);
  EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
}

TYPED_TEST(RemoveRenameTest, RenameDirectories) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/a/b/c", 0755, true));
  ASSERT_OK_META(this->Mkdir(this->root_, "/e"));
  ASSERT_OK_META(this->Touch(this->root_, "/f"));
  EXPECT_ERRNO(this->Rename(this->root_, "/a", "/a/b/c/x"), EINVAL);  // into its own subtree
  EXPECT_ERRNO(this->Rename(this->root_, "/a", "/a/x"), EINVAL);
  EXPECT_ERRNO(this->Rename(this->root_, "/a/b", "/a"), ENOTEMPTY);  // over its ancestor
  EXPECT_ERRNO(this->Rename(this->root_, "/a", "/f"), ENOTDIR);
  EXPECT_ERRNO(this->Rename(this->root_, "/e", "/a"), ENOTEMPTY);
  ASSERT_OK_META(this->Rename(this->root_, "/a/b", "/e"));  // replaces the empty e
  auto b = this->Stat(this->root_, "/e");
  EXPECT_EQ(b->name(), "e");
  EXPECT_EQ(b->parent(), 1u);
  EXPECT_EQ(this->Stat(this->root_, "/e/c/..")->id(), b->id());
  ASSERT_OK_META(this->Rename(this->root_, "/e/c", "/a/c2"));
  EXPECT_EQ(this->Stat(this->root_, "/a/c2/..")->id(), this->Stat(this->root_, "/a")->id());
  // Moving a directory to another parent needs write permission on it (its ".." changes).
  ASSERT_OK_META(this->Chmod(this->root_, "/", 0777));
  ASSERT_OK_META(this->Mkdir(this->alice_, "/mine", 0777));
  ASSERT_OK_META(this->Mkdir(this->root_, "/mine/rootdir", 0755));
  EXPECT_ERRNO(this->Rename(this->alice_, "/mine/rootdir", "/moved"), EACCES);
  ASSERT_OK_META(this->Rename(this->alice_, "/mine/rootdir", "/mine/renamed"));  // same parent
}

TYPED_TEST(RemoveRenameTest, RetriedRequestsApplyOnce) {
  ASSERT_OK_META(this->Touch(this->root_, "/f"));
  RequestIds ids;
  ids.set_client_id(77);
  ids.set_request_id(1);
  ASSERT_OK_META(this->Remove(this->root_, "/f", REMOVE_UNLINK, ids));
  ASSERT_OK_META(this->Remove(this->root_, "/f", REMOVE_UNLINK, ids));  // the stored reply
  ids.set_request_id(2);
  EXPECT_ERRNO(this->Remove(this->root_, "/f", REMOVE_UNLINK, ids), ENOENT);  // a new request

  ASSERT_OK_META(this->Touch(this->root_, "/a"));
  ids.set_request_id(3);
  ASSERT_OK_META(this->Rename(this->root_, "/a", "/b", false, ids));
  ASSERT_OK_META(this->Rename(this->root_, "/a", "/b", false, ids));
  EXPECT_ERRNO(this->Rename(this->root_, "/a", "/b", false, RequestIds()), ENOENT);

  CreateReq c;
  *c.mutable_user() = this->root_;
  *c.mutable_path() = P("/x");
  c.set_flags(O_CREAT | O_EXCL | O_WRONLY);
  ids.set_request_id(4);
  *c.mutable_ids() = ids;
  auto first = meta::Create(*this->ctx_, c);
  ASSERT_OK_META(first);
  auto retry = meta::Create(*this->ctx_, c);
  ASSERT_OK_META(retry);
  EXPECT_EQ(retry->inode().id(), first->inode().id());
  EXPECT_EQ(retry->session_id(), first->session_id());
  // The same ids on another kind of request are refused.
  EXPECT_ERRNO(this->Remove(this->root_, "/x", REMOVE_UNLINK, ids), EINVAL);
}

}  // namespace
}  // namespace hf3fs::meta::test
