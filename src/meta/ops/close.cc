// close and sync: persist the writer's length hint and times; close also ends the write session.
// Only a request naming a live write session may report a length or times (session 0: sync, or
// query the length from storage).
// A length hint only raises the length, and only when it was made under the file's current
// truncate version (a hint from before a truncate is stale). A durable sync then flushes the KV
// store, which makes every metadata change committed so far power-safe (fsync of the file or of
// a directory; docs/design/0009-durability.md).
#include "meta/ops/common.h"
#include "meta/quota.h"

namespace hf3fs::meta {

namespace {

Result<CloseRsp> FinishIn(kv::Transaction& txn, const CloseReq& req, bool end_session) {
  InodeId id(req.inode_id());
  HF3FS_TRY_ASSIGN(auto inode, store::GetInode(txn, id));
  if (!inode) return MakeStatus(StatusCode::kMetaStaleInode, "inode {} is gone", id.value());
  if (req.session_id() != 0) {
    auto key = store::SessionKey(id, req.session_id());
    HF3FS_TRY_ASSIGN(auto s, txn.Get(key));
    if (!s) {
      return MakeStatus(StatusCode::kMetaBadSession, "no write session {} on inode {}",
                        req.session_id(), id.value());
    }
    if (end_session) HF3FS_TRY(txn.Clear(key));
  } else if ((req.has_length_hint() && !req.query_length()) || req.mtime_ns() != 0 ||
             req.atime_ns() != 0) {
    // The write session is the capability to report a length and times (the writer's data is on
    // the storage nodes); without one a caller may only sync or ask for the length. (With
    // query_length the hint is the length meta itself read from storage: the service replaces
    // whatever the request carried before the op runs.)
    return MakeStatus(StatusCode::kMetaBadSession,
                      "inode {}: a length or time report needs the writer's session (open the "
                      "file for writing first)",
                      id.value());
  }
  bool changed = false;
  if (req.has_length_hint() && req.truncate_version() == inode->truncate_version() &&
      req.length_hint() > inode->length()) {
    // Written data is accounted, never refused: it is already on the storage nodes.
    HF3FS_TRY(quota::Charge(txn, inode->quota_dirs(),
                            static_cast<int64_t>(req.length_hint() - inode->length()), 0, false));
    inode->set_length(req.length_hint());
    changed = true;
  }
  if (req.mtime_ns() != 0) {
    inode->set_mtime_ns(req.mtime_ns());
    inode->set_ctime_ns(std::max(inode->ctime_ns(), req.mtime_ns()));
    changed = true;
  }
  if (req.atime_ns() != 0) {
    inode->set_atime_ns(req.atime_ns());
    changed = true;
  }
  if (changed) HF3FS_TRY(store::PutInode(txn, *inode));
  CloseRsp rsp;
  *rsp.mutable_inode() = std::move(*inode);
  return rsp;
}

Result<CloseRsp> Finish(OpContext& ctx, const CloseReq& req, bool end_session) {
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<CloseRsp> {
    return FinishIn(txn, req, end_session);
  });
}

}  // namespace

Result<CloseRsp> Close(OpContext& ctx, const CloseReq& req) { return Finish(ctx, req, true); }

Result<CloseBatchRsp> CloseBatch(OpContext& ctx, const CloseBatchReq& req) {
  if (req.closes_size() > 1024) {
    return MakeStatus(StatusCode::kInvalidArgument, "{} closes in one batch (at most 1024)",
                      req.closes_size());
  }
  for (const auto& c : req.closes()) {
    // Batches have no storage query: a length in one is the writer's, which needs its session.
    if (c.session_id() == 0) {
      return MakeStatus(StatusCode::kMetaBadSession,
                        "close batch: inode {} has no write session (batch only session closes)",
                        c.inode_id());
    }
  }
  CloseBatchRsp rsp;
  Status all = kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Status {
    for (const auto& c : req.closes()) HF3FS_TRY(FinishIn(txn, c, true).status());
    return Status::Ok();
  });
  if (all.ok()) {
    for (int i = 0; i < req.closes_size(); ++i) rsp.add_codes(0);
    return rsp;
  }
  // One of them fails (e.g. its inode is gone): each on its own, so the others still end.
  for (const auto& c : req.closes()) {
    rsp.add_codes(static_cast<uint32_t>(Close(ctx, c).status().code()));
  }
  return rsp;
}
Result<CloseRsp> Sync(OpContext& ctx, const CloseReq& req) {
  HF3FS_TRY_ASSIGN(auto rsp, Finish(ctx, req, false));
  if (req.durable()) HF3FS_TRY(ctx.engine.Sync());
  return rsp;
}

}  // namespace hf3fs::meta
