#include "chunk/meta_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace hf3fs::chunk {
namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  StatusCode code = StatusCode::kIoError;
  if (s.IsNoSpace()) code = StatusCode::kNoSpace;
  if (s.IsCorruption()) code = StatusCode::kDataCorruption;
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    code = StatusCode::kUnavailable;  // another engine holds the database's LOCK
  }
  return MakeStatus(code, "rocksdb {}: {}", what, s.ToString());
}

}  // namespace

void MetaBatch::Put(const ChunkMeta& meta) {
  ops_.emplace_back(EncodeChunkKey(meta.target, meta.chunk_id), EncodeChunkRecord(meta));
}

void MetaBatch::Delete(TargetId target, const ChunkId& chunk_id) {
  ops_.emplace_back(EncodeChunkKey(target, chunk_id), std::nullopt);
}

void MetaBatch::PutDurableEpoch(const DurableEpoch& d) {
  ops_.emplace_back(std::string(1, kDurableEpochKey), EncodeDurableEpoch(d));
}

void MetaBatch::PutJournal(const JournalRecord& record) {
  ops_.emplace_back(EncodeJournalKey(record.target, record.chunk_id, record.version, record.epoch),
                    EncodeJournalValue(record));
}

void MetaBatch::DeleteJournal(TargetId target, const ChunkId& chunk_id, uint64_t version,
                              uint64_t epoch) {
  ops_.emplace_back(EncodeJournalKey(target, chunk_id, version, epoch), std::nullopt);
}

void MetaBatch::Append(const MetaBatch& other) {
  ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end());
}

MetaStore::~MetaStore() {
  if (db_ != nullptr) {
    auto s = db_->Close();
    (void)s;  // the engine synced what it acknowledged; a close error loses nothing
    delete db_;
  }
}

Result<std::unique_ptr<MetaStore>> MetaStore::Open(const std::string& path, rocksdb::Env* env) {
  rocksdb::Options options;
  options.create_if_missing = true;
  if (env != nullptr) options.env = env;
  options.paranoid_checks = true;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 4;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // Records are small and few writes are batched; a modest memtable keeps recovery quick.
  options.write_buffer_size = 16 << 20;
  rocksdb::DB* db = nullptr;
  HF3FS_TRY(FromRocks(rocksdb::DB::Open(options, path, &db), "open " + path));
  return std::unique_ptr<MetaStore>(new MetaStore(db));
}

Result<std::optional<Layout>> MetaStore::GetLayout() {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(&kLayoutKey, 1), &value);
  if (s.IsNotFound()) return std::optional<Layout>();
  HF3FS_TRY(FromRocks(s, "get layout"));
  HF3FS_TRY_ASSIGN(Layout layout, DecodeLayout(value));
  return std::optional<Layout>(layout);
}

Status MetaStore::PutLayout(const Layout& layout) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, rocksdb::Slice(&kLayoutKey, 1), EncodeLayout(layout)),
                   "put layout");
}

Result<std::optional<ChunkMeta>> MetaStore::Get(TargetId target, const ChunkId& chunk_id) {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), EncodeChunkKey(target, chunk_id), &value);
  if (s.IsNotFound()) return std::optional<ChunkMeta>();
  HF3FS_TRY(FromRocks(s, "get"));
  HF3FS_TRY_ASSIGN(ChunkMeta meta, DecodeChunkRecord(value, target, chunk_id));
  return std::optional<ChunkMeta>(std::move(meta));
}

Result<std::optional<DurableEpoch>> MetaStore::GetDurableEpoch() {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(&kDurableEpochKey, 1), &value);
  if (s.IsNotFound()) return std::optional<DurableEpoch>();
  HF3FS_TRY(FromRocks(s, "get durable epoch"));
  HF3FS_TRY_ASSIGN(DurableEpoch d, DecodeDurableEpoch(value));
  return std::optional<DurableEpoch>(std::move(d));
}

Status MetaStore::Write(const MetaBatch& batch, bool sync) {
  rocksdb::WriteBatch wb;
  for (const auto& [key, value] : batch.ops_) {
    auto s = value ? wb.Put(key, *value) : wb.Delete(key);
    HF3FS_TRY(FromRocks(s, "batch"));
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return FromRocks(db_->Write(wo, &wb), "write");
}

Status MetaStore::Scan(std::string_view begin_key, std::string_view end_key,
                       const std::function<bool(ChunkMeta&&)>& fn) {
  rocksdb::ReadOptions ro;
  std::string end(end_key);
  rocksdb::Slice end_slice(end);
  if (!end.empty()) ro.iterate_upper_bound = &end_slice;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(rocksdb::Slice(begin_key.data(), begin_key.size())); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    if (key.empty() || key[0] != kChunkKeyPrefix) break;
    HF3FS_TRY_ASSIGN(auto ids, DecodeChunkKey(key));
    std::string_view value(it->value().data(), it->value().size());
    HF3FS_TRY_ASSIGN(ChunkMeta meta, DecodeChunkRecord(value, ids.first, std::move(ids.second)));
    if (!fn(std::move(meta))) return Status::Ok();
  }
  return FromRocks(it->status(), "scan");
}

Status MetaStore::SyncWal() { return FromRocks(db_->SyncWAL(), "sync wal"); }

Status MetaStore::ScanJournal(const std::function<bool(JournalRecord&&)>& fn) {
  rocksdb::ReadOptions ro;
  const char end_key = kJournalKeyPrefix + 1;
  rocksdb::Slice end_slice(&end_key, 1);
  ro.iterate_upper_bound = &end_slice;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(rocksdb::Slice(&kJournalKeyPrefix, 1)); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    std::string_view value(it->value().data(), it->value().size());
    HF3FS_TRY_ASSIGN(JournalRecord record, DecodeJournalRecord(key, value));
    if (!fn(std::move(record))) return Status::Ok();
  }
  return FromRocks(it->status(), "scan journal");
}

}  // namespace hf3fs::chunk
