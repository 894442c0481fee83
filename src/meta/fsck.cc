#include "meta/fsck.h"

#include <map>
#include <set>

#include "meta.pb.h"
#include "meta/store/inode_allocator.h"
#include "meta/store/meta_store.h"

namespace hf3fs::meta {

namespace {

struct Snapshot {
  std::map<uint64_t, Inode> inodes;
  std::vector<std::tuple<uint64_t, std::string, DirEntry>> entries;  // parent, name, entry
  std::set<uint64_t> gc;
  std::vector<uint64_t> session_inodes;
  uint64_t shard_counts[InodeAllocator::kShards] = {};
  std::map<uint64_t, QuotaUsage> quota_usage;  // summed QUSE shards per quota directory
};

Result<std::vector<kv::KeyValue>> Scan(kv::Transaction& txn, std::string_view prefix) {
  HF3FS_TRY_ASSIGN(auto r, txn.SnapshotGetRange(prefix, kv::PrefixEnd(prefix), 0));
  return std::move(r.kvs);
}

template <typename M>
Result<M> Parse(const kv::KeyValue& kv) {
  M m;
  if (!m.ParseFromString(kv.value)) return Status(StatusCode::kDataCorruption, "record");
  return m;
}

Result<Snapshot> Load(kv::Transaction& txn) {
  Snapshot s;
  HF3FS_TRY_ASSIGN(auto inodes, Scan(txn, store::kInodePrefix));
  for (const auto& kv : inodes) {
    HF3FS_TRY_ASSIGN(auto inode, Parse<Inode>(kv));
    s.inodes.emplace(store::InodeIdOfKey(kv.key).value(), std::move(inode));
  }
  HF3FS_TRY_ASSIGN(auto entries, Scan(txn, store::kEntryPrefix));
  for (const auto& kv : entries) {
    HF3FS_TRY_ASSIGN(auto e, Parse<DirEntry>(kv));
    s.entries.emplace_back(store::InodeIdOfKey(kv.key).value(),
                           std::string(store::NameOfEntryKey(kv.key)), std::move(e));
  }
  HF3FS_TRY_ASSIGN(auto gc, Scan(txn, store::kGcPrefix));
  for (const auto& kv : gc) s.gc.insert(store::ReadLE64(std::string_view(kv.key).substr(12, 8)));
  HF3FS_TRY_ASSIGN(auto sessions, Scan(txn, store::kSessionPrefix));
  for (const auto& kv : sessions) s.session_inodes.push_back(store::InodeIdOfKey(kv.key).value());
  HF3FS_TRY_ASSIGN(auto usage, Scan(txn, store::kQuotaUsagePrefix));
  for (const auto& kv : usage) {
    HF3FS_TRY_ASSIGN(auto u, Parse<QuotaUsage>(kv));
    auto& sum = s.quota_usage[store::InodeIdOfKey(kv.key).value()];
    sum.set_bytes(sum.bytes() + u.bytes());
    sum.set_inodes(sum.inodes() + u.inodes());
  }
  HF3FS_TRY_ASSIGN(auto alloc, Scan(txn, store::kAllocPrefix));
  for (const auto& kv : alloc) {
    auto shard = static_cast<uint8_t>(kv.key[4]);
    if (shard < InodeAllocator::kShards && kv.value.size() == 8) {
      s.shard_counts[shard] = store::ReadBE64(kv.value);
    }
  }
  return s;
}

void CheckEntries(const Snapshot& s, FsckReport& r, std::map<uint64_t, uint32_t>& links) {
  for (const auto& [parent, name, e] : s.entries) {
    auto p = s.inodes.find(parent);
    // Entries below a recursively removed directory (nlink 0, queued for GC) await the GC.
    if (p == s.inodes.end() || p->second.type() != INODE_DIRECTORY ||
        (p->second.nlink() == 0 && !s.gc.count(parent))) {
      r.problems.push_back(fmt::format("entry '{}' in {}: no live directory", name, parent));
    }
    auto c = s.inodes.find(e.inode_id());
    if (c == s.inodes.end()) {
      r.problems.push_back(
          fmt::format("entry '{}' in {}: inode {} missing", name, parent, e.inode_id()));
      continue;
    }
    if (c->second.type() != e.type()) {
      r.problems.push_back(fmt::format("entry '{}' in {}: type differs", name, parent));
    }
    if (c->second.type() == INODE_DIRECTORY &&
        (c->second.parent() != parent || c->second.name() != name)) {
      r.problems.push_back(fmt::format("directory {} linked at '{}' in {} but points to '{}' in {}",
                                       e.inode_id(), name, parent, c->second.name(),
                                       c->second.parent()));
    }
    ++links[e.inode_id()];
  }
}

void CheckInode(const Snapshot& s, const Inode& inode, uint32_t links, FsckReport& r) {
  uint64_t id = inode.id();
  if (id == kRootInodeId.value()) return;
  bool queued = s.gc.count(id) != 0;
  if (inode.nlink() == 0) {
    if (!queued) r.problems.push_back(fmt::format("inode {} has no links and no GC entry", id));
    if (links != 0) r.problems.push_back(fmt::format("inode {} has nlink 0 but entries", id));
  } else if (inode.type() == INODE_DIRECTORY ? links != 1 : links != inode.nlink()) {
    r.problems.push_back(
        fmt::format("inode {}: nlink {} but {} entries", id, inode.nlink(), links));
  }
  if (id < InodeAllocator::kFirstId) {
    r.problems.push_back(fmt::format("inode {} uses a reserved id", id));
    return;
  }
  uint64_t block = (id - InodeAllocator::kFirstId) / InodeAllocator::kBlockIds;
  if (block / InodeAllocator::kShards >= s.shard_counts[block % InodeAllocator::kShards]) {
    r.problems.push_back(fmt::format("inode {} was never handed out by the allocator", id));
  }
}

// Every quota directory's usage equals what its linked inodes are charged.
void CheckQuotas(const Snapshot& s, FsckReport& r) {
  std::map<uint64_t, QuotaUsage> expected;
  for (const auto& [id, inode] : s.inodes) {
    if (inode.nlink() == 0) continue;
    for (uint64_t q : inode.quota_dirs()) {
      auto& e = expected[q];
      e.set_inodes(e.inodes() + 1);
      if (inode.type() == INODE_FILE) e.set_bytes(e.bytes() + static_cast<int64_t>(inode.length()));
    }
  }
  auto all = expected;
  for (const auto& [q, u] : s.quota_usage) all[q];
  for (const auto& [q, unused] : all) {
    QuotaUsage want = expected[q];
    auto it = s.quota_usage.find(q);
    QuotaUsage have = it == s.quota_usage.end() ? QuotaUsage() : it->second;
    if (want.bytes() != have.bytes() || want.inodes() != have.inodes()) {
      r.problems.push_back(fmt::format("quota of {}: usage {} bytes {} inodes, expected {} / {}", q,
                                       have.bytes(), have.inodes(), want.bytes(), want.inodes()));
    }
  }
}

}  // namespace

Result<FsckReport> Fsck(kv::Engine& engine) {
  HF3FS_TRY_ASSIGN(auto txn, engine.Begin(kv::TxnOptions{.read_only = true}));
  HF3FS_TRY_ASSIGN(auto s, Load(*txn));
  FsckReport r;
  r.inodes = s.inodes.size();
  r.entries = s.entries.size();
  r.gc_entries = s.gc.size();
  r.sessions = s.session_inodes.size();
  if (!s.inodes.count(kRootInodeId.value())) r.problems.push_back("no root inode");
  std::map<uint64_t, uint32_t> links;
  CheckEntries(s, r, links);
  for (const auto& [id, inode] : s.inodes) {
    if (inode.id() != id)
      r.problems.push_back(fmt::format("inode key {} holds id {}", id, inode.id()));
    CheckInode(s, inode, links[id], r);
  }
  for (uint64_t id : s.gc) {
    auto it = s.inodes.find(id);
    if (it != s.inodes.end() && it->second.nlink() != 0) {
      r.problems.push_back(fmt::format("inode {} is linked but queued for GC", id));
    }
  }
  CheckQuotas(s, r);
  for (uint64_t id : s.session_inodes) {
    if (!s.inodes.count(id)) r.problems.push_back(fmt::format("session on missing inode {}", id));
  }
  return r;
}

}  // namespace hf3fs::meta
