#include "kv/rocksdb/rocksdb_engine.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "common/logging.h"
#include "kv/kv_metrics.h"
#include "kv/occ/conflict_log.h"
#include "kv/occ/occ_transaction.h"

namespace hf3fs::kv {
namespace {

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  return MakeStatus(StatusCode::kKvBackendError, "rocksdb {}: {}", what, s.ToString());
}

class RocksCursor final : public occ::SnapshotCursor {
 public:
  RocksCursor(rocksdb::DB* db, const rocksdb::Snapshot* snapshot, std::string_view begin,
              std::string_view end, bool reverse)
      : begin_(begin), end_(end), lower_(begin_), upper_(end_), reverse_(reverse) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    ro.iterate_lower_bound = &lower_;
    ro.iterate_upper_bound = &upper_;
    it_.reset(db->NewIterator(ro));
    if (reverse_) {
      it_->SeekToLast();
    } else {
      it_->SeekToFirst();
    }
  }

  bool Valid() const override { return it_->Valid(); }
  std::string_view key() const override { return ToView(it_->key()); }
  std::string_view value() const override { return ToView(it_->value()); }
  void Next() override {
    if (reverse_) {
      it_->Prev();
    } else {
      it_->Next();
    }
  }
  void SkipTo(std::string_view bound) override {
    if (!it_->Valid()) return;
    if (!reverse_) {
      if (key() < bound) it_->Seek(ToSlice(bound));
    } else if (key() >= bound) {
      it_->SeekForPrev(ToSlice(bound));
      if (it_->Valid() && key() == bound) it_->Prev();
    }
  }
  Status status() const override {
    auto s = it_->status();
    return s.ok() ? Status::Ok() : FromRocks(s, "iterate");
  }

 private:
  const std::string begin_;
  const std::string end_;
  const rocksdb::Slice lower_;
  const rocksdb::Slice upper_;
  const bool reverse_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

class RocksSnapshot final : public occ::SnapshotReader {
 public:
  explicit RocksSnapshot(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~RocksSnapshot() override { db_->ReleaseSnapshot(snapshot_); }

  Result<std::optional<std::string>> Get(std::string_view key) override {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    std::string value;
    auto s = db_->Get(ro, ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "get");
    return std::optional<std::string>(std::move(value));
  }

  std::unique_ptr<occ::SnapshotCursor> Scan(std::string_view begin, std::string_view end,
                                            bool reverse) override {
    return std::make_unique<RocksCursor>(db_, snapshot_, begin, end, reverse);
  }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

// A validated commit waiting for its group to be written.
struct PendingCommit {
  uint64_t version = 0;
  const occ::WriteBuffer* writes = nullptr;
  Status result;
  bool done = false;
};

class RocksDbEngine final : public Engine, public occ::OccBackend {
 public:
  RocksDbEngine(const RocksDbEngineOptions& options, rocksdb::DB* db)
      : options_(options),
        db_(db),
        log_(options.conflict_log_max_bytes),
        metrics_(&KvMetrics::For("rocksdb")),
        group_writes_(metrics::Registry::Global().GetCounter(
            "hf3fs_kv_rocksdb_group_writes_total",
            "WriteBatches written by group commit (commits per group = commits / this)")),
        sync_([this] { return SyncWal(); }) {
    if (options_.durability == Durability::kWindow) {
      sync_.StartPeriodic(options_.sync_interval, [this] {
        std::lock_guard lock(mu_);
        return log_.visible_version() > durable_version_;
      });
    }
  }

  ~RocksDbEngine() override {
    HF3FS_CHECK_MSG(log_.readers() == 0, "rocksdb engine destroyed with open transactions");
    sync_.StopPeriodic();
    if (options_.durability == Durability::kWindow) {
      // A clean shutdown leaves nothing to a later power loss.
      Status st = sync_.Sync();
      if (!st.ok()) HF3FS_LOG_WARN("kv.rocksdb_final_sync_failed error=\"{}\"", st);
    }
    auto s = db_->Close();
    if (!s.ok())
      HF3FS_LOG_WARN("kv.rocksdb_close_failed path={} error=\"{}\"", options_.path, s.ToString());
  }

  Result<std::unique_ptr<Transaction>> Begin(TxnOptions options) override {
    uint64_t read_version;
    {
      std::lock_guard lock(mu_);
      read_version = log_.BeginRead();
    }
    // Taken after reading the visible version, so it holds at least every version <= it.
    auto snapshot = std::make_unique<RocksSnapshot>(db_.get());
    return std::unique_ptr<Transaction>(std::make_unique<occ::OccTransaction>(
        options, read_version, std::move(snapshot), this, metrics_));
  }

  std::string_view backend() const override { return "rocksdb"; }

  Status Sync() override {
    if (options_.durability == Durability::kStrict) return Status::Ok();
    {
      std::lock_guard lock(mu_);
      if (log_.visible_version() <= durable_version_) return Status::Ok();  // nothing new
    }
    return sync_.Sync();
  }

  Status CommitWrites(uint64_t read_version, const occ::KeyRangeSet& reads,
                      const occ::WriteBuffer& writes) override {
    occ::KeyRangeSet write_set = writes.WriteSet();
    PendingCommit commit;
    commit.writes = &writes;
    std::unique_lock lock(mu_);
    uint64_t conflict_version = 0;
    Status st = log_.Validate(read_version, reads, &conflict_version);
    if (!st.ok()) {
      if (st.code() == StatusCode::kTxnConflict) {
        cv_.wait_for(lock, options_.conflict_wait,
                     [&] { return log_.visible_version() >= conflict_version; });
      }
      return st;
    }
    commit.version = log_.Append(std::move(write_set));
    queue_.push_back(&commit);
    while (!commit.done) {
      if (leader_active_) {
        cv_.wait(lock);
      } else {
        LeadGroup(lock);
      }
    }
    return commit.result;
  }

  void EndTransaction(uint64_t read_version) override {
    std::lock_guard lock(mu_);
    log_.EndRead(read_version);
  }

 private:
  // Writes the head of the queue as one batch. Called and returns with `lock` held; releases it
  // while writing.
  void LeadGroup(std::unique_lock<std::mutex>& lock) {
    leader_active_ = true;
    std::vector<PendingCommit*> group;
    uint64_t group_bytes = 0;
    while (!queue_.empty() && (group.empty() || group_bytes + queue_.front()->writes->bytes() <=
                                                    options_.max_group_commit_bytes)) {
      group_bytes += queue_.front()->writes->bytes();
      group.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();

    group_writes_->Inc();
    rocksdb::WriteBatch batch;
    Status st = BuildBatch(group, batch);
    if (st.ok()) {
      rocksdb::WriteOptions wo;
      wo.sync = options_.durability == Durability::kStrict;
      auto s = db_->Write(wo, &batch);
      if (!s.ok()) {
        st = FromRocks(s, "write");
        HF3FS_LOG_ERROR("kv.rocksdb_write_failed path={} commits={} error=\"{}\"", options_.path,
                        group.size(), s.ToString());
      }
    }

    lock.lock();
    for (auto* c : group) {
      c->result = st;
      c->done = true;
    }
    // A failed group wrote nothing; publishing its versions only lets later ones become visible
    // (their validation already treated its writes as committed, which is conservative).
    log_.Publish(group.back()->version);
    leader_active_ = false;
    cv_.notify_all();
  }

  // Syncs the WAL: every version published before the call becomes durable.
  Status SyncWal() {
    uint64_t target;
    {
      std::lock_guard lock(mu_);
      target = log_.visible_version();
    }
    auto start = std::chrono::steady_clock::now();
    auto s = db_->SyncWAL();
    if (!s.ok()) {
      metrics_->errors->Inc();
      HF3FS_LOG_ERROR("kv.rocksdb_sync_failed path={} error=\"{}\"", options_.path, s.ToString());
      return FromRocks(s, "sync wal");
    }
    metrics_->syncs->Inc();
    metrics_->sync_latency->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    std::lock_guard lock(mu_);
    durable_version_ = std::max(durable_version_, target);
    return Status::Ok();
  }

  static Status BuildBatch(const std::vector<PendingCommit*>& group, rocksdb::WriteBatch& batch) {
    // Version order, and within a commit cleared ranges before point writes (see WriteBuffer).
    // Entries of one batch get increasing sequence numbers, so later ones win.
    for (const auto* c : group) {
      for (const auto& [begin, end] : c->writes->cleared()) {
        auto s = batch.DeleteRange(ToSlice(begin), ToSlice(end));
        if (!s.ok()) return FromRocks(s, "batch delete range");
      }
      for (const auto& [key, value] : c->writes->points()) {
        auto s = value ? batch.Put(ToSlice(key), ToSlice(*value)) : batch.Delete(ToSlice(key));
        if (!s.ok()) return FromRocks(s, "batch write");
      }
    }
    return Status::Ok();
  }

  const RocksDbEngineOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::mutex mu_;               // guards log_, queue_, leader_active_
  std::condition_variable cv_;  // a group was published
  occ::ConflictLog log_;
  std::deque<PendingCommit*> queue_;  // validated commits in version order, not yet written
  bool leader_active_ = false;
  uint64_t durable_version_ = 0;  // versions up to here are in a synced WAL (window durability)
  const KvMetrics* metrics_;
  metrics::Counter* group_writes_;
  SharedSync sync_;  // last member: its background thread stops before the others go
};

}  // namespace

Result<std::unique_ptr<Engine>> OpenRocksDbEngine(const RocksDbEngineOptions& options) {
  if (options.path.empty()) {
    return Status(StatusCode::kInvalidArgument, "rocksdb backend needs a path (kv.rocksdb.path)");
  }
  rocksdb::Options ro;
  ro.create_if_missing = true;
  if (options.env != nullptr) ro.env = options.env;
  ro.IncreaseParallelism(2);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  ro.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Most point reads of meta miss (a name that does not exist yet, an idempotency record of a
  // first attempt): a bloom filter over the memtable's keys answers those without walking its
  // skip list, which otherwise took ~15 % of a meta server's CPU during creates.
  ro.memtable_whole_key_filtering = true;
  ro.memtable_prefix_bloom_size_ratio = 0.05;

  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(ro, options.path, &db);
  if (!s.ok()) {
    return MakeStatus(StatusCode::kKvBackendError,
                      "open rocksdb at {} (one process per directory): {}", options.path,
                      s.ToString());
  }
  HF3FS_LOG_INFO("kv.rocksdb_opened path={} durability={} sync_interval_ms={}", options.path,
                 ToString(options.durability), options.sync_interval.count());
  return std::unique_ptr<Engine>(std::make_unique<RocksDbEngine>(options, db));
}

}  // namespace hf3fs::kv
