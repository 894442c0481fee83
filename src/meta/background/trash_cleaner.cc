#include "meta/background/trash_cleaner.h"

#include "meta/ops/common.h"

namespace hf3fs::meta {

namespace {

Status Expire(OpContext& ctx, kv::Transaction& txn, const std::string& queue_key, InodeId id) {
  HF3FS_TRY(txn.Clear(queue_key));
  HF3FS_TRY_ASSIGN(auto t, store::Get<TrashEntry>(txn, store::TrashIndexKey(id)));
  if (!t) return Status::Ok();  // restored meanwhile
  HF3FS_TRY(txn.Clear(store::TrashIndexKey(id)));
  auto entry_key = store::EntryKey(InodeId(t->trash_dir()), t->trash_name());
  HF3FS_TRY_ASSIGN(auto e, store::Get<DirEntry>(txn, entry_key));
  if (!e || e->inode_id() != id.value()) return Status::Ok();  // moved out by hand
  HF3FS_TRY(txn.Clear(entry_key));
  HF3FS_TRY_ASSIGN(auto inode, store::GetInode(txn, id));
  if (!inode) return Status::Ok();
  if (inode->type() == INODE_DIRECTORY) {
    HF3FS_TRY(UnchargeInode(txn, *inode));
    inode->set_nlink(0);
    HF3FS_TRY(store::PutInode(txn, *inode));
    return EnqueueGc(ctx, txn, *inode);
  }
  return DropLink(ctx, txn, std::move(*inode));
}

}  // namespace

Result<uint32_t> CleanTrash(OpContext& ctx, uint32_t limit) {
  std::string begin(store::kTrashQueuePrefix);
  std::string end = begin;
  store::AppendBE64(end, static_cast<uint64_t>(ctx.now_ns() / 1000000) + 1);
  HF3FS_TRY_ASSIGN(auto due, kv::RunTransaction(
                                 ctx.engine, ctx.retry,
                                 [&](kv::Transaction& txn) -> Result<kv::RangeResult> {
                                   return txn.SnapshotGetRange(begin, end, limit);
                                 },
                                 kv::TxnOptions{.read_only = true}));
  for (const auto& kv : due.kvs) {
    InodeId id(store::ReadLE64(std::string_view(kv.key).substr(12, 8)));
    HF3FS_TRY(kv::RunTransaction(
        ctx.engine, ctx.retry, [&](kv::Transaction& txn) { return Expire(ctx, txn, kv.key, id); }));
  }
  return static_cast<uint32_t>(due.kvs.size());
}

}  // namespace hf3fs::meta
