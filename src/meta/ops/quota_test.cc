// Directory quotas over every KV backend: inode and byte limits with EDQUOT, nested quotas,
// release on unlink, rmdir, truncate and recursive remove (as the GC deletes), EXDEV across quota
// directories, and who may set them.
#include "meta/quota.h"

#include "meta/background/gc.h"
#include "meta/fsck.h"
#include "meta/meta_test_util.h"
#include "meta/store/meta_store.h"

namespace hf3fs::meta::test {
namespace {

template <typename B>
class QuotaTest : public MetaTest<B> {
 protected:
  Status Set(std::string path, uint64_t bytes, uint64_t inodes, UserInfo u = User(0, 0)) {
    SetQuotaReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_max_bytes(bytes);
    r.set_max_inodes(inodes);
    return meta::SetQuota(*this->ctx_, r).status();
  }
  GetQuotaRsp Get(std::string path) {
    GetQuotaReq r;
    *r.mutable_path() = P(std::move(path));
    auto rsp = meta::GetQuota(*this->ctx_, r);
    HF3FS_CHECK_MSG(rsp.ok(), "get quota: {}", rsp.status());
    return *rsp;
  }
  Status Grow(const CreateRsp& c, uint64_t length) {
    CloseReq r;
    r.set_inode_id(c.inode().id());
    r.set_session_id(c.session_id());
    r.set_has_length_hint(true);
    r.set_length_hint(length);
    return meta::Sync(*this->ctx_, r).status();
  }
};
TYPED_TEST_SUITE(QuotaTest, Backends, BackendNames);

TYPED_TEST(QuotaTest, InodeLimit) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/q"));
  EXPECT_ERRNO(this->Set("/q", 0, 3, this->alice_), EPERM);
  ASSERT_OK_META(this->Set("/q", 0, 3));
  ASSERT_OK_META(this->Touch(this->root_, "/q/a"));
  ASSERT_OK_META(this->Mkdir(this->root_, "/q/d"));
  ASSERT_OK_META(this->Symlink(this->root_, "/q/d/s", "x"));
  EXPECT_ERRNO(this->Touch(this->root_, "/q/b"), EDQUOT);
  EXPECT_ERRNO(this->Mkdir(this->root_, "/q/d/e"), EDQUOT);
  EXPECT_EQ(this->Get("/q").used_inodes(), 3);
  ASSERT_OK_META(this->Remove(this->root_, "/q/a"));
  ASSERT_OK_META(this->Touch(this->root_, "/q/b"));      // room again
  ASSERT_OK_META(this->Touch(this->root_, "/outside"));  // not below /q
  EXPECT_ERRNO(this->Set("/", 0, 1), ENOTEMPTY);         // a first quota needs an empty directory
  ASSERT_OK_META(this->Set("/q", 0, 10));                // changing limits is fine
  EXPECT_FALSE(this->Get("/").has_quota());
  auto report = Fsck(*this->engine_);
  ASSERT_OK_META(report);
  EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
}

TYPED_TEST(QuotaTest, ByteLimitNestedQuotasAndRelease) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/q"));
  ASSERT_OK_META(this->Set("/q", 1000, 0));
  ASSERT_OK_META(this->Mkdir(this->root_, "/q/inner"));
  ASSERT_OK_META(this->Set("/q/inner", 600, 0));
  auto f = this->Create(this->root_, "/q/inner/f", O_CREAT | O_WRONLY);
  ASSERT_OK_META(f);
  ASSERT_OK_META(this->Grow(*f, 500));  // written data is accounted, both levels
  EXPECT_EQ(this->Get("/q").used_bytes(), 500);
  EXPECT_EQ(this->Get("/q/inner").used_bytes(), 500);
  SetAttrReq t;
  t.set_length(700);
  EXPECT_ERRNO(this->SetAttr(this->root_, "/q/inner/f", t), EDQUOT);  // inner's 600
  auto g = this->Create(this->root_, "/q/g", O_CREAT | O_WRONLY);
  t.set_length(600);
  EXPECT_ERRNO(this->SetAttr(this->root_, "/q/g", t), EDQUOT);  // outer's 1000
  t.set_length(400);
  ASSERT_OK_META(this->SetAttr(this->root_, "/q/g", t));
  EXPECT_EQ(this->Get("/q").used_bytes(), 900);
  ASSERT_OK_META(this->Create(this->root_, "/q/g", O_WRONLY | O_TRUNC));
  EXPECT_EQ(this->Get("/q").used_bytes(), 500);
  ASSERT_OK_META(this->Remove(this->root_, "/q/inner/f"));
  EXPECT_EQ(this->Get("/q").used_bytes(), 0);
  EXPECT_EQ(this->Get("/q").used_inodes(), 2);  // inner and g
  EXPECT_EQ(this->Get("/q/inner").used_inodes(), 0);
  auto report = Fsck(*this->engine_);
  ASSERT_OK_META(report);
  EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
}

TYPED_TEST(QuotaTest, NoMovesBetweenQuotas) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/q"));
  ASSERT_OK_META(this->Set("/q", 0, 100));
  ASSERT_OK_META(this->Mkdir(this->root_, "/q/sub"));
  ASSERT_OK_META(this->Touch(this->root_, "/q/f"));
  ASSERT_OK_META(this->Touch(this->root_, "/out"));
  EXPECT_ERRNO(this->Rename(this->root_, "/q/f", "/moved"), EXDEV);
  EXPECT_ERRNO(this->Rename(this->root_, "/out", "/q/out"), EXDEV);
  EXPECT_ERRNO(this->Link(this->root_, "/q/f", "/link"), EXDEV);
  ASSERT_OK_META(this->Rename(this->root_, "/q/f", "/q/sub/f"));  // within one quota
  ASSERT_OK_META(this->Link(this->root_, "/q/sub/f", "/q/f2"));
  // fsck notices usage that does not match the inodes charged.
  auto report = Fsck(*this->engine_);
  ASSERT_OK_META(report);
  EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
  auto txn = std::move(*this->engine_->Begin());
  QuotaUsage bogus;
  bogus.set_inodes(1);
  ASSERT_OK_META(txn->Set(store::QuotaUsageKey(InodeId(this->Stat(this->root_, "/q")->id()), 99),
                          bogus.SerializeAsString()));
  ASSERT_OK_META(txn->Commit());
  report = Fsck(*this->engine_);
  ASSERT_OK_META(report);
  EXPECT_EQ(report->problems.size(), 1u);
}

TYPED_TEST(QuotaTest, RecursiveRemoveReleasesAsTheGcDeletes) {
  ASSERT_OK_META(this->Mkdir(this->root_, "/q"));
  ASSERT_OK_META(this->Set("/q", 0, 100));
  ASSERT_OK_META(this->Mkdir(this->root_, "/q/t/u", 0755, true));
  for (int i = 0; i < 4; ++i) ASSERT_OK_META(this->Touch(this->root_, fmt::format("/q/t/u/{}", i)));
  EXPECT_EQ(this->Get("/q").used_inodes(), 6);
  ASSERT_OK_META(this->Remove(this->root_, "/q/t", REMOVE_RECURSIVE));
  EXPECT_EQ(this->Get("/q").used_inodes(), 5);  // the top directory at once
  GcOptions gc;
  gc.delay = {};
  for (int i = 0; i < 5; ++i) ASSERT_OK_META(RunGcOnce(*this->ctx_, gc));
  EXPECT_EQ(this->Get("/q").used_inodes(), 0);
  ASSERT_OK_META(this->Rmdir(this->root_, "/q"));
  auto report = Fsck(*this->engine_);
  ASSERT_OK_META(report);
  EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
}

}  // namespace
}  // namespace hf3fs::meta::test
