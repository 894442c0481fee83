#include "meta/quota.h"

#include <random>

#include "meta/ops/common.h"
#include "meta/permission.h"

namespace hf3fs::meta::quota {

std::vector<uint64_t> DirsForChild(const Inode& parent) {
  std::vector<uint64_t> dirs(parent.quota_dirs().begin(), parent.quota_dirs().end());
  if (parent.has_quota()) dirs.push_back(parent.id());
  return dirs;
}

Result<QuotaUsage> Usage(kv::Transaction& txn, uint64_t dir) {
  auto prefix = store::QuotaUsagePrefix(InodeId(dir));
  HF3FS_TRY_ASSIGN(auto r, txn.SnapshotGetRange(prefix, kv::PrefixEnd(prefix), 0));
  QuotaUsage sum;
  for (const auto& kv : r.kvs) {
    QuotaUsage u;
    if (!u.ParseFromString(kv.value)) return Status(StatusCode::kDataCorruption, "quota usage");
    sum.set_bytes(sum.bytes() + u.bytes());
    sum.set_inodes(sum.inodes() + u.inodes());
  }
  return sum;
}

namespace {

Status CheckLimit(kv::Transaction& txn, uint64_t dir, int64_t bytes, int64_t inodes) {
  HF3FS_TRY_ASSIGN(auto d, store::GetInode(txn, InodeId(dir), /*snapshot=*/true));
  if (!d || !d->has_quota()) return Status::Ok();
  HF3FS_TRY_ASSIGN(auto used, Usage(txn, dir));
  const Quota& q = d->quota();
  bool over_bytes =
      bytes > 0 && q.max_bytes() != 0 && used.bytes() + bytes > static_cast<int64_t>(q.max_bytes());
  bool over_inodes = inodes > 0 && q.max_inodes() != 0 &&
                     used.inodes() + inodes > static_cast<int64_t>(q.max_inodes());
  if (over_bytes || over_inodes) {
    return MakeStatus(StatusCode::kMetaQuotaExceeded, "quota of directory {} exceeded", dir);
  }
  return Status::Ok();
}

}  // namespace

Status Charge(kv::Transaction& txn, const google::protobuf::RepeatedField<uint64_t>& dirs,
              int64_t bytes, int64_t inodes, bool enforce) {
  if (dirs.empty() || (bytes == 0 && inodes == 0)) return Status::Ok();
  if (enforce) {
    for (uint64_t dir : dirs) HF3FS_TRY(CheckLimit(txn, dir, bytes, inodes));
  }
  thread_local std::mt19937 rng(std::random_device{}());
  for (uint64_t dir : dirs) {
    auto key = store::QuotaUsageKey(InodeId(dir), static_cast<uint8_t>(rng() % kShards));
    HF3FS_TRY_ASSIGN(auto cur, store::Get<QuotaUsage>(txn, key));
    QuotaUsage u = cur.value_or(QuotaUsage());
    u.set_bytes(u.bytes() + bytes);
    u.set_inodes(u.inodes() + inodes);
    HF3FS_TRY(store::Put(txn, key, u));
  }
  return Status::Ok();
}

Status CheckSameQuota(const google::protobuf::RepeatedField<uint64_t>& dirs, const Inode& parent) {
  auto want = DirsForChild(parent);
  if (std::equal(dirs.begin(), dirs.end(), want.begin(), want.end())) return Status::Ok();
  return Status(StatusCode::kMetaCrossQuota, "source and destination have different quotas");
}

}  // namespace hf3fs::meta::quota

namespace hf3fs::meta {

Result<SetQuotaRsp> SetQuota(OpContext& ctx, const SetQuotaReq& req) {
  if (!IsRoot(req.user())) return Status(StatusCode::kMetaNotPermitted, "only root sets quotas");
  return kv::RunTransaction(
      ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<SetQuotaRsp> {
        Resolver r(txn, req.user(), ctx.limits);
        HF3FS_TRY_ASSIGN(auto dir, r.Resolve(req.path(), true));
        if (dir.type() != INODE_DIRECTORY) {
          return MakeStatus(StatusCode::kMetaNotDirectory, "inode {} is not a directory", dir.id());
        }
        if (!dir.has_quota()) {  // usage starts at zero, so the directory must be empty
          HF3FS_TRY_ASSIGN(bool empty, store::DirectoryEmpty(txn, InodeId(dir.id())));
          if (!empty)
            return Status(StatusCode::kMetaNotEmpty, "a first quota needs an empty directory");
        }
        dir.mutable_quota()->set_max_bytes(req.max_bytes());
        dir.mutable_quota()->set_max_inodes(req.max_inodes());
        dir.set_ctime_ns(ctx.now_ns());
        HF3FS_TRY(store::PutInode(txn, dir));
        return SetQuotaRsp();
      });
}

Result<GetQuotaRsp> GetQuota(OpContext& ctx, const GetQuotaReq& req) {
  return kv::RunTransaction(
      ctx.engine, ctx.retry,
      [&](kv::Transaction& txn) -> Result<GetQuotaRsp> {
        Resolver r(txn, req.user(), ctx.limits);
        HF3FS_TRY_ASSIGN(auto dir, r.Resolve(req.path(), true));
        GetQuotaRsp rsp;
        if (!dir.has_quota()) return rsp;
        rsp.set_has_quota(true);
        rsp.set_max_bytes(dir.quota().max_bytes());
        rsp.set_max_inodes(dir.quota().max_inodes());
        HF3FS_TRY_ASSIGN(auto used, quota::Usage(txn, dir.id()));
        rsp.set_used_bytes(used.bytes());
        rsp.set_used_inodes(used.inodes());
        return rsp;
      },
      kv::TxnOptions{.read_only = true});
}

}  // namespace hf3fs::meta
