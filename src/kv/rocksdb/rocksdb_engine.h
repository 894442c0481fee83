// The RocksDB backend: the embedded default. One directory, one process (RocksDB's LOCK file makes
// a second open fail with kKvBackendError).
//
// Serializability (docs/design/0002-kv.md): optimistic transactions over a plain rocksdb::DB.
//   - Begin registers the transaction at the engine's visible version r and takes a RocksDB
//     snapshot afterwards. Writes are published in version order, so the snapshot holds every
//     version <= r and possibly some later ones, always a prefix of the commit order.
//   - Reads go to the snapshot through the transaction's write buffer; reads with conflicts record
//     keys and ranges.
//   - Commit, under the commit mutex: validate the read set against the write sets of versions > r
//     (occ::ConflictLog), take the next version, record the write set and queue the commit.
//   - Group commit: one queued committer at a time becomes the leader, takes the queue's head
//     (consecutive versions, up to max_group_commit_bytes), writes it as one WriteBatch (sync per
//     sync_wal) and publishes the versions; the others wait. Each group is atomic and groups are
//     written in version order, which is what keeps every snapshot a prefix of the commit order.
//     Writes become readable once their group reached the WAL: with Durability::kStrict the
//     group's WAL write is synced first; with kWindow it is a write(2) only (a process crash
//     loses nothing) and Sync() or the background flush (every sync_interval) syncs the WAL.
//   - A commit that loses to a version not yet visible waits (bounded) until it is, so that the
//     retry reads the winner's writes instead of conflicting again.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/durability.h"
#include "kv/engine.h"

namespace rocksdb {
class Env;
}

namespace hf3fs::kv {

struct RocksDbEngineOptions {
  std::string path;                               // the DB directory (created if missing)
  // kStrict: every commit's WAL write is synced before it returns; kWindow: commits reach the
  // kernel, and the WAL is synced by Sync() and at least every sync_interval.
  Durability durability = Durability::kWindow;
  std::chrono::milliseconds sync_interval{1000};
  uint64_t max_group_commit_bytes = 16ull << 20;  // bound of one group's WriteBatch
  uint64_t conflict_log_max_bytes = 64ull << 20;  // see occ::ConflictLog
  uint64_t block_cache_bytes = 64ull << 20;
  std::chrono::milliseconds conflict_wait{1000};  // longest wait for a conflicting version
  rocksdb::Env* env = nullptr;  // tests: a power-loss simulating Env (kv/rocksdb/power_loss_fs.h)
};

// kKvBackendError when the directory cannot be opened (including: held by another process).
Result<std::unique_ptr<Engine>> OpenRocksDbEngine(const RocksDbEngineOptions& options);

}  // namespace hf3fs::kv
