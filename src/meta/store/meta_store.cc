#include "meta/store/meta_store.h"

namespace hf3fs::meta::store {

void AppendLE64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void AppendBE64(std::string& s, uint64_t v) {
  for (int i = 7; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t ReadLE64(std::string_view s) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(s[i]);
  return v;
}
uint64_t ReadBE64(std::string_view s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<unsigned char>(s[i]);
  return v;
}

namespace {
std::string WithId(std::string_view prefix, InodeId id) {
  std::string k(prefix);
  AppendLE64(k, id.value());
  return k;
}
}  // namespace

std::string InodeKey(InodeId id) { return WithId(kInodePrefix, id); }
std::string EntryPrefix(InodeId parent) { return WithId(kEntryPrefix, parent); }
std::string EntryKey(InodeId parent, std::string_view name) {
  auto k = EntryPrefix(parent);
  k.append(name);
  return k;
}
std::string XattrPrefix(InodeId id) { return WithId(kXattrPrefix, id); }
std::string XattrKey(InodeId id, std::string_view name) {
  auto k = XattrPrefix(id);
  k.append(name);
  return k;
}
std::string SessionPrefix(InodeId id) { return WithId(kSessionPrefix, id); }
std::string SessionKey(InodeId id, uint64_t session_id) {
  auto k = SessionPrefix(id);
  AppendBE64(k, session_id);
  return k;
}
std::string LockPrefix(InodeId id) { return WithId(kLockPrefix, id); }
std::string LockKey(InodeId id, uint64_t client_id, uint64_t owner) {
  auto k = LockPrefix(id);
  AppendBE64(k, client_id);
  AppendBE64(k, owner);
  return k;
}
std::string IdempotencyKey(uint64_t client_id, uint64_t request_id) {
  std::string k(kIdempotencyPrefix);
  AppendBE64(k, client_id);
  AppendBE64(k, request_id);
  return k;
}
std::string AllocKey(uint8_t shard) {
  std::string k(kAllocPrefix);
  k.push_back(static_cast<char>(shard));
  return k;
}
std::string GcKey(uint64_t enqueued_ms, InodeId id) {
  std::string k(kGcPrefix);
  AppendBE64(k, enqueued_ms);
  AppendLE64(k, id.value());
  return k;
}

std::string TrashQueueKey(uint64_t expires_ms, InodeId id) {
  std::string k(kTrashQueuePrefix);
  AppendBE64(k, expires_ms);
  AppendLE64(k, id.value());
  return k;
}
std::string TrashIndexKey(InodeId id) { return WithId(kTrashIndexPrefix, id); }
std::string QuotaUsagePrefix(InodeId dir) { return WithId(kQuotaUsagePrefix, dir); }
std::string QuotaUsageKey(InodeId dir, uint8_t shard) {
  auto k = QuotaUsagePrefix(dir);
  k.push_back(static_cast<char>(shard));
  return k;
}

InodeId InodeIdOfKey(std::string_view key) { return InodeId(ReadLE64(key.substr(4, 8))); }
std::string_view NameOfEntryKey(std::string_view key) { return key.substr(12); }

Result<std::optional<Inode>> GetInode(kv::Transaction& txn, InodeId id, bool snapshot) {
  return Get<Inode>(txn, InodeKey(id), snapshot);
}

Status PutInode(kv::Transaction& txn, const Inode& inode) {
  return Put(txn, InodeKey(InodeId(inode.id())), inode);
}

Result<std::optional<DirEntry>> GetEntry(kv::Transaction& txn, InodeId parent,
                                         std::string_view name) {
  return Get<DirEntry>(txn, EntryKey(parent, name));
}

Status PutEntry(kv::Transaction& txn, InodeId parent, std::string_view name, const Inode& child) {
  DirEntry e;
  e.set_inode_id(child.id());
  e.set_type(child.type());
  return Put(txn, EntryKey(parent, name), e);
}

Result<bool> DirectoryEmpty(kv::Transaction& txn, InodeId dir) {
  auto prefix = EntryPrefix(dir);
  HF3FS_TRY_ASSIGN(auto r, txn.GetRange(prefix, kv::PrefixEnd(prefix), 1));
  return r.kvs.empty();
}

}  // namespace hf3fs::meta::store
