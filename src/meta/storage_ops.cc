#include "meta/storage_ops.h"

#include <algorithm>
#include <map>

#include "chunk/chunk_id.h"
#include "common/check.h"
#include "meta/layout.h"

namespace hf3fs::meta {

Result<std::vector<uint32_t>> ChainTableOf(const Layout& layout, const mgmtd::RoutingInfo& info) {
  const mgmtd::ChainTableRecord* found = nullptr;
  for (const auto& t : info.chain_tables()) {
    if (t.table_id() != layout.chain_table_id()) continue;
    if (layout.chain_table_version() != 0) {
      if (t.version() == layout.chain_table_version()) found = &t;
    } else if (!found || found->version() < t.version()) {
      found = &t;
    }
  }
  if (!found) {
    return MakeStatus(StatusCode::kMetaInvalid, "routing info has no chain table {} version {}",
                      layout.chain_table_id(), layout.chain_table_version());
  }
  return std::vector<uint32_t>(found->chain_ids().begin(), found->chain_ids().end());
}

Result<std::vector<uint32_t>> FileChains(const Layout& layout, const std::vector<uint32_t>& table) {
  std::vector<uint32_t> out;
  if (layout.chain_table_id() == 0 || layout.stripe_size() == 0) return out;
  for (uint32_t i = 0; i < layout.stripe_size(); ++i) {
    HF3FS_TRY_ASSIGN(uint32_t chain, ChainOfChunk(layout, table, i));
    if (std::find(out.begin(), out.end(), chain) == out.end()) out.push_back(chain);
  }
  return out;
}

ChunkCut CutAt(uint64_t new_length, uint64_t chunk_size) {
  HF3FS_CHECK(chunk_size != 0);
  ChunkCut c;
  c.partial_index = new_length / chunk_size;
  c.partial_length = static_cast<uint32_t>(new_length % chunk_size);
  c.has_partial = c.partial_length != 0;
  c.first_removed = c.partial_index + (c.has_partial ? 1 : 0);
  return c;
}

uint64_t LengthThrough(uint64_t chunk_index, uint64_t chunk_length, uint64_t chunk_size) {
  return chunk_index * chunk_size + chunk_length;
}

StatFsRsp StatFsFromRouting(const mgmtd::RoutingInfo& info) {
  struct Disk {
    uint64_t free = 0;
    uint64_t used = 0;
  };
  std::map<std::pair<uint32_t, uint32_t>, Disk> disks;
  for (const auto& t : info.targets()) {
    auto& d = disks[{t.node_id(), t.disk_index()}];
    // Every target of a disk reports the disk's free space and slot usage (one chunk engine per
    // disk holds all its targets): count each disk once.
    d.free = std::max(d.free, t.free_bytes());
    d.used = std::max(d.used, t.used_bytes());
  }
  std::map<int, uint32_t> lengths;  // chain length -> chains
  for (const auto& c : info.chains()) ++lengths[c.targets_size()];
  uint64_t replicas = 1;
  uint32_t most = 0;
  for (const auto& [len, n] : lengths) {
    if (n > most && len > 0) {
      most = n;
      replicas = static_cast<uint64_t>(len);
    }
  }
  uint64_t total = 0, free = 0;
  for (const auto& [key, d] : disks) {
    total += d.free + d.used;
    free += d.free;
  }
  StatFsRsp rsp;
  rsp.set_total_bytes(total / replicas);
  rsp.set_free_bytes(free / replicas);
  return rsp;
}

net::awaitable<Result<std::vector<uint32_t>>> StorageOps::Table(const Layout& layout) {
  if (layout.chain_table_id() == 0 || layout.chains_size() != 0) co_return std::vector<uint32_t>();
  auto info = routing_.Get();
  if (info) {
    auto table = ChainTableOf(layout, *info);
    if (table.ok()) co_return table;
  }
  // No routing info yet, or the table was uploaded after the last refresh.
  HF3FS_CO_TRY(co_await routing_.Refresh());
  info = routing_.Get();
  if (!info) co_return Status(StatusCode::kUnavailable, "no routing info yet");
  co_return ChainTableOf(layout, *info);
}

net::awaitable<Result<std::vector<uint32_t>>> StorageOps::Chains(const Layout& layout) {
  HF3FS_CO_TRY_ASSIGN(auto table, co_await Table(layout));
  co_return FileChains(layout, table);
}

net::awaitable<Status> StorageOps::RemoveRange(uint32_t chain, std::string begin,
                                               const std::string& end) {
  while (true) {
    HF3FS_CO_TRY_ASSIGN(auto r, co_await storage_.RemoveChunks(ChainId(chain), begin, end));
    if (!r.more()) co_return Status::Ok();
    begin = r.next();
  }
}

net::awaitable<Status> StorageOps::RemoveFileChunks(const Inode& inode) {
  HF3FS_CO_TRY_ASSIGN(auto chains, co_await Chains(inode.layout()));
  auto [begin, end] = chunk::FileChunkRange(InodeId(inode.id()));
  for (uint32_t chain : chains) {
    HF3FS_CO_TRY(co_await RemoveRange(chain, begin.bytes(), end.bytes()));
  }
  co_return Status::Ok();
}

net::awaitable<Status> StorageOps::TruncateFileChunks(const Inode& inode, uint64_t new_length) {
  const Layout& layout = inode.layout();
  HF3FS_CO_TRY_ASSIGN(auto table, co_await Table(layout));
  HF3FS_CO_TRY_ASSIGN(auto chains, FileChains(layout, table));
  if (chains.empty()) co_return Status::Ok();
  InodeId id(inode.id());
  ChunkCut cut = CutAt(new_length, layout.chunk_size());
  auto [begin, end] = chunk::FileChunkRange(id, cut.first_removed);
  for (uint32_t chain : chains) {
    HF3FS_CO_TRY(co_await RemoveRange(chain, begin.bytes(), end.bytes()));
  }
  if (!cut.has_partial) co_return Status::Ok();
  // Truncate creates a missing chunk (zero-filled), so look first: a hole must stay a hole.
  HF3FS_CO_TRY_ASSIGN(uint32_t chain, ChainOfChunk(layout, table, cut.partial_index));
  std::string partial = chunk::MakeChunkId(id, cut.partial_index).bytes();
  std::string next = chunk::MakeChunkId(id, cut.partial_index + 1).bytes();
  HF3FS_CO_TRY_ASSIGN(auto q, co_await storage_.QueryLastChunk(ChainId(chain), partial, next));
  if (!q.has_last() || q.last().committed().length() <= cut.partial_length) {
    co_return Status::Ok();
  }
  auto r = co_await storage_.Truncate(ChainId(chain), partial,
                                      static_cast<uint32_t>(layout.chunk_size()),
                                      cut.partial_length);
  co_return r.status();
}

net::awaitable<Result<uint64_t>> StorageOps::QueryFileLength(const Inode& inode) {
  auto found = co_await Chains(inode.layout());
  // A layout whose chain table routing info does not have (even after a refresh) cannot have
  // been written through: no chunk, length 0 (which never lowers a length).
  if (!found.ok() && found.status().code() == StatusCode::kMetaInvalid) co_return uint64_t{0};
  HF3FS_CO_TRY_ASSIGN(auto chains, std::move(found));
  auto [begin, end] = chunk::FileChunkRange(InodeId(inode.id()));
  uint64_t length = 0;
  for (uint32_t chain : chains) {
    HF3FS_CO_TRY_ASSIGN(auto q,
                        co_await storage_.QueryLastChunk(ChainId(chain), begin.bytes(), end.bytes()));
    if (!q.has_last()) continue;
    auto parsed = chunk::ParseChunkId(chunk::ChunkId(q.last().chunk_id()));
    if (!parsed || parsed->first.value() != inode.id()) {
      co_return MakeStatus(StatusCode::kDataCorruption, "chain {} answered chunk {} for inode {}",
                           chain, chunk::ChunkId(q.last().chunk_id()), inode.id());
    }
    length = std::max(length, LengthThrough(parsed->second, q.last().committed().length(),
                                            inode.layout().chunk_size()));
  }
  co_return length;
}

net::awaitable<Result<StatFsRsp>> StorageOps::StatFs() {
  auto info = routing_.Get();
  if (!info) {
    HF3FS_CO_TRY(co_await routing_.Refresh());
    info = routing_.Get();
    if (!info) co_return Status(StatusCode::kUnavailable, "no routing info yet");
  }
  co_return StatFsFromRouting(*info);
}

}  // namespace hf3fs::meta
