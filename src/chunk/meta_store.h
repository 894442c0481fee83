// MetaStore: the engine's RocksDB (layout record + one record per chunk),
// docs/formats/chunk-engine.md.
//
// Every write is one WriteBatch written with sync = true, so a batch is durable and atomic when
// Write returns ok. RocksDB errors become Status: no space -> kNoSpace, anything else ->
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
}

namespace hf3fs::chunk {

// Changes to apply atomically.
class MetaBatch {
 public:
  void Put(const ChunkMeta& meta);
  void Delete(TargetId target, const ChunkId& chunk_id);
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
  // engine holds it.
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& path);

  Result<std::optional<Layout>> GetLayout();
  Status PutLayout(const Layout& layout);

  // The record of a chunk, or nullopt.
  Result<std::optional<ChunkMeta>> Get(TargetId target, const ChunkId& chunk_id);
  // Applies a batch durably (sync) and atomically.
  Status Write(const MetaBatch& batch);

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
