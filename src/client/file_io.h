// FileIo: file-level data I/O over the storage client (ARCHITECTURE.md section 5): a byte range of
// a file becomes per-chunk operations at the chains its layout names (docs/design/0005-meta.md,
// "Layouts"), run concurrently. Used by the FUSE daemon, USRBIO, admin and bench tools.
//
// Chunk i of inode N is the chunk id MakeChunkId(N, i) (16 bytes, big-endian) on chain
// ChainOfChunk(layout, table, i); a chunk that does not exist reads as zeros (a hole), and reads
// stop at the file length the caller passes. Thread-safe.
#pragma once

#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "client/mgmtd_client.h"
#include "client/storage_client.h"
#include "meta.pb.h"

namespace hf3fs::client {

// A file's placement, resolved against one routing view.
class FileLayout {
 public:
  // kInvalidArgument when the inode has no layout (chain table 0) or its chain table (at the
  // layout's version, or the newest when the layout does not name one) is unknown to routing.
  static Result<FileLayout> Make(const meta::Inode& inode, const RoutingView& view);

  uint64_t chunk_size() const { return layout_.chunk_size(); }
  ChainId ChainOf(uint64_t chunk_index) const;
  // The distinct chains the file's chunks can be on (one per stripe slot).
  std::vector<ChainId> Chains() const;

 private:
  meta::Layout layout_;
  std::vector<uint32_t> table_;
  std::vector<uint32_t> slots_;  // chain of stripe slot i (computed once per layout)
};

// The id of chunk `index` of inode `inode` (same bytes as chunk::MakeChunkId).
std::string FileChunkId(uint64_t inode, uint64_t index);

class FileIo {
 public:
  FileIo(StorageClient& storage, RoutingCache& routing) : storage_(storage), routing_(routing) {}

  // Reads [offset, offset + out.size()) of a file of `length` bytes into `out`; returns the bytes
  // read (fewer at the end of the file; holes read as zeros).
  awaitable<Result<size_t>> Read(const meta::Inode& inode, uint64_t length, uint64_t offset,
                                 std::span<uint8_t> out);
  // One read of a batch (ReadMany).
  struct BatchRead {
    const meta::Inode* inode = nullptr;  // outlives the call
    uint64_t length = 0;  // the file's length: the read stops there
    uint64_t offset = 0;
    std::span<uint8_t> out;
    // Results:
    Status status;
    size_t bytes = 0;   // read (fewer at the end of the file)
    bool hole = false;  // part of the range read as zeros because no chunk data was there
  };
  // Runs the reads of possibly different files together: the chunk reads of all of them that go
  // to one storage node travel in one request. Each read gets its own result.
  awaitable<void> ReadMany(std::span<BatchRead> reads, bool allow_uncommitted = false);
  // Writes `data` at `offset`; returns when every chunk write is acknowledged by its whole chain.
  // The chains written to are added to `*chains` (when given), also when the write fails.
  awaitable<Status> Write(const meta::Inode& inode, uint64_t offset,
                          std::span<const uint8_t> data, std::vector<ChainId>* chains = nullptr);
  // Makes what was acknowledged on `chains` power-safe on every replica, the chains at once.
  awaitable<Status> SyncChains(std::vector<ChainId> chains);
  // Every chain the file's chunks can be on.
  awaitable<Result<std::vector<ChainId>>> AllChains(const meta::Inode& inode);
  // Makes [offset, offset + length) read as zeros: whole chunks are removed, partial ones get
  // zeros written (bytes past the file's end are not created).
  awaitable<Status> PunchHole(const meta::Inode& inode, uint64_t file_length, uint64_t offset,
                              uint64_t length);

  StorageClient& storage() { return storage_; }

 private:
  awaitable<Result<FileLayout>> Layout(const meta::Inode& inode);

  StorageClient& storage_;
  RoutingCache& routing_;
  // Resolved layouts of recently used files, valid for one routing version.
  struct Cached {
    uint64_t routing_version = 0;
    meta::Layout layout;
    FileLayout resolved;
  };
  std::mutex cache_mu_;
  std::unordered_map<uint64_t, Cached> cache_;
};

}  // namespace hf3fs::client
