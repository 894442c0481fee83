#include "meta/ops/common.h"

#include <chrono>
#include <random>

#include "meta/acl.h"
#include "meta/permission.h"
#include "meta/quota.h"

namespace hf3fs::meta {

int64_t WallClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t RandomSessionId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t id;
  do {
    id = rng();
  } while (id == 0);
  return id;
}

Status InitNamespace(OpContext& ctx) {
  HF3FS_TRY(ValidateLayout(ctx.root_layout));
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Status {
    HF3FS_TRY_ASSIGN(auto root, store::GetInode(txn, kRootInodeId));
    if (root) return Status::Ok();
    Inode r;
    r.set_id(kRootInodeId.value());
    r.set_type(INODE_DIRECTORY);
    r.set_mode(0755);
    r.set_nlink(1);
    int64_t now = ctx.now_ns();
    r.set_atime_ns(now);
    r.set_mtime_ns(now);
    r.set_ctime_ns(now);
    r.set_parent(kRootInodeId.value());
    *r.mutable_default_layout() = ctx.root_layout;
    return store::PutInode(txn, r);
  });
}

Inode NewInode(OpContext& ctx, InodeId id, InodeType type, uint32_t mode, const UserInfo& user,
               const Inode& dir, uint32_t umask) {
  Inode n;
  n.set_id(id.value());
  n.set_type(type);
  mode &= 07777;
  if (dir.acl_default().empty()) mode &= ~(umask & 0777);
  n.set_uid(user.uid());
  n.set_gid(user.gid());
  if (dir.mode() & kSetGid) {
    n.set_gid(dir.gid());
    if (type == INODE_DIRECTORY) mode |= kSetGid;
  }
  if (type != INODE_DIRECTORY && (mode & kSetGid) && !InGroup(user, n.gid()) && !IsRoot(user)) {
    mode &= ~kSetGid;
  }
  n.set_mode(mode);
  acl::Inherit(dir.acl_default(), n);
  for (uint64_t q : quota::DirsForChild(dir)) n.add_quota_dirs(q);
  n.set_nlink(1);
  int64_t now = ctx.now_ns();
  n.set_atime_ns(now);
  n.set_mtime_ns(now);
  n.set_ctime_ns(now);
  return n;
}

Status CheckCanAddEntry(const UserInfo& user, const ParentLookup& p) {
  if (p.kind != LastKind::kNormal || p.entry) {
    return MakeStatus(StatusCode::kMetaExists, "'{}' exists in {}", p.name, p.dir.id());
  }
  if (p.dir.nlink() == 0) {
    return MakeStatus(StatusCode::kMetaNotFound, "directory {} was removed", p.dir.id());
  }
  return CheckAccess(user, p.dir, kMayWrite | kMayExec);
}

Status CheckCanRemoveEntry(const UserInfo& user, const Inode& dir, const Inode& victim) {
  HF3FS_TRY(CheckAccess(user, dir, kMayWrite | kMayExec));
  return CheckSticky(user, dir, victim);
}

Status EnqueueGc(OpContext& ctx, kv::Transaction& txn, const Inode& inode) {
  GcEntry e;
  e.set_inode_id(inode.id());
  e.set_enqueued_ns(ctx.now_ns());
  auto ms = static_cast<uint64_t>(e.enqueued_ns() / 1000000);
  return store::Put(txn, store::GcKey(ms, InodeId(inode.id())), e);
}

Status ChargeNewInode(kv::Transaction& txn, const Inode& inode) {
  return quota::Charge(txn, inode.quota_dirs(), 0, 1, /*enforce=*/true);
}

Status UnchargeInode(kv::Transaction& txn, const Inode& inode) {
  int64_t bytes = inode.type() == INODE_FILE ? static_cast<int64_t>(inode.length()) : 0;
  return quota::Charge(txn, inode.quota_dirs(), -bytes, -1, false);
}

Status DropLink(OpContext& ctx, kv::Transaction& txn, Inode victim) {
  InodeId id(victim.id());
  if (victim.type() != INODE_DIRECTORY && victim.nlink() > 1) {
    victim.set_nlink(victim.nlink() - 1);
    victim.set_ctime_ns(ctx.now_ns());
    return store::PutInode(txn, victim);
  }
  HF3FS_TRY(UnchargeInode(txn, victim));  // it leaves the namespace
  if (victim.type() == INODE_FILE) {
    victim.set_nlink(0);
    victim.set_ctime_ns(ctx.now_ns());
    HF3FS_TRY(store::PutInode(txn, victim));
    return EnqueueGc(ctx, txn, victim);
  }
  HF3FS_TRY(txn.Clear(store::InodeKey(id)));
  auto xp = store::XattrPrefix(id);
  return txn.ClearRange(xp, kv::PrefixEnd(xp));
}

Result<InodeId> AllocateOnce(OpContext& ctx, std::optional<InodeId>& id) {
  if (!id) {
    HF3FS_TRY_ASSIGN(id, ctx.inodes.Allocate());
  }
  return *id;
}

}  // namespace hf3fs::meta
