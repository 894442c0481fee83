// flock: cluster-wide whole-file locks (docs/design/0012-cluster-locks.md). One transaction reads
// every record of the inode (a read conflict on the whole range, so two owners racing for an
// exclusive lock cannot both win), then sets or clears the owner's own record. Never waits.
#include "meta/ops/common.h"

namespace hf3fs::meta {

Result<FlockRsp> Flock(OpContext& ctx, const FlockReq& req) {
  if (req.op() != FLOCK_SHARED && req.op() != FLOCK_EXCLUSIVE && req.op() != FLOCK_UNLOCK) {
    return MakeStatus(StatusCode::kInvalidArgument, "flock op {} (shared, exclusive or unlock)",
                      static_cast<int>(req.op()));
  }
  if (req.client_id() == 0) {
    return Status(StatusCode::kInvalidArgument, "flock needs the mount's client id");
  }
  InodeId id(req.inode_id());
  auto key = store::LockKey(id, req.client_id(), req.owner());
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<FlockRsp> {
    if (req.op() == FLOCK_UNLOCK) {
      HF3FS_TRY(txn.Clear(key));  // dropping a lock not held is not an error
      return FlockRsp();
    }
    HF3FS_TRY_ASSIGN(auto inode, store::GetInode(txn, id));
    if (!inode) return MakeStatus(StatusCode::kMetaStaleInode, "inode {} is gone", id.value());
    bool exclusive = req.op() == FLOCK_EXCLUSIVE;
    auto prefix = store::LockPrefix(id);
    auto end = kv::PrefixEnd(prefix);
    std::string begin = prefix;
    for (;;) {
      HF3FS_TRY_ASSIGN(auto r, txn.GetRange(begin, end, 256));
      for (const auto& kv : r.kvs) {
        if (kv.key == key) continue;  // the owner's own lock: converted below
        FileLock held;
        if (!held.ParseFromString(kv.value)) {
          return MakeStatus(StatusCode::kDataCorruption, "flock record of inode {}", id.value());
        }
        if (exclusive || held.exclusive()) {
          return MakeStatus(StatusCode::kMetaLockConflict,
                            "inode {} is locked {} by client {:x} (owner {:x})", id.value(),
                            held.exclusive() ? "exclusively" : "shared", held.client_id(),
                            held.owner());
        }
      }
      if (!r.has_more || r.kvs.empty()) break;
      begin = kv::KeyAfter(r.kvs.back().key);
    }
    FileLock mine;
    mine.set_client_id(req.client_id());
    mine.set_owner(req.owner());
    mine.set_exclusive(exclusive);
    mine.set_acquired_ns(ctx.now_ns());
    HF3FS_TRY(txn.Set(key, mine.SerializeAsString()));
    return FlockRsp();
  });
}

}  // namespace hf3fs::meta
