// setattr (chmod, chown, utimes, truncate, layout) and extended attributes over every KV backend,
// with Linux's permission rules and errnos.
#include "meta/meta_test_util.h"
#include "meta/store/meta_store.h"

namespace hf3fs::meta::test {
namespace {

template <typename B>
class AttrTest : public MetaTest<B> {
 protected:
  Status SetXattr(const UserInfo& u, std::string path, std::string name, std::string value,
                  uint32_t flags = 0) {
    SetXattrReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_follow(true);
    r.set_name(std::move(name));
    r.set_value(std::move(value));
    r.set_flags(flags);
    return meta::SetXattr(*this->ctx_, r).status();
  }
  Result<std::string> GetXattr(const UserInfo& u, std::string path, std::string name) {
    GetXattrReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_follow(true);
    r.set_name(std::move(name));
    HF3FS_TRY_ASSIGN(auto rsp, meta::GetXattr(*this->ctx_, r));
    return rsp.value();
  }
  Result<std::vector<std::string>> ListXattr(const UserInfo& u, std::string path) {
    ListXattrReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_follow(true);
    HF3FS_TRY_ASSIGN(auto rsp, meta::ListXattr(*this->ctx_, r));
    return std::vector<std::string>(rsp.names().begin(), rsp.names().end());
  }
  Status RemoveXattr(const UserInfo& u, std::string path, std::string name) {
    RemoveXattrReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_follow(true);
    r.set_name(std::move(name));
    return meta::RemoveXattr(*this->ctx_, r).status();
  }
};
TYPED_TEST_SUITE(AttrTest, Backends, BackendNames);

TYPED_TEST(AttrTest, Chmod) {
  ASSERT_OK_META(this->Touch(this->root_, "/f"));
  ASSERT_OK_META(this->Chown(this->root_, "/f", 1000, 1000));
  auto f = this->Chmod(this->alice_, "/f", 04751);
  ASSERT_OK_META(f);
  EXPECT_EQ(f->mode(), 04751u);
  EXPECT_GT(f->ctime_ns(), 0);
  EXPECT_ERRNO(this->Chmod(this->bob_, "/f", 0777), EPERM);
  ASSERT_OK_META(this->Chown(this->root_, "/f", 1000, 5000));
  EXPECT_EQ(this->Chmod(this->alice_, "/f", 02755)->mode(), 0755u);  // not in group 5000
  EXPECT_EQ(this->Chmod(this->root_, "/f", 02755)->mode(), 02755u);
  EXPECT_ERRNO(this->Chmod(this->root_, "/nope", 0), ENOENT);
}

TYPED_TEST(AttrTest, Chown) {
  ASSERT_OK_META(this->Touch(this->root_, "/f", 06755));
  EXPECT_ERRNO(this->Chown(this->alice_, "/f", 1000, std::nullopt), EPERM);
  auto f = this->Chown(this->root_, "/f", 1000, 1000);
  ASSERT_OK_META(f);
  EXPECT_EQ(f->uid(), 1000u);
  EXPECT_EQ(f->mode(), 0755u);  // chown drops setuid, and setgid with group exec
  EXPECT_EQ(this->Chown(this->alice_, "/f", std::nullopt, 3000)->gid(), 3000u);  // member
  EXPECT_ERRNO(this->Chown(this->alice_, "/f", std::nullopt, 5000), EPERM);      // not a member
  EXPECT_ERRNO(this->Chown(this->alice_, "/f", 1001, std::nullopt), EPERM);      // give away
  EXPECT_ERRNO(this->Chown(this->bob_, "/f", std::nullopt, 3000), EPERM);        // not the owner
  ASSERT_OK_META(this->Chown(this->alice_, "/f", 1000, std::nullopt));  // unchanged: allowed
  EXPECT_EQ(this->Mkdir(this->root_, "/d", 06755)->mode(), 0755u);      // mkdir(2) drops them
  ASSERT_OK_META(this->Chmod(this->root_, "/d", 02755));
  EXPECT_EQ(this->Chown(this->root_, "/d", 1000, std::nullopt)->mode(), 02755u);  // dirs keep it
}

TYPED_TEST(AttrTest, Utimes) {
  ASSERT_OK_META(this->Touch(this->root_, "/f", 0666));
  SetAttrReq set;
  set.set_atime(TIME_SET);
  set.set_atime_ns(111);
  set.set_mtime(TIME_SET);
  set.set_mtime_ns(222);
  EXPECT_ERRNO(this->SetAttr(this->alice_, "/f", set), EPERM);  // explicit times: owner only
  auto f = this->SetAttr(this->root_, "/f", set);
  ASSERT_OK_META(f);
  EXPECT_EQ(f->atime_ns(), 111);
  EXPECT_EQ(f->mtime_ns(), 222);
  SetAttrReq now;
  now.set_mtime(TIME_NOW);
  this->now_ns_ = 5'000'000'000'000;
  EXPECT_EQ(this->SetAttr(this->alice_, "/f", now)->mtime_ns(), 5'000'000'000'000);  // writable
  ASSERT_OK_META(this->Chmod(this->root_, "/f", 0644));
  EXPECT_ERRNO(this->SetAttr(this->alice_, "/f", now), EACCES);
  // A time setting outside the enum is refused; it used to set the time it carries without the
  // owner check that TIME_SET gets.
  ASSERT_OK_META(this->Chmod(this->root_, "/f", 0666));
  SetAttrReq odd;
  odd.set_mtime(static_cast<TimeSet>(7));
  odd.set_mtime_ns(333);
  EXPECT_ERRNO(this->SetAttr(this->alice_, "/f", odd), EINVAL);
  EXPECT_EQ(this->Stat(this->root_, "/f")->mtime_ns(), 5'000'000'000'000);
}

// What the kernel sends when a non-owner writes to a setuid/setgid file: the mode with those
// bits cleared. Any writer may drop them (Linux does it with its own privilege); nothing else.
TYPED_TEST(AttrTest, AWriterWhoIsNotTheOwnerMayOnlyClearSetuidAndSetgid) {
  ASSERT_OK_META(this->Touch(this->root_, "/f", 0666));
  ASSERT_OK_META(this->Chmod(this->root_, "/f", 06777));
  EXPECT_ERRNO(this->Chmod(this->alice_, "/f", 06777 & ~0002), EPERM);  // another bit
  EXPECT_ERRNO(this->Chmod(this->alice_, "/f", 0776), EPERM);           // and another bit
  EXPECT_EQ(this->Chmod(this->alice_, "/f", 0777)->mode(), 0777u);
  ASSERT_OK_META(this->Chmod(this->root_, "/f", 06777));
  EXPECT_EQ(this->Chmod(this->alice_, "/f", 02777)->mode(), 02777u);  // setuid alone
  EXPECT_ERRNO(this->Chmod(this->alice_, "/f", 06777), EPERM);        // adding one back
  // Without write permission the bits stay.
  ASSERT_OK_META(this->Chmod(this->root_, "/f", 06755));
  EXPECT_ERRNO(this->Chmod(this->alice_, "/f", 0755), EACCES);
  EXPECT_EQ(this->Stat(this->root_, "/f")->mode(), 06755u);
}

// ftruncate through a descriptor opened for writing needs no write permission at the time of the
// truncate (a file created with mode 0); a path truncate does, and so does a made-up session.
TYPED_TEST(AttrTest, TruncateThroughAWriteSessionNeedsNoWritePermissionNow) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/d", 0777));
  auto created = this->Create(this->alice_, "/d/f", O_CREAT | O_WRONLY, 0);
  ASSERT_OK_META(created);
  ASSERT_NE(created->session_id(), 0u);
  SetAttrReq t;
  t.set_length(10);
  EXPECT_ERRNO(this->SetAttr(this->alice_, "/d/f", t), EACCES);
  t.set_session_id(created->session_id() + 1);
  EXPECT_ERRNO(this->SetAttr(this->alice_, "/d/f", t), EACCES);
  t.set_session_id(created->session_id());
  auto f = this->SetAttr(this->alice_, "/d/f", t);
  ASSERT_OK_META(f);
  EXPECT_EQ(f->length(), 10u);
}

TYPED_TEST(AttrTest, Truncate) {
  ASSERT_OK_META(this->Touch(this->root_, "/f", 0644));
  SetAttrReq t;
  t.set_length(4096);
  auto f = this->SetAttr(this->root_, "/f", t);
  ASSERT_OK_META(f);
  EXPECT_EQ(f->length(), 4096u);
  EXPECT_EQ(f->truncate_version(), 1u);
  EXPECT_ERRNO(this->SetAttr(this->alice_, "/f", t), EACCES);
  ASSERT_OK_META(this->Mkdir(this->root_, "/d"));
  EXPECT_ERRNO(this->SetAttr(this->root_, "/d", t), EISDIR);
}

TYPED_TEST(AttrTest, Layouts) {
  Layout l;
  l.set_chain_table_id(2);
  l.set_chunk_size(4 << 20);
  l.set_stripe_size(8);
  ASSERT_OK_META(this->Mkdir(this->root_, "/d"));
  SetAttrReq r;
  *r.mutable_layout() = l;
  EXPECT_ERRNO(this->SetAttr(this->alice_, "/d", r), EPERM);
  auto d = this->SetAttr(this->root_, "/d", r);
  ASSERT_OK_META(d);
  EXPECT_EQ(d->default_layout().chain_table_id(), 2u);
  auto a = this->Touch(this->root_, "/d/a");
  auto b = this->Touch(this->root_, "/d/b");
  EXPECT_EQ(a->layout().chain_table_id(), 2u);
  EXPECT_EQ(a->layout().stripe_size(), 8u);
  EXPECT_EQ(a->layout().chunk_size(), 4u << 20);
  // Round-robin: consecutive files start one stripe apart.
  EXPECT_EQ(b->layout().first_chain() - a->layout().first_chain(), 8u);
  EXPECT_EQ(this->Mkdir(this->root_, "/d/sub")->default_layout().chain_table_id(), 2u);
  r.mutable_layout()->set_chunk_size(3 << 20);
  EXPECT_ERRNO(this->SetAttr(this->root_, "/d", r), EINVAL);
  r.mutable_layout()->set_chunk_size(1 << 20);
  ASSERT_OK_META(this->SetAttr(this->root_, "/d/a", r));  // an empty file may change layout
  SetAttrReq grow;
  grow.set_length(1);
  ASSERT_OK_META(this->SetAttr(this->root_, "/d/a", grow));
  EXPECT_ERRNO(this->SetAttr(this->root_, "/d/a", r), EINVAL);
}

TYPED_TEST(AttrTest, Xattrs) {
  ASSERT_OK_META(this->Touch(this->root_, "/f", 0644));
  ASSERT_OK_META(this->Chown(this->root_, "/f", 1000, 1000));
  ASSERT_OK_META(this->SetXattr(this->alice_, "/f", "user.a", "1"));
  ASSERT_OK_META(this->SetXattr(this->alice_, "/f", "user.b", std::string("\0\1", 2)));
  EXPECT_EQ(*this->GetXattr(this->bob_, "/f", "user.b"), std::string("\0\1", 2));
  EXPECT_ERRNO(this->SetXattr(this->bob_, "/f", "user.a", "2"), EACCES);
  EXPECT_ERRNO(this->SetXattr(this->alice_, "/f", "user.a", "2", 1 /*XATTR_CREATE*/), EEXIST);
  EXPECT_ERRNO(this->SetXattr(this->alice_, "/f", "user.c", "2", 2 /*XATTR_REPLACE*/), ENODATA);
  ASSERT_OK_META(this->SetXattr(this->alice_, "/f", "user.a", "2", 2));
  EXPECT_EQ(*this->GetXattr(this->alice_, "/f", "user.a"), "2");
  EXPECT_ERRNO(this->GetXattr(this->alice_, "/f", "user.none"), ENODATA);
  EXPECT_ERRNO(this->SetXattr(this->alice_, "/f", "bogus.a", "1"), EOPNOTSUPP);
  EXPECT_ERRNO(this->SetXattr(this->alice_, "/f", "", "1"), ERANGE);
  EXPECT_ERRNO(this->SetXattr(this->alice_, "/f", "user." + std::string(251, 'x'), "1"), ERANGE);
  EXPECT_ERRNO(this->SetXattr(this->alice_, "/f", "user.big", std::string(65537, 'x')), E2BIG);
  EXPECT_ERRNO(this->SetXattr(this->alice_, "/f", "trusted.t", "1"), EPERM);
  ASSERT_OK_META(this->SetXattr(this->root_, "/f", "trusted.t", "1"));
  EXPECT_ERRNO(this->GetXattr(this->alice_, "/f", "trusted.t"), EPERM);
  EXPECT_EQ(*this->ListXattr(this->alice_, "/f"), (std::vector<std::string>{"user.a", "user.b"}));
  EXPECT_EQ(this->ListXattr(this->root_, "/f")->size(), 3u);
  ASSERT_OK_META(this->RemoveXattr(this->alice_, "/f", "user.a"));
  EXPECT_ERRNO(this->RemoveXattr(this->alice_, "/f", "user.a"), ENODATA);
  MknodReq fifo;
  *fifo.mutable_user() = this->root_;
  *fifo.mutable_path() = P("/fifo");
  fifo.set_type(INODE_FIFO);
  fifo.set_mode(0666);
  ASSERT_OK_META(meta::Mknod(*this->ctx_, fifo));
  EXPECT_ERRNO(this->SetXattr(this->root_, "/fifo", "user.a", "1"), EPERM);
  EXPECT_ERRNO(this->GetXattr(this->root_, "/fifo", "user.a"), ENODATA);
  // Removing the file removes its attributes.
  ASSERT_OK_META(this->Symlink(this->root_, "/s", "f"));
  ASSERT_OK_META(this->Mkdir(this->root_, "/d"));
  ASSERT_OK_META(this->SetXattr(this->root_, "/d", "user.x", "1"));
  ASSERT_OK_META(this->Rmdir(this->root_, "/d"));
  EXPECT_EQ(this->CountKeys(store::kXattrPrefix), 2u);  // f's user.b and trusted.t
}

}  // namespace
}  // namespace hf3fs::meta::test
