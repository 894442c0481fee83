// MetaStore: the engine's RocksDB (layout record + one record per chunk),
// docs/formats/chunk-engine.md.
//
// Every write is one atomic WriteBatch; with sync it is durable when Write returns ok, without it
// it reached the kernel (a process crash keeps it; the next synced write makes it durable too:
// RocksDB's WAL is one sequence). RocksDB errors become Status: no space -> kNoSpace, anything else ->
// kIoError (the caller treats it as a disk error).
//
// Thread safety: all methods are thread-safe (RocksDB is).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chunk/chunk_meta.h"
#include "common/status.h"

namespace rocksdb {
class DB;
class Env;
}

namespace hf3fs::chunk {

// Changes to apply atomically.
class MetaBatch {
 public:
  void Put(const ChunkMeta& meta);
  void Delete(TargetId target, const ChunkId& chunk_id);
  void PutDurableEpoch(const DurableEpoch& d);
  void PutJournal(const JournalRecord& record);
  void DeleteJournal(TargetId target, const ChunkId& chunk_id, uint64_t version, uint64_t epoch);
  // Appends the changes of `other` (applied after this batch's own).
  void Append(const MetaBatch& other);
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }

 private:
  friend class MetaStore;
  std::vector<std::pair<std::string, std::optional<std::string>>> ops_;  // key, value (or delete)
};

class MetaStore {
 public:
  ~MetaStore();
  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  // Opens (creating when missing) the database in `path`. kUnavailable when another process or
  // engine holds it. `env`: null for the default (tests pass a power-loss simulating one).
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& path,
                                                 rocksdb::Env* env = nullptr);

  Result<std::optional<Layout>> GetLayout();
  Status PutLayout(const Layout& layout);

  // The record of a chunk, or nullopt.
  Result<std::optional<ChunkMeta>> Get(TargetId target, const ChunkId& chunk_id);
  // The durable-epoch record, or nullopt (a directory never synced in window durability).
  Result<std::optional<DurableEpoch>> GetDurableEpoch();

  // Applies a batch atomically; durably when `sync`.
  Status Write(const MetaBatch& batch, bool sync = true);

  // Makes every write so far durable (syncs the WAL), as the next synced write would.
  Status SyncWal();

  // Calls fn for each journal record, in key order (one chunk's records by version), until fn
  // returns false; a malformed record stops the scan with kDataCorruption.
  Status ScanJournal(const std::function<bool(JournalRecord&&)>& fn);

  // Calls fn for each chunk record with key in [begin_key, end_key) (empty end: no bound), in
  // key order, until fn returns false. Records are decoded and validated; a malformed one stops
  // the scan with kDataCorruption. The scan sees one consistent snapshot.
  Status Scan(std::string_view begin_key, std::string_view end_key,
              const std::function<bool(ChunkMeta&&)>& fn);

 private:
  explicit MetaStore(rocksdb::DB* db) : db_(db) {}
  rocksdb::DB* db_;
};

}  // namespace hf3fs::chunk
