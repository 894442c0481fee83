#include "meta/store/inode_allocator.h"

#include "meta/store/meta_store.h"

namespace hf3fs::meta {

InodeAllocator::InodeAllocator(kv::Engine& engine, kv::RetryOptions retry)
    : engine_(engine), retry_(retry), rng_(std::random_device{}()) {}

Result<InodeId> InodeAllocator::Allocate() {
  std::lock_guard lock(mu_);
  if (next_ == end_) {
    // Holding the lock while reserving keeps one reservation in flight per allocator; a block
    // serves kBlockIds creates, so the wait is rare.
    auto shard = static_cast<uint8_t>(rng_() % kShards);
    HF3FS_TRY_ASSIGN(uint64_t block, ReserveBlock(shard));
    next_ = BlockStart(block);
    end_ = next_ + kBlockIds;
  }
  return InodeId(next_++);
}

Result<uint64_t> InodeAllocator::ReserveBlock(uint8_t shard) {
  HF3FS_TRY_ASSIGN(uint64_t block, ReserveBlockUnsynced(shard));
  // Flushed before any id of the block is used: in window durability a power loss could
  // otherwise roll the counter back while chunks written under the block's ids survive on the
  // storage nodes, and a new file would be handed an id whose old chunks it then reads. One
  // flush per kBlockIds ids.
  HF3FS_TRY(engine_.Sync());
  return block;
}

Result<uint64_t> InodeAllocator::ReserveBlockUnsynced(uint8_t shard) {
  return kv::RunTransaction(engine_, retry_, [&](kv::Transaction& txn) -> Result<uint64_t> {
    auto key = store::AllocKey(shard);
    HF3FS_TRY_ASSIGN(auto v, txn.Get(key));
    uint64_t count = 0;
    if (v) {
      if (v->size() != 8) return Status(StatusCode::kDataCorruption, "IALC value is not 8 bytes");
      count = store::ReadBE64(*v);
    }
    std::string next;
    store::AppendBE64(next, count + 1);
    HF3FS_TRY(txn.Set(key, next));
    return count * kShards + shard;
  });
}

}  // namespace hf3fs::meta
