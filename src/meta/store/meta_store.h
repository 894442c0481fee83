// meta's records in the KV store (byte layout: docs/formats/meta-keys.md). Functions take an open
// transaction; the caller decides the transaction's scope and retries (kv::RunTransaction).
//
// Reads with `snapshot` add no read conflict (see kv/engine.h); everything else does.
// kDataCorruption when a stored value does not parse.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/status.h"
#include "kv/engine.h"
#include "meta.pb.h"

namespace hf3fs::meta::store {

inline constexpr std::string_view kInodePrefix = "INOD";
inline constexpr std::string_view kEntryPrefix = "DENT";
inline constexpr std::string_view kXattrPrefix = "XATR";
inline constexpr std::string_view kSessionPrefix = "SESS";
inline constexpr std::string_view kIdempotencyPrefix = "IDEM";
inline constexpr std::string_view kAllocPrefix = "IALC";
inline constexpr std::string_view kGcPrefix = "GCQ_";
inline constexpr std::string_view kTrashQueuePrefix = "TRSH";
inline constexpr std::string_view kTrashIndexPrefix = "TRSI";
inline constexpr std::string_view kQuotaUsagePrefix = "QUSE";
inline constexpr std::string_view kLockPrefix = "FLCK";

std::string InodeKey(InodeId id);
std::string EntryKey(InodeId parent, std::string_view name);
std::string EntryPrefix(InodeId parent);  // every entry of one directory
std::string XattrKey(InodeId id, std::string_view name);
std::string XattrPrefix(InodeId id);
std::string SessionKey(InodeId id, uint64_t session_id);
std::string SessionPrefix(InodeId id);
std::string IdempotencyKey(uint64_t client_id, uint64_t request_id);
std::string AllocKey(uint8_t shard);
std::string GcKey(uint64_t enqueued_ms, InodeId id);
std::string TrashQueueKey(uint64_t expires_ms, InodeId id);  // value empty
std::string TrashIndexKey(InodeId id);                       // value TrashEntry
std::string QuotaUsageKey(InodeId dir, uint8_t shard);       // value QuotaUsage
std::string QuotaUsagePrefix(InodeId dir);
std::string LockKey(InodeId id, uint64_t client_id, uint64_t owner);  // value FileLock
std::string LockPrefix(InodeId id);  // every flock record of one inode

// The inode id of an INOD key, the name of a DENT key (given its directory's prefix length).
InodeId InodeIdOfKey(std::string_view key);
std::string_view NameOfEntryKey(std::string_view key);

void AppendLE64(std::string& s, uint64_t v);
void AppendBE64(std::string& s, uint64_t v);
uint64_t ReadLE64(std::string_view s);
uint64_t ReadBE64(std::string_view s);

template <typename M>
Result<std::optional<M>> Get(kv::Transaction& txn, std::string_view key, bool snapshot = false) {
  auto v = snapshot ? txn.SnapshotGet(key) : txn.Get(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<M>();
  M m;
  if (!m.ParseFromString(**v)) {
    return Status(StatusCode::kDataCorruption, "meta record does not parse");
  }
  return std::optional<M>(std::move(m));
}

template <typename M>
Status Put(kv::Transaction& txn, std::string_view key, const M& m) {
  return txn.Set(key, m.SerializeAsString());
}

Result<std::optional<Inode>> GetInode(kv::Transaction& txn, InodeId id, bool snapshot = false);
Status PutInode(kv::Transaction& txn, const Inode& inode);
Result<std::optional<DirEntry>> GetEntry(kv::Transaction& txn, InodeId parent,
                                         std::string_view name);
Status PutEntry(kv::Transaction& txn, InodeId parent, std::string_view name, const Inode& child);

// Whether directory `dir` has no entries. A range read limited to one key: takes a read conflict
// on the part of the directory observed, so a concurrent create in it conflicts.
Result<bool> DirectoryEmpty(kv::Transaction& txn, InodeId dir);

}  // namespace hf3fs::meta::store
