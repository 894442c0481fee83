#include "meta/background/gc.h"

#include "meta/ops/common.h"

namespace hf3fs::meta {

namespace {

enum class Outcome { kDeleted, kSkipped, kMore };

Status DeleteInode(kv::Transaction& txn, std::string_view gc_key, InodeId id) {
  HF3FS_TRY(txn.Clear(store::InodeKey(id)));
  auto xp = store::XattrPrefix(id);
  HF3FS_TRY(txn.ClearRange(xp, kv::PrefixEnd(xp)));
  return txn.Clear(gc_key);
}

// One batch of a removed directory's children; kDeleted once the directory itself is gone.
Result<Outcome> EmptyDirectory(OpContext& ctx, const GcOptions& o, const std::string& gc_key,
                               InodeId dir) {
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<Outcome> {
    auto prefix = store::EntryPrefix(dir);
    HF3FS_TRY_ASSIGN(auto r, txn.GetRange(prefix, kv::PrefixEnd(prefix), o.dir_batch));
    for (const auto& kv : r.kvs) {
      DirEntry e;
      if (!e.ParseFromString(kv.value)) return Status(StatusCode::kDataCorruption, "entry");
      HF3FS_TRY(txn.Clear(kv.key));
      HF3FS_TRY_ASSIGN(auto child, store::GetInode(txn, InodeId(e.inode_id())));
      if (!child) continue;
      if (child->type() == INODE_DIRECTORY) {
        HF3FS_TRY(UnchargeInode(txn, *child));
        child->set_nlink(0);
        HF3FS_TRY(store::PutInode(txn, *child));
        HF3FS_TRY(EnqueueGc(ctx, txn, *child));
      } else {
        HF3FS_TRY(DropLink(ctx, txn, std::move(*child)));
      }
    }
    if (!r.kvs.empty()) return Outcome::kMore;
    HF3FS_TRY(DeleteInode(txn, gc_key, dir));
    return Outcome::kDeleted;
  });
}

Result<Outcome> CollectFile(OpContext& ctx, const GcOptions& o, const std::string& gc_key,
                            const Inode& snapshot) {
  InodeId id(snapshot.id());
  bool has_layout = snapshot.layout().chain_table_id() != 0;
  if (has_layout && snapshot.length() > 0 && !o.remove_chunks) return Outcome::kSkipped;
  // With a remover, any file with a layout is cleared on storage: a writer may have stored chunks
  // without ever reporting a length.
  bool has_chunks = has_layout && o.remove_chunks;
  auto sp = store::SessionPrefix(id);
  auto open = [&](kv::Transaction& txn) -> Result<bool> {
    HF3FS_TRY_ASSIGN(auto s, txn.GetRange(sp, kv::PrefixEnd(sp), 1));
    return !s.kvs.empty();
  };
  HF3FS_TRY_ASSIGN(bool busy, kv::RunTransaction(ctx.engine, ctx.retry, open));
  if (busy) return Outcome::kSkipped;
  if (has_chunks) HF3FS_TRY(o.remove_chunks(snapshot));
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<Outcome> {
    HF3FS_TRY_ASSIGN(bool now_busy, open(txn));  // a session opened meanwhile keeps the inode
    HF3FS_TRY_ASSIGN(auto inode, store::GetInode(txn, id));
    if (now_busy || (inode && inode->nlink() != 0)) return Outcome::kSkipped;
    HF3FS_TRY(DeleteInode(txn, gc_key, id));
    return Outcome::kDeleted;
  });
}

Result<Outcome> CollectOne(OpContext& ctx, const GcOptions& o, const std::string& gc_key,
                           InodeId id) {
  HF3FS_TRY_ASSIGN(auto inode,
                   kv::RunTransaction(ctx.engine, ctx.retry,
                                      [&](kv::Transaction& txn) -> Result<std::optional<Inode>> {
                                        return store::GetInode(txn, id);
                                      }));
  if (!inode || inode->nlink() != 0) {
    // Gone already, or linked again (never expected): just drop the queue entry.
    HF3FS_TRY(kv::RunTransaction(ctx.engine, ctx.retry,
                                 [&](kv::Transaction& txn) { return txn.Clear(gc_key); }));
    return inode ? Outcome::kSkipped : Outcome::kDeleted;
  }
  if (inode->type() != INODE_DIRECTORY) return CollectFile(ctx, o, gc_key, *inode);
  while (true) {
    HF3FS_TRY_ASSIGN(auto out, EmptyDirectory(ctx, o, gc_key, id));
    if (out != Outcome::kMore) return out;
  }
}

}  // namespace

Result<GcStats> RunGcOnce(OpContext& ctx, const GcOptions& options) {
  std::string begin(store::kGcPrefix);
  auto end = kv::PrefixEnd(begin);
  HF3FS_TRY_ASSIGN(auto due, kv::RunTransaction(
                                 ctx.engine, ctx.retry,
                                 [&](kv::Transaction& txn) -> Result<kv::RangeResult> {
                                   return txn.SnapshotGetRange(begin, end, options.max_entries);
                                 },
                                 kv::TxnOptions{.read_only = true}));
  GcStats stats;
  int64_t cutoff = ctx.now_ns() - options.delay.count();
  for (const auto& kv : due.kvs) {
    GcEntry e;
    if (!e.ParseFromString(kv.value)) return Status(StatusCode::kDataCorruption, "GC entry");
    if (e.enqueued_ns() > cutoff) {
      ++stats.pending;
      continue;
    }
    HF3FS_TRY_ASSIGN(auto out, CollectOne(ctx, options, kv.key, InodeId(e.inode_id())));
    (out == Outcome::kDeleted ? stats.deleted : stats.skipped)++;
  }
  return stats;
}

Result<uint64_t> GcQueueLength(OpContext& ctx) {
  std::string begin(store::kGcPrefix);
  return kv::RunTransaction(
      ctx.engine, ctx.retry,
      [&](kv::Transaction& txn) -> Result<uint64_t> {
        // Counted in pages, so a long queue never sits in memory at once.
        constexpr uint32_t kPage = 4096;
        std::string end = kv::PrefixEnd(begin), from = begin;
        uint64_t n = 0;
        while (true) {
          HF3FS_TRY_ASSIGN(auto r, txn.SnapshotGetRange(from, end, kPage));
          n += r.kvs.size();
          if (!r.has_more || r.kvs.empty()) return n;
          from = r.kvs.back().key;
          from.push_back('\0');  // the next key after the last one counted
        }
      },
      kv::TxnOptions{.read_only = true});
}

}  // namespace hf3fs::meta
