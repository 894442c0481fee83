#include "meta/background/prune.h"

#include "meta/store/meta_store.h"

namespace hf3fs::meta {

namespace {

// Walks every key with `prefix` in batches; `drop(kv)` says whether to clear a record. Each batch
// re-reads its keys with read conflicts, so a record changed meanwhile is judged again.
template <typename M, typename Drop>
Result<uint32_t> Prune(OpContext& ctx, std::string_view prefix, uint32_t batch, Drop drop) {
  uint32_t removed = 0;
  std::string begin(prefix);
  auto end = kv::PrefixEnd(prefix);
  while (true) {
    struct Step {
      uint32_t removed = 0;
      std::string next;
      bool more = false;
    };
    HF3FS_TRY_ASSIGN(
        auto step,
        kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<Step> {
          HF3FS_TRY_ASSIGN(auto r, txn.GetRange(begin, end, batch));
          Step s;
          for (const auto& kv : r.kvs) {
            M m;
            if (!m.ParseFromString(kv.value)) return Status(StatusCode::kDataCorruption, "record");
            if (!drop(m)) continue;
            HF3FS_TRY(txn.Clear(kv.key));
            ++s.removed;
          }
          s.more = r.has_more;
          if (!r.kvs.empty()) s.next = kv::KeyAfter(r.kvs.back().key);
          return s;
        }));
    removed += step.removed;
    if (!step.more) return removed;
    begin = std::move(step.next);
  }
}

}  // namespace

namespace {
bool Stale(const WriteSession& s, const std::set<uint64_t>& live_clients,
           int64_t opened_before_ns) {
  return s.client_id() != 0 && !live_clients.count(s.client_id()) &&
         s.opened_ns() < opened_before_ns;
}
}  // namespace

Result<uint32_t> PruneWriteSessions(OpContext& ctx, const std::set<uint64_t>& live_clients,
                                    int64_t opened_before_ns, uint32_t batch) {
  return Prune<WriteSession>(ctx, store::kSessionPrefix, batch, [&](const WriteSession& s) {
    return Stale(s, live_clients, opened_before_ns);
  });
}

Result<uint32_t> PruneLocks(OpContext& ctx, const std::set<uint64_t>& live_clients,
                            int64_t acquired_before_ns, uint32_t batch) {
  return Prune<FileLock>(ctx, store::kLockPrefix, batch, [&](const FileLock& l) {
    return !live_clients.count(l.client_id()) && l.acquired_ns() < acquired_before_ns;
  });
}

Result<std::vector<InodeId>> FindStaleWriteSessions(OpContext& ctx,
                                                    const std::set<uint64_t>& live_clients,
                                                    int64_t opened_before_ns) {
  std::string begin(store::kSessionPrefix);
  auto end = kv::PrefixEnd(begin);
  std::vector<InodeId> out;
  while (true) {
    HF3FS_TRY_ASSIGN(auto r, kv::RunTransaction(
                                 ctx.engine, ctx.retry,
                                 [&](kv::Transaction& txn) -> Result<kv::RangeResult> {
                                   return txn.SnapshotGetRange(begin, end, 1024);
                                 },
                                 kv::TxnOptions{.read_only = true}));
    for (const auto& kv : r.kvs) {
      WriteSession s;
      if (!s.ParseFromString(kv.value)) return Status(StatusCode::kDataCorruption, "session");
      if (!Stale(s, live_clients, opened_before_ns)) continue;
      // SESS + inode id (8 B LE) + session id: sessions of one inode are adjacent.
      InodeId id(store::ReadLE64(std::string_view(kv.key).substr(store::kSessionPrefix.size())));
      if (out.empty() || out.back() != id) out.push_back(id);
    }
    if (!r.has_more || r.kvs.empty()) return out;
    begin = kv::KeyAfter(r.kvs.back().key);
  }
}

Result<uint32_t> PruneIdempotencyRecords(OpContext& ctx, int64_t created_before_ns,
                                         uint32_t batch) {
  return Prune<IdempotencyRecord>(
      ctx, store::kIdempotencyPrefix, batch,
      [&](const IdempotencyRecord& r) { return r.created_ns() < created_before_ns; });
}

}  // namespace hf3fs::meta
