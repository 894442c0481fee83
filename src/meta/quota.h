// Directory quotas (docs/design/0005-meta.md, "Quotas").
//
// A directory with a Quota accounts the inodes created below it and their bytes. Every inode
// records, at creation, the quota directories it is charged to (`quota_dirs`: its parent's plus
// the parent itself when it has a quota), so charging needs no walk up the tree and files need no
// parent pointer. Inodes never move between quota directories: rename and link across different
// sets fail with EXDEV, and a quota is first set only on an empty directory.
//
// Usage lives in kShards counters per quota directory; a change updates one random shard (read
// with a conflict, so two changes of one shard serialize), and limit checks read the shards without
// conflicts. Enforcement is therefore exact for one client and may overshoot by what concurrent
// transactions add at the same moment.
#pragma once

#include <cstdint>
#include <vector>

#include "kv/engine.h"
#include "meta.pb.h"
#include "meta/ops/ops.h"

namespace hf3fs::meta::quota {

inline constexpr uint8_t kShards = 16;

// The quota directories a new child of `parent` is charged to.
std::vector<uint64_t> DirsForChild(const Inode& parent);

// Adds `bytes` and `inodes` (may be negative) to every quota directory of `dirs`. With `enforce`,
// an increase that would pass a limit fails with kMetaQuotaExceeded (EDQUOT) and changes nothing.
Status Charge(kv::Transaction& txn, const google::protobuf::RepeatedField<uint64_t>& dirs,
              int64_t bytes, int64_t inodes, bool enforce);

// The summed usage of quota directory `dir` (no read conflict).
Result<QuotaUsage> Usage(kv::Transaction& txn, uint64_t dir);

// EXDEV unless an inode charged to `dirs` may be linked under `parent`.
Status CheckSameQuota(const google::protobuf::RepeatedField<uint64_t>& dirs, const Inode& parent);

}  // namespace hf3fs::meta::quota

namespace hf3fs::meta {
Result<SetQuotaRsp> SetQuota(OpContext& ctx, const SetQuotaReq& req);  // quota.cc
Result<GetQuotaRsp> GetQuota(OpContext& ctx, const GetQuotaReq& req);  // quota.cc
}  // namespace hf3fs::meta
