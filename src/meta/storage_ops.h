// What the meta server asks of the storage service (docs/design/0005-meta.md, "Storage access"):
// delete a file's chunks (GC), cut them at a new length (truncate), find the length storage holds
// (close/sync with query_length, sessions of dead clients), and the file system's capacity
// (statfs). The arithmetic is in free functions so it is testable without a cluster.
//
// A file's chunk i lives on ChainOfChunk(layout, table, i) (meta/layout.h); with stripe S the
// chains of a file are those of chunks 0..S-1, and every chain holds the chunks of one file as one
// contiguous id range (chunk::FileChunkRange), so each per-file operation is one range call per
// distinct chain.
#pragma once

#include <cstdint>
#include <vector>

#include "client/mgmtd_client.h"
#include "client/storage_client.h"
#include "meta.pb.h"
#include "mgmtd.pb.h"

namespace hf3fs::meta {

// The chain ids of `layout`'s chain table from routing info: version chain_table_version when
// nonzero, else the newest. kMetaInvalid when routing info has no such table (or version).
Result<std::vector<uint32_t>> ChainTableOf(const Layout& layout, const mgmtd::RoutingInfo& info);

// The distinct chains holding chunks of a file with `layout` (ChainOfChunk of chunks
// 0..stripe-1, first occurrence order). Empty for a file without a layout.
Result<std::vector<uint32_t>> FileChains(const Layout& layout, const std::vector<uint32_t>& table);

// Where a truncate to `new_length` cuts a file of chunks of `chunk_size` bytes: chunks with an
// index >= first_removed are removed whole; when the new length is not chunk-aligned, chunk
// `partial_index` keeps its first `partial_length` bytes.
struct ChunkCut {
  uint64_t first_removed = 0;  // ceil(new_length / chunk_size)
  bool has_partial = false;
  uint64_t partial_index = 0;  // new_length / chunk_size
  uint32_t partial_length = 0;  // new_length % chunk_size
};
ChunkCut CutAt(uint64_t new_length, uint64_t chunk_size);

// The file length a chunk implies: index × chunk_size + the chunk's length.
uint64_t LengthThrough(uint64_t chunk_index, uint64_t chunk_length, uint64_t chunk_size);

// Capacity from the targets' reports in routing info. Targets on one disk (node id, disk index)
// all report that disk's free space, so free space is taken once per disk (the largest report)
// and a disk's capacity is its free space plus the used bytes of its targets. Totals are divided
// by the replication factor: the most common chain length (at least 1). used_inodes is 0.
StatFsRsp StatFsFromRouting(const mgmtd::RoutingInfo& info);

// The chunk-level operations on one file, through the storage client. Coroutines; callable
// concurrently from any executor. `inode` must be a file; a file without a layout has no chunks
// (every call succeeds at once). Failures are the storage client's (kTimeout, kUnavailable, ...)
// or kMetaInvalid when routing info lacks the layout's chain table.
class StorageOps {
 public:
  // Both must outlive this object.
  StorageOps(client::StorageClient& storage, client::RoutingCache& routing)
      : storage_(storage), routing_(routing) {}

  // Removes every chunk of the file on every chain of its layout.
  net::awaitable<Status> RemoveFileChunks(const Inode& inode);
  // Removes the chunks wholly past `new_length` and cuts the chunk containing it. A missing
  // partial chunk stays missing, and one already no longer than the cut is left alone.
  net::awaitable<Status> TruncateFileChunks(const Inode& inode, uint64_t new_length);
  // The length the committed chunks imply: max over chains of LengthThrough(last chunk); 0 when
  // the file has no committed chunk, or when routing info has no chain table of its layout (no
  // client can have written it). RemoveFileChunks and TruncateFileChunks fail in that case.
  net::awaitable<Result<uint64_t>> QueryFileLength(const Inode& inode);
  // StatFsFromRouting over the current routing info (refreshed first when none is cached yet).
  net::awaitable<Result<StatFsRsp>> StatFs();

 private:
  // The layout's chain table (empty for an explicit chain list or no layout), refreshing routing
  // info once when it lacks the table.
  net::awaitable<Result<std::vector<uint32_t>>> Table(const Layout& layout);
  net::awaitable<Result<std::vector<uint32_t>>> Chains(const Layout& layout);
  net::awaitable<Status> RemoveRange(uint32_t chain, std::string begin, const std::string& end);

  client::StorageClient& storage_;
  client::RoutingCache& routing_;
};

}  // namespace hf3fs::meta
