// stat, create, open/close/sync, mkdir, symlink/readlink, mknod, link, readdir and real path over
// every KV backend: success paths and each error path with the errno Linux returns.
#include "meta/meta_test_util.h"
#include "meta/store/meta_store.h"

namespace hf3fs::meta::test {
namespace {

template <typename B>
class NamespaceTest : public MetaTest<B> {};
TYPED_TEST_SUITE(NamespaceTest, Backends, BackendNames);

TYPED_TEST(NamespaceTest, RootExistsAndInitIsIdempotent) {
  auto root = this->Stat(this->root_, "/");
  ASSERT_OK_META(root);
  EXPECT_EQ(root->id(), 1u);
  EXPECT_EQ(root->type(), INODE_DIRECTORY);
  EXPECT_EQ(root->mode(), 0755u);
  ASSERT_OK_META(InitNamespace(*this->ctx_));
  EXPECT_EQ(this->CountKeys(store::kInodePrefix), 1u);
  EXPECT_EQ(this->Stat(this->root_, "/..")->id(), 1u);
}

TYPED_TEST(NamespaceTest, CreateThenStat) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/d"));
  auto c = this->Create(this->alice_, "d/f", O_CREAT | O_WRONLY, 0640);
  EXPECT_ERRNO(c, EACCES);  // /d is 0755 root
  ASSERT_OK_META(this->Chmod(this->root_, "/d", 0777));
  c = this->Create(this->alice_, "/d/f", O_CREAT | O_WRONLY, 0640);
  ASSERT_OK_META(c);
  EXPECT_TRUE(c->created());
  EXPECT_NE(c->session_id(), 0u);
  auto st = this->Stat(this->bob_, "/d/f");
  ASSERT_OK_META(st);
  EXPECT_EQ(st->id(), c->inode().id());
  EXPECT_GE(st->id(), InodeAllocator::kFirstId);
  EXPECT_EQ(st->type(), INODE_FILE);
  EXPECT_EQ(st->mode(), 0640u);
  EXPECT_EQ(st->uid(), 1000u);
  EXPECT_EQ(st->gid(), 1000u);
  EXPECT_EQ(st->nlink(), 1u);
  EXPECT_EQ(st->layout().chain_table_id(), 1u);  // inherited from the root's default
  EXPECT_EQ(st->layout().stripe_size(), 4u);
  // Relative to a directory inode, and "." / ".." on the way.
  auto d = this->Stat(this->root_, "/d");
  StatReq r;
  *r.mutable_user() = this->bob_;
  *r.mutable_path() = P("./../d/f", d->id());
  r.set_follow(true);
  EXPECT_EQ(meta::Stat(*this->ctx_, r)->inode().id(), st->id());
}

TYPED_TEST(NamespaceTest, CreateFlags) {
  auto first = this->Create(this->root_, "/f", O_CREAT | O_EXCL | O_RDWR);
  ASSERT_OK_META(first);
  EXPECT_ERRNO(this->Create(this->root_, "/f", O_CREAT | O_EXCL | O_RDWR), EEXIST);
  auto again = this->Create(this->root_, "/f", O_CREAT | O_RDONLY);  // opens the existing file
  ASSERT_OK_META(again);
  EXPECT_FALSE(again->created());
  EXPECT_EQ(again->inode().id(), first->inode().id());
  EXPECT_EQ(again->session_id(), 0u);  // read-only: no write session
  EXPECT_ERRNO(this->Create(this->root_, "/nodir/f"), ENOENT);
  EXPECT_ERRNO(this->Create(this->root_, "/f/g"), ENOTDIR);
  EXPECT_ERRNO(this->Create(this->root_, "/"), EISDIR);
  EXPECT_ERRNO(this->Create(this->root_, "/", O_CREAT | O_EXCL), EEXIST);
  EXPECT_ERRNO(this->Create(this->root_, "/newdir/"), EISDIR);  // O_CREAT with a slash
  EXPECT_ERRNO(this->Create(this->root_, "/g/"), EISDIR);
  EXPECT_ERRNO(this->Create(this->root_, "/" + std::string(256, 'x')), ENAMETOOLONG);
  ASSERT_OK_META(this->Create(this->root_, "/" + std::string(255, 'x')));
  ASSERT_OK_META(this->Mkdir(this->root_, "/d"));
  EXPECT_ERRNO(this->Create(this->root_, "/d", O_CREAT | O_WRONLY), EISDIR);
  EXPECT_ERRNO(this->Create(this->root_, "/d", O_CREAT | O_RDONLY), EISDIR);
}

TYPED_TEST(NamespaceTest, TruncateOnOpenBumpsTruncateVersion) {
  auto c = this->Create(this->root_, "/f", O_CREAT | O_WRONLY);
  ASSERT_OK_META(c);
  CloseReq close;
  close.set_inode_id(c->inode().id());
  close.set_session_id(c->session_id());
  close.set_has_length_hint(true);
  close.set_length_hint(5000);
  close.set_mtime_ns(42);
  auto closed = meta::Close(*this->ctx_, close);
  ASSERT_OK_META(closed);
  EXPECT_EQ(closed->inode().length(), 5000u);
  EXPECT_EQ(closed->inode().mtime_ns(), 42);
  EXPECT_ERRNO(meta::Close(*this->ctx_, close), EBADF);  // the session is gone

  auto t = this->Create(this->root_, "/f", O_CREAT | O_WRONLY | O_TRUNC);
  ASSERT_OK_META(t);
  EXPECT_EQ(t->inode().length(), 0u);
  EXPECT_EQ(t->inode().truncate_version(), 1u);
  // A hint made before the truncate is ignored; one made after raises the length.
  CloseReq sync = close;
  sync.set_session_id(t->session_id());
  sync.set_length_hint(9000);
  EXPECT_EQ(meta::Sync(*this->ctx_, sync)->inode().length(), 0u);
  sync.set_truncate_version(1);
  EXPECT_EQ(meta::Sync(*this->ctx_, sync)->inode().length(), 9000u);
  sync.set_length_hint(10);  // never lowers the length
  EXPECT_EQ(meta::Close(*this->ctx_, sync)->inode().length(), 9000u);
  EXPECT_EQ(this->CountKeys(store::kSessionPrefix), 0u);
}

TYPED_TEST(NamespaceTest, WithoutAWriteSessionCloseAndSyncChangeNothing) {
  auto c = this->Create(this->root_, "/f", O_CREAT | O_WRONLY);
  ASSERT_OK_META(c);
  // Session 0 is what a reader (or anyone) has: it may sync and read the length, never set it
  // or the file's times.
  CloseReq forged;
  forged.set_inode_id(c->inode().id());
  forged.set_has_length_hint(true);
  forged.set_length_hint(1ull << 40);
  EXPECT_ERRNO(meta::Sync(*this->ctx_, forged), EBADF);
  EXPECT_ERRNO(meta::Close(*this->ctx_, forged), EBADF);
  CloseReq times;
  times.set_inode_id(c->inode().id());
  times.set_mtime_ns(7);
  EXPECT_ERRNO(meta::Sync(*this->ctx_, times), EBADF);
  CloseReq batch_one = forged;
  CloseBatchReq batch;
  *batch.add_closes() = batch_one;
  batch.mutable_closes(0)->set_query_length(true);  // no storage query in a batch
  EXPECT_ERRNO(meta::CloseBatch(*this->ctx_, batch), EBADF);
  // What the service does for query_length: the hint is the length meta read from storage.
  CloseReq queried = forged;
  queried.set_query_length(true);
  queried.set_length_hint(123);
  EXPECT_EQ(meta::Sync(*this->ctx_, queried)->inode().length(), 123u);
  CloseReq plain;  // a durable sync of a file opened read-only
  plain.set_inode_id(c->inode().id());
  plain.set_durable(true);
  plain.set_query_length(true);
  auto synced = meta::Sync(*this->ctx_, plain);
  ASSERT_OK_META(synced);
  EXPECT_EQ(synced->inode().length(), 123u);
  EXPECT_NE(synced->inode().mtime_ns(), 7);
}

TYPED_TEST(NamespaceTest, OpenChecksModeAndType) {
  ASSERT_OK_META(this->Touch(this->root_, "/f", 0640));
  ASSERT_OK_META(this->Chown(this->root_, "/f", 1000, 3000));
  ASSERT_OK_META(this->Open(this->alice_, "/f", O_RDWR));
  EXPECT_ERRNO(this->Open(this->bob_, "/f", O_RDONLY), EACCES);
  auto carol = User(1002, 1002, {3000});  // in the file's group: read only
  ASSERT_OK_META(this->Open(carol, "/f", O_RDONLY));
  EXPECT_ERRNO(this->Open(carol, "/f", O_WRONLY), EACCES);
  EXPECT_ERRNO(this->Open(carol, "/f", O_RDONLY | O_TRUNC), EACCES);
  ASSERT_OK_META(this->Open(this->root_, "/f", O_RDWR));  // root bypasses read/write bits
  ASSERT_OK_META(this->Mkdir(this->root_, "/d"));
  EXPECT_ERRNO(this->Open(this->root_, "/d", O_WRONLY), EISDIR);
  ASSERT_OK_META(this->Open(this->root_, "/d", O_RDONLY | O_DIRECTORY));
  EXPECT_ERRNO(this->Open(this->root_, "/f", O_RDONLY | O_DIRECTORY), ENOTDIR);
  ASSERT_OK_META(this->Symlink(this->root_, "/l", "f"));
  EXPECT_ERRNO(this->Open(this->root_, "/l", O_RDONLY | O_NOFOLLOW), ELOOP);
  EXPECT_EQ(this->Open(this->root_, "/l", O_RDONLY)->inode().type(), INODE_FILE);
  EXPECT_ERRNO(this->Open(this->root_, "/missing", O_RDONLY), ENOENT);
  EXPECT_ERRNO(this->Open(this->root_, "/f/", O_RDONLY), ENOTDIR);
}

TYPED_TEST(NamespaceTest, Mkdir) {
  auto d = this->Mkdir(this->root_, "/a", 0750);
  ASSERT_OK_META(d);
  EXPECT_EQ(d->type(), INODE_DIRECTORY);
  EXPECT_EQ(d->parent(), 1u);
  EXPECT_EQ(d->name(), "a");
  EXPECT_ERRNO(this->Mkdir(this->root_, "/a"), EEXIST);
  EXPECT_ERRNO(this->Mkdir(this->root_, "/"), EEXIST);
  EXPECT_ERRNO(this->Mkdir(this->root_, "/a/."), EEXIST);
  EXPECT_ERRNO(this->Mkdir(this->root_, "/a/.."), EEXIST);
  EXPECT_ERRNO(this->Mkdir(this->root_, "/x/y"), ENOENT);
  EXPECT_ERRNO(this->Mkdir(this->bob_, "/a/b"), EACCES);
  ASSERT_OK_META(this->Touch(this->root_, "/f"));
  EXPECT_ERRNO(this->Mkdir(this->root_, "/f/b"), ENOTDIR);
  ASSERT_OK_META(this->Mkdir(this->root_, "/a/b/"));  // a trailing slash is fine for mkdir
  auto deep = this->Mkdir(this->root_, "/p/q/r", 0755, /*recursive=*/true);
  ASSERT_OK_META(deep);
  EXPECT_EQ(this->Stat(this->root_, "/p/q/r")->id(), deep->id());
  EXPECT_EQ(this->Mkdir(this->root_, "/p/q/r", 0755, true)->id(), deep->id());  // exists: ok
  EXPECT_ERRNO(this->Mkdir(this->root_, "/f/q", 0755, true), ENOTDIR);
}

TYPED_TEST(NamespaceTest, SetgidDirectoryPassesGroupDown) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/shared", 0777));
  ASSERT_OK_META(this->Chown(this->root_, "/shared", 0, 3000));
  ASSERT_OK_META(this->Chmod(this->root_, "/shared", 02777));
  auto f = this->Touch(this->bob_, "/shared/f", 02755);
  ASSERT_OK_META(f);
  EXPECT_EQ(f->gid(), 3000u);
  EXPECT_EQ(f->mode(), 0755u);  // bob is not in group 3000: setgid dropped
  auto g = this->Touch(this->alice_, "/shared/g", 02755);
  EXPECT_EQ(g->mode(), 02755u);  // alice is (supplementary group)
  auto d = this->Mkdir(this->bob_, "/shared/sub", 0755);
  ASSERT_OK_META(d);
  EXPECT_EQ(d->gid(), 3000u);
  EXPECT_EQ(d->mode(), 02755u);  // subdirectories inherit setgid
}

TYPED_TEST(NamespaceTest, SymlinksAndReadlink) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/dir"));
  ASSERT_OK_META(this->Touch(this->root_, "/dir/f"));
  auto l = this->Symlink(this->root_, "/abs", "/dir");
  ASSERT_OK_META(l);
  EXPECT_EQ(l->type(), INODE_SYMLINK);
  EXPECT_EQ(l->mode(), 0777u);
  EXPECT_EQ(l->length(), 4u);
  ASSERT_OK_META(this->Symlink(this->root_, "/dir/rel", "f"));
  EXPECT_EQ(this->Stat(this->root_, "/abs/rel")->type(), INODE_FILE);  // via two symlinks
  EXPECT_EQ(this->Stat(this->root_, "/abs/rel", false)->type(), INODE_SYMLINK);
  EXPECT_EQ(this->Stat(this->root_, "/abs", false)->type(), INODE_SYMLINK);
  EXPECT_EQ(this->Stat(this->root_, "/abs/")->type(), INODE_DIRECTORY);  // slash follows
  ReadlinkReq rl;
  *rl.mutable_user() = this->root_;
  *rl.mutable_path() = P("/abs");
  EXPECT_EQ(meta::Readlink(*this->ctx_, rl)->target(), "/dir");
  *rl.mutable_path() = P("/dir/f");
  EXPECT_ERRNO(meta::Readlink(*this->ctx_, rl), EINVAL);
  ASSERT_OK_META(this->Symlink(this->root_, "/loop1", "loop2"));
  ASSERT_OK_META(this->Symlink(this->root_, "/loop2", "loop1"));
  EXPECT_ERRNO(this->Stat(this->root_, "/loop1"), ELOOP);
  EXPECT_ERRNO(this->Stat(this->root_, "/loop1/x"), ELOOP);
  ASSERT_OK_META(this->Symlink(this->root_, "/dangling", "/nowhere"));
  EXPECT_ERRNO(this->Stat(this->root_, "/dangling"), ENOENT);
  EXPECT_ERRNO(this->Symlink(this->root_, "/abs", "x"), EEXIST);
  EXPECT_ERRNO(this->Symlink(this->root_, "/empty", ""), ENOENT);
  EXPECT_ERRNO(this->Symlink(this->root_, "/long", std::string(4096, 'a')), ENAMETOOLONG);
  EXPECT_ERRNO(this->Stat(this->root_, "/dir/f/x"), ENOTDIR);
}

TYPED_TEST(NamespaceTest, Mknod) {
  MknodReq r;
  *r.mutable_user() = this->alice_;
  *r.mutable_path() = P("/fifo");
  r.set_type(INODE_FIFO);
  r.set_mode(0600);
  EXPECT_ERRNO(meta::Mknod(*this->ctx_, r), EACCES);  // / is 0755 root
  *r.mutable_user() = this->root_;
  ASSERT_OK_META(meta::Mknod(*this->ctx_, r));
  EXPECT_EQ(this->Stat(this->root_, "/fifo")->type(), INODE_FIFO);
  EXPECT_ERRNO(meta::Mknod(*this->ctx_, r), EEXIST);
  ASSERT_OK_META(this->Chmod(this->root_, "/", 0777));
  *r.mutable_user() = this->alice_;
  *r.mutable_path() = P("/dev");
  r.set_type(INODE_CHAR_DEVICE);
  r.set_rdev(0x0103);
  EXPECT_ERRNO(meta::Mknod(*this->ctx_, r), EPERM);
  *r.mutable_user() = this->root_;
  EXPECT_EQ(meta::Mknod(*this->ctx_, r)->inode().rdev(), 0x0103u);
  *r.mutable_path() = P("/sock");
  r.set_type(INODE_SOCKET);
  ASSERT_OK_META(meta::Mknod(*this->ctx_, r));
  *r.mutable_path() = P("/dir");
  r.set_type(INODE_DIRECTORY);
  EXPECT_ERRNO(meta::Mknod(*this->ctx_, r), EINVAL);
}

TYPED_TEST(NamespaceTest, HardLinks) {
  auto f = this->Touch(this->root_, "/f");
  ASSERT_OK_META(f);
  auto l = this->Link(this->root_, "/f", "/g");
  ASSERT_OK_META(l);
  EXPECT_EQ(l->id(), f->id());
  EXPECT_EQ(l->nlink(), 2u);
  EXPECT_EQ(this->Stat(this->root_, "/f")->nlink(), 2u);
  EXPECT_ERRNO(this->Link(this->root_, "/f", "/g"), EEXIST);
  EXPECT_ERRNO(this->Link(this->root_, "/missing", "/h"), ENOENT);
  ASSERT_OK_META(this->Mkdir(this->root_, "/d"));
  EXPECT_ERRNO(this->Link(this->root_, "/d", "/d2"), EPERM);
  EXPECT_ERRNO(this->Link(this->bob_, "/f", "/d/h"), EACCES);
  ASSERT_OK_META(this->Symlink(this->root_, "/s", "f"));
  EXPECT_EQ(this->Link(this->root_, "/s", "/s2")->type(), INODE_SYMLINK);  // not followed
  ASSERT_OK_META(this->Remove(this->root_, "/f"));
  auto g = this->Stat(this->root_, "/g");
  EXPECT_EQ(g->nlink(), 1u);
  EXPECT_EQ(this->CountKeys(store::kGcPrefix), 0u);  // still linked
}

TYPED_TEST(NamespaceTest, ReaddirPagesWithAttributes) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/d", 0755));
  std::vector<std::string> expected;
  for (int i = 0; i < 25; ++i) {
    expected.push_back(fmt::format("n{:02}", i));
    ASSERT_OK_META(this->Touch(this->root_, "/d/" + expected.back()));
  }
  EXPECT_EQ(*this->List(this->root_, "/d", 7), expected);
  EXPECT_EQ(*this->List(this->root_, "/d"), expected);
  ReaddirReq r;
  *r.mutable_user() = this->bob_;
  *r.mutable_path() = P("/d");
  r.set_limit(3);
  r.set_with_inodes(true);
  auto page = meta::Readdir(*this->ctx_, r);
  ASSERT_OK_META(page);
  ASSERT_EQ(page->entries_size(), 3);
  EXPECT_TRUE(page->has_more());
  EXPECT_EQ(page->entries(0).inode().id(), page->entries(0).inode_id());
  EXPECT_EQ(page->entries(0).type(), INODE_FILE);
  r.set_cursor("n23");
  page = meta::Readdir(*this->ctx_, r);
  ASSERT_EQ(page->entries_size(), 1);
  EXPECT_FALSE(page->has_more());
  // inodes_limit: the whole directory in one page, inodes for the first two entries only.
  r.clear_cursor();
  r.set_limit(100);
  r.set_inodes_limit(2);
  page = meta::Readdir(*this->ctx_, r);
  ASSERT_OK_META(page);
  ASSERT_EQ(page->entries_size(), 25);
  EXPECT_FALSE(page->has_more());
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(page->entries(i).has_inode(), i < 2) << i;
    EXPECT_NE(page->entries(i).inode_id(), 0u);
    EXPECT_EQ(page->entries(i).type(), INODE_FILE);
  }
  EXPECT_EQ(page->entries(1).inode().id(), page->entries(1).inode_id());
  EXPECT_ERRNO(this->List(this->root_, "/d/n00"), ENOTDIR);
  EXPECT_ERRNO(this->List(this->root_, "/nope"), ENOENT);
  ASSERT_OK_META(this->Chmod(this->root_, "/d", 0711));
  EXPECT_ERRNO(this->List(this->bob_, "/d"), EACCES);
  ASSERT_OK_META(this->Stat(this->bob_, "/d/n01"));  // search permission is enough for stat
  ASSERT_OK_META(this->Chmod(this->root_, "/d", 0700));
  EXPECT_ERRNO(this->Stat(this->bob_, "/d/n01"), EACCES);
}

TYPED_TEST(NamespaceTest, RealPath) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/a/b/c", 0755, true));
  ASSERT_OK_META(this->Touch(this->root_, "/a/b/c/f"));
  ASSERT_OK_META(this->Symlink(this->root_, "/link", "a/b"));
  GetRealPathReq r;
  *r.mutable_user() = this->root_;
  *r.mutable_path() = P("/link/c/../c/./f");
  EXPECT_EQ(meta::GetRealPath(*this->ctx_, r)->path(), "/a/b/c/f");
  *r.mutable_path() = P("/link/c/");
  EXPECT_EQ(meta::GetRealPath(*this->ctx_, r)->path(), "/a/b/c");
  *r.mutable_path() = P("/");
  EXPECT_EQ(meta::GetRealPath(*this->ctx_, r)->path(), "/");
  ASSERT_OK_META(this->Rename(this->root_, "/a/b", "/moved"));
  *r.mutable_path() = P("/moved/c/f");
  EXPECT_EQ(meta::GetRealPath(*this->ctx_, r)->path(), "/moved/c/f");
}

TYPED_TEST(NamespaceTest, BatchStat) {
  auto f = this->Touch(this->root_, "/f");
  BatchStatReq r;
  r.add_inode_ids(f->id());
  r.add_inode_ids(999999);
  r.add_inode_ids(1);
  auto rsp = meta::BatchStat(*this->ctx_, r);
  ASSERT_OK_META(rsp);
  ASSERT_EQ(rsp->inodes_size(), 3);
  EXPECT_EQ(rsp->inodes(0).id(), f->id());
  EXPECT_EQ(rsp->inodes(1).id(), 0u);
  EXPECT_EQ(rsp->inodes(2).id(), 1u);
  BatchStatByPathReq p;
  *p.mutable_user() = this->root_;
  *p.add_paths() = P("/f");
  *p.add_paths() = P("/nope");
  *p.add_paths() = P("/f/x");
  auto prsp = meta::BatchStatByPath(*this->ctx_, p);
  ASSERT_OK_META(prsp);
  EXPECT_EQ(prsp->results(0).inode().id(), f->id());
  EXPECT_EQ(prsp->results(1).status_code(), static_cast<uint32_t>(StatusCode::kMetaNotFound));
  EXPECT_EQ(prsp->results(2).status_code(), static_cast<uint32_t>(StatusCode::kMetaNotDirectory));
}

}  // namespace
}  // namespace hf3fs::meta::test
