// The typed fixture of the meta op tests: one KV backend per instantiation (memory, RocksDB, a
// throwaway PostgreSQL: see kv/kv_test_util.h), a fresh namespace per test, and short helpers
// that build requests.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>

#include "kv/kv_test_util.h"
#include "meta/ops/ops.h"

namespace hf3fs::meta::test {

using kv::test::BackendNames;
using kv::test::Backends;

// Expects `expr` (Status or Result) to fail with errno `err`.
#define EXPECT_ERRNO(expr, err)                                                        \
  do {                                                                                 \
    auto expect_errno_s_ = ::hf3fs::internal::ToStatus(expr);                          \
    EXPECT_EQ(expect_errno_s_.errno_value(), err) << #expr << ": " << expect_errno_s_; \
  } while (0)
#define ASSERT_OK_META(expr)                                                                  \
  do {                                                                                        \
    auto&& assert_ok_ = (expr);                                                               \
    ASSERT_TRUE(assert_ok_.ok()) << #expr << ": " << ::hf3fs::internal::ToStatus(assert_ok_); \
  } while (0)

inline UserInfo User(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {}) {
  UserInfo u;
  u.set_uid(uid);
  u.set_gid(gid);
  for (uint32_t g : groups) u.add_groups(g);
  return u;
}

inline PathAt P(std::string path, uint64_t parent = 0) {
  PathAt p;
  p.set_parent(parent);
  p.set_path(std::move(path));
  return p;
}

template <typename B>
class MetaTest : public ::testing::Test {
 public:  // the helpers are also used by worker threads of the concurrency tests
  static void SetUpTestSuite() { B::SetUpSuite(); }
  static void TearDownTestSuite() { B::TearDownSuite(); }

  void SetUp() override {
    auto e = backend_.Open();
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
    retry_.deadline = std::chrono::seconds(30);
    retry_.max_attempts = 10000;
    inodes_ = std::make_unique<InodeAllocator>(*engine_, retry_);
    ctx_ = std::make_unique<OpContext>(OpContext{*engine_,
                                                 retry_,
                                                 *inodes_,
                                                 chains_,
                                                 {},
                                                 [this] { return now_ns_.load(); },
                                                 &RandomSessionId,
                                                 RootLayout()});
    ASSERT_OK_META(InitNamespace(*ctx_));
  }
  void TearDown() override {
    ctx_.reset();
    inodes_.reset();
    engine_.reset();
  }

  static Layout RootLayout() {
    Layout l;
    l.set_chain_table_id(1);
    l.set_chain_table_version(1);
    l.set_chunk_size(1 << 20);
    l.set_stripe_size(4);
    return l;
  }

  const UserInfo root_ = User(0, 0);
  const UserInfo alice_ = User(1000, 1000, {3000});
  const UserInfo bob_ = User(1001, 1001);

  Result<Inode> Mkdir(const UserInfo& u, std::string path, uint32_t mode = 0755,
                      bool recursive = false) {
    MkdirReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_mode(mode);
    r.set_recursive(recursive);
    HF3FS_TRY_ASSIGN(auto rsp, meta::Mkdir(*ctx_, r));
    return rsp.inode();
  }
  Result<CreateRsp> Create(const UserInfo& u, std::string path, uint32_t flags = O_CREAT | O_WRONLY,
                           uint32_t mode = 0644) {
    CreateReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_flags(flags);
    r.set_mode(mode);
    return meta::Create(*ctx_, r);
  }
  Result<Inode> Touch(const UserInfo& u, std::string path, uint32_t mode = 0644) {
    HF3FS_TRY_ASSIGN(auto rsp, Create(u, std::move(path), O_CREAT | O_RDONLY, mode));
    return rsp.inode();
  }
  Result<Inode> Stat(const UserInfo& u, std::string path, bool follow = true) {
    StatReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_follow(follow);
    HF3FS_TRY_ASSIGN(auto rsp, meta::Stat(*ctx_, r));
    return rsp.inode();
  }
  Result<OpenRsp> Open(const UserInfo& u, std::string path, uint32_t flags) {
    OpenReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_flags(flags);
    r.set_client_id(7);
    return meta::Open(*ctx_, r);
  }
  Status Remove(const UserInfo& u, std::string path, RemoveKind kind = REMOVE_UNLINK,
                RequestIds ids = {}) {
    RemoveReq r;
    *r.mutable_user() = u;
    *r.mutable_ids() = ids;
    *r.mutable_path() = P(std::move(path));
    r.set_kind(kind);
    return meta::Remove(*ctx_, r).status();
  }
  Status Rmdir(const UserInfo& u, std::string path) { return Remove(u, path, REMOVE_RMDIR); }
  Status Rename(const UserInfo& u, std::string src, std::string dst, bool no_replace = false,
                RequestIds ids = {}) {
    RenameReq r;
    *r.mutable_user() = u;
    *r.mutable_ids() = ids;
    *r.mutable_src() = P(std::move(src));
    *r.mutable_dst() = P(std::move(dst));
    r.set_no_replace(no_replace);
    return meta::Rename(*ctx_, r).status();
  }
  Result<Inode> Symlink(const UserInfo& u, std::string path, std::string target) {
    SymlinkReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_target(std::move(target));
    HF3FS_TRY_ASSIGN(auto rsp, meta::Symlink(*ctx_, r));
    return rsp.inode();
  }
  Result<Inode> Link(const UserInfo& u, std::string from, std::string to) {
    LinkReq r;
    *r.mutable_user() = u;
    *r.mutable_old_path() = P(std::move(from));
    *r.mutable_new_path() = P(std::move(to));
    HF3FS_TRY_ASSIGN(auto rsp, meta::Link(*ctx_, r));
    return rsp.inode();
  }
  // Every name in a directory, read page by page with `page` entries per page.
  Result<std::vector<std::string>> List(const UserInfo& u, std::string path, uint32_t page = 0) {
    std::vector<std::string> names;
    ReaddirReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_limit(page);
    while (true) {
      HF3FS_TRY_ASSIGN(auto rsp, meta::Readdir(*ctx_, r));
      for (const auto& e : rsp.entries()) names.push_back(e.name());
      if (!rsp.has_more()) return names;
      r.set_cursor(names.back());
    }
  }
  Result<Inode> SetAttr(const UserInfo& u, std::string path, const SetAttrReq& base) {
    SetAttrReq r = base;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_follow(true);
    HF3FS_TRY_ASSIGN(auto rsp, meta::SetAttr(*ctx_, r));
    return rsp.inode();
  }
  Result<Inode> Chmod(const UserInfo& u, std::string path, uint32_t mode) {
    SetAttrReq r;
    r.set_mode(mode);
    return SetAttr(u, std::move(path), r);
  }
  Result<Inode> Chown(const UserInfo& u, std::string path, std::optional<uint32_t> uid,
                      std::optional<uint32_t> gid) {
    SetAttrReq r;
    if (uid) r.set_uid(*uid);
    if (gid) r.set_gid(*gid);
    return SetAttr(u, std::move(path), r);
  }
  Status Xattr(const UserInfo& u, std::string path, std::string name, std::string value) {
    SetXattrReq r;
    *r.mutable_user() = u;
    *r.mutable_path() = P(std::move(path));
    r.set_name(std::move(name));
    r.set_value(std::move(value));
    return meta::SetXattr(*ctx_, r).status();
  }
  // Number of keys with `prefix` in the store.
  size_t CountKeys(std::string_view prefix) {
    auto txn = std::move(*engine_->Begin());
    auto r = txn->GetRange(prefix, kv::PrefixEnd(prefix), 0);
    HF3FS_CHECK_MSG(r.ok(), "GetRange: {}", r.status());
    return r->kvs.size();
  }

  B backend_;
  std::unique_ptr<kv::Engine> engine_;
  kv::RetryOptions retry_;
  std::unique_ptr<InodeAllocator> inodes_;
  ChainAllocator chains_;
  std::atomic<int64_t> now_ns_{1'000'000'000'000};
  std::unique_ptr<OpContext> ctx_;
};

}  // namespace hf3fs::meta::test
