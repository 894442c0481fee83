// Inode-id allocation (docs/design/0005-meta.md, "Inode ids").
//
// kShards counters `IALC + shard` each count the blocks of kBlockIds ids their shard handed out.
// Block b = count * kShards + shard covers ids [kFirstId + b * kBlockIds, ... + kBlockIds). A block
// is reserved by committing the incremented counter in its own transaction before any of its ids
// is used, and flushed (KV Sync) in window durability, so ids are unique across allocators,
// processes, restarts and power losses, and never reused; a crash wastes at most the rest of one
// block per allocator. kShards and kBlockIds are part of the
// on-disk format.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>

#include "common/ids.h"
#include "common/status.h"
#include "kv/engine.h"
#include "kv/retry.h"

namespace hf3fs::meta {

class InodeAllocator {
 public:
  static constexpr uint32_t kShards = 32;
  static constexpr uint64_t kBlockIds = 1024;
  static constexpr uint64_t kFirstId = 4096;  // ids below are reserved (1 = root)

  // `engine` must outlive the allocator.
  InodeAllocator(kv::Engine& engine, kv::RetryOptions retry);

  // A fresh inode id; KV errors of the block reservation (after retries) otherwise.
  Result<InodeId> Allocate();

  // The first id of block `block`.
  static uint64_t BlockStart(uint64_t block) { return kFirstId + block * kBlockIds; }

 private:
  Result<uint64_t> ReserveBlock(uint8_t shard);
  Result<uint64_t> ReserveBlockUnsynced(uint8_t shard);

  kv::Engine& engine_;
  kv::RetryOptions retry_;
  std::mutex mu_;
  std::mt19937_64 rng_;
  uint64_t next_ = 0;  // next id of the cached block
  uint64_t end_ = 0;   // end of the cached block
};

}  // namespace hf3fs::meta
