// POSIX ACLs over every KV backend: named users and groups limited by the mask, chmod moving the
// mask, validation, who may set them, and inheritance of default ACLs by new files and
// directories (posix_acl_create semantics).
#include "meta/acl.h"

#include "meta/meta_test_util.h"

namespace hf3fs::meta::test {
namespace {

using acl::Entry;

std::string Bytes(std::vector<Entry> entries) { return acl::Serialize(entries); }

const std::string kBobRw = Bytes({{acl::kUserObj, 6, 0},
                                  {acl::kUser, 6, 1001},
                                  {acl::kGroupObj, 4, 0},
                                  {acl::kMask, 6, 0},
                                  {acl::kOther, 0, 0}});

template <typename B>
class AclTest : public MetaTest<B> {
 protected:
  Status SetAcl(const UserInfo& u, std::string path, std::string_view name, std::string value) {
    SetXattrReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_name(std::string(name));
    r.set_value(std::move(value));
    return meta::SetXattr(*this->ctx_, r).status();
  }
  Result<acl::Acl> GetAcl(std::string path, std::string_view name) {
    GetXattrReq r;
    *r.mutable_user() = this->bob_;
    *r.mutable_path() = P(std::move(path));
    r.set_name(std::string(name));
    HF3FS_TRY_ASSIGN(auto rsp, meta::GetXattr(*this->ctx_, r));
    return acl::Parse(rsp.value());
  }
};
TYPED_TEST_SUITE(AclTest, Backends, BackendNames);

TYPED_TEST(AclTest, NamedUserLimitedByMask) {
  ASSERT_OK_META(this->Touch(this->root_, "/f", 0600));
  EXPECT_ERRNO(this->Open(this->bob_, "/f", O_RDWR), EACCES);
  ASSERT_OK_META(this->SetAcl(this->root_, "/f", acl::kAccessXattr, kBobRw));
  EXPECT_EQ(this->Stat(this->root_, "/f")->mode(), 0660u);  // group bits show the mask
  ASSERT_OK_META(this->Open(this->bob_, "/f", O_RDWR));
  EXPECT_ERRNO(this->Open(this->alice_, "/f", O_RDONLY), EACCES);
  ASSERT_OK_META(this->Chmod(this->root_, "/f", 0600));  // chmod moves the mask
  EXPECT_ERRNO(this->Open(this->bob_, "/f", O_RDONLY), EACCES);
  auto got = this->GetAcl("/f", acl::kAccessXattr);
  ASSERT_OK_META(got);
  for (const auto& e : *got) {
    if (e.tag == acl::kMask) {
      EXPECT_EQ(e.perm, 0u);
    }
    if (e.tag == acl::kUser) {
      EXPECT_EQ(e.perm, 6u);  // the named entry itself is unchanged
    }
  }
  ListXattrReq l;
  *l.mutable_user() = this->root_;
  *l.mutable_path() = P("/f");
  EXPECT_EQ(meta::ListXattr(*this->ctx_, l)->names(0), acl::kAccessXattr);
  RemoveXattrReq rm;
  *rm.mutable_user() = this->root_;
  *rm.mutable_path() = P("/f");
  rm.set_name(std::string(acl::kAccessXattr));
  ASSERT_OK_META(meta::RemoveXattr(*this->ctx_, rm));
  EXPECT_ERRNO(this->GetAcl("/f", acl::kAccessXattr), ENODATA);
}

TYPED_TEST(AclTest, MatchingGroupWithoutPermissionDenies) {
  ASSERT_OK_META(this->Touch(this->root_, "/f", 0644));
  // alice is in group 3000, which has nothing; "other" may read, but a matching group decides.
  auto a = Bytes({{acl::kUserObj, 6, 0},
                  {acl::kGroupObj, 4, 0},
                  {acl::kGroup, 0, 3000},
                  {acl::kMask, 4, 0},
                  {acl::kOther, 4, 0}});
  ASSERT_OK_META(this->SetAcl(this->root_, "/f", acl::kAccessXattr, a));
  EXPECT_ERRNO(this->Open(this->alice_, "/f", O_RDONLY), EACCES);
  ASSERT_OK_META(this->Open(this->bob_, "/f", O_RDONLY));  // other
  auto b = Bytes({{acl::kUserObj, 6, 0},
                  {acl::kGroupObj, 0, 0},
                  {acl::kGroup, 6, 3000},
                  {acl::kMask, 6, 0},
                  {acl::kOther, 0, 0}});
  ASSERT_OK_META(this->SetAcl(this->root_, "/f", acl::kAccessXattr, b));
  ASSERT_OK_META(this->Open(this->alice_, "/f", O_RDWR));
  EXPECT_ERRNO(this->Open(this->bob_, "/f", O_RDONLY), EACCES);
}

TYPED_TEST(AclTest, ValidationAndWhoMaySet) {
  ASSERT_OK_META(this->Touch(this->root_, "/f", 0644));
  auto no_mask = Bytes(
      {{acl::kUserObj, 6, 0}, {acl::kUser, 6, 1001}, {acl::kGroupObj, 4, 0}, {acl::kOther, 0, 0}});
  EXPECT_ERRNO(this->SetAcl(this->root_, "/f", acl::kAccessXattr, no_mask), EINVAL);
  EXPECT_ERRNO(this->SetAcl(this->root_, "/f", acl::kAccessXattr, "\x01\x00\x00\x00"), EINVAL);
  EXPECT_ERRNO(this->SetAcl(this->root_, "/f", acl::kAccessXattr, "junk"), EINVAL);
  EXPECT_ERRNO(this->SetAcl(this->bob_, "/f", acl::kAccessXattr, kBobRw), EPERM);
  EXPECT_ERRNO(this->SetAcl(this->root_, "/f", acl::kDefaultXattr, kBobRw), EACCES);
  EXPECT_ERRNO(this->SetAcl(this->root_, "/f", "system.other", kBobRw), EOPNOTSUPP);
  // An ACL that says no more than the mode only changes the mode.
  auto plain = Bytes({{acl::kUserObj, 7, 0}, {acl::kGroupObj, 5, 0}, {acl::kOther, 1, 0}});
  ASSERT_OK_META(this->SetAcl(this->root_, "/f", acl::kAccessXattr, plain));
  EXPECT_EQ(this->Stat(this->root_, "/f")->mode(), 0751u);
  EXPECT_ERRNO(this->GetAcl("/f", acl::kAccessXattr), ENODATA);
}

TYPED_TEST(AclTest, DefaultAclIsInherited) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/d", 0777));
  auto dflt = Bytes({{acl::kUserObj, 7, 0},
                     {acl::kUser, 7, 1001},
                     {acl::kGroupObj, 5, 0},
                     {acl::kMask, 7, 0},
                     {acl::kOther, 0, 0}});
  ASSERT_OK_META(this->SetAcl(this->root_, "/d", acl::kDefaultXattr, dflt));
  auto f = this->Touch(this->alice_, "/d/f", 0666);
  ASSERT_OK_META(f);
  EXPECT_EQ(f->mode(), 0660u);  // owner rw & rwx, mask rw & rwx, other rw & ---
  EXPECT_TRUE(f->acl_default().empty());
  auto facl = this->GetAcl("/d/f", acl::kAccessXattr);
  ASSERT_OK_META(facl);
  EXPECT_EQ(facl->size(), 5u);
  ASSERT_OK_META(this->Open(this->bob_, "/d/f", O_RDWR));  // named user, mask rw
  EXPECT_ERRNO(this->Open(User(1005, 1005), "/d/f", O_RDONLY), EACCES);
  auto sub = this->Mkdir(this->alice_, "/d/sub", 0777);
  ASSERT_OK_META(sub);
  EXPECT_EQ(sub->mode(), 0770u);
  EXPECT_EQ(sub->acl_default(), dflt);  // directories pass the default on
  EXPECT_EQ(this->Touch(this->alice_, "/d/sub/g", 0640)->mode(), 0640u);
}

TYPED_TEST(AclTest, UmaskAppliesOnlyWithoutADefaultAcl) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/plain", 0777));
  ASSERT_OK_META(this->Mkdir(this->root_, "/dacl", 0777));
  ASSERT_OK_META(this->SetAcl(this->root_, "/dacl", acl::kDefaultXattr,
                              Bytes({{acl::kUserObj, 7, 0},
                                     {acl::kGroupObj, 7, 0},
                                     {acl::kOther, 7, 0}})));
  auto create = [&](std::string path) {
    CreateReq r;
    *r.mutable_user() = this->alice_;
    *r.mutable_path() = P(std::move(path));
    r.set_flags(O_CREAT | O_EXCL | O_RDONLY);
    r.set_mode(0666);
    r.set_umask(022);
    return meta::Create(*this->ctx_, r);
  };
  auto plain = create("/plain/f");
  ASSERT_OK_META(plain);
  EXPECT_EQ(plain->inode().mode(), 0644u);  // umask applied
  auto dacl = create("/dacl/f");
  ASSERT_OK_META(dacl);
  EXPECT_EQ(dacl->inode().mode(), 0666u);  // the default ACL replaces the umask
  MkdirReq m;
  *m.mutable_user() = this->alice_;
  *m.mutable_path() = P("/plain/sub");
  m.set_mode(0777);
  m.set_umask(027);
  auto sub = meta::Mkdir(*this->ctx_, m);
  ASSERT_OK_META(sub);
  EXPECT_EQ(sub->inode().mode(), 0750u);
}

TEST(AclFormat, RoundTripsLinuxEncoding) {
  // setfacl -m u:1001:rw- on a 0640 file produces exactly these bytes.
  std::string linux_bytes(
      "\x02\x00\x00\x00"
      "\x01\x00\x06\x00\xff\xff\xff\xff"
      "\x02\x00\x06\x00\xe9\x03\x00\x00"
      "\x04\x00\x04\x00\xff\xff\xff\xff"
      "\x10\x00\x06\x00\xff\xff\xff\xff"
      "\x20\x00\x00\x00\xff\xff\xff\xff",
      44);
  auto parsed = acl::Parse(linux_bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(acl::Serialize(*parsed), linux_bytes);
  EXPECT_EQ(acl::ModeOf(*parsed), 0660u);
  EXPECT_EQ((*parsed)[1].id, 1001u);
}

}  // namespace
}  // namespace hf3fs::meta::test
