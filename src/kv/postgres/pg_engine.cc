#include "kv/postgres/pg_engine.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "common/logging.h"
#include "kv/kv_metrics.h"
#include "kv/occ/write_buffer.h"
#include "kv/postgres/pg_connection.h"

namespace hf3fs::kv {
namespace {

using pg::PgConnection;
using pg::PgParam;
using pg::PgResultPtr;
using pg::PipelineStep;
using pg::Stmt;
using Clock = std::chrono::steady_clock;

std::string_view Field(PGresult* res, int row, int col) {
  return std::string_view(PQgetvalue(res, row, col),
                          static_cast<size_t>(PQgetlength(res, row, col)));
}

// A bounded pool of prepared connections. After a connection breaks, idle connections opened
// before it are dropped too (a server restart breaks them all), by bumping the generation.
class ConnectionPool {
 public:
  static constexpr auto kStaleSnapshot = std::chrono::seconds(1);

  explicit ConnectionPool(const PostgresEngineOptions& options) : options_(options) {}
  ~ConnectionPool() {
    HF3FS_CHECK_MSG(open_ == idle_.size(), "postgres engine destroyed with open transactions");
  }

  Result<std::unique_ptr<PgConnection>> Acquire() {
    std::unique_lock lock(mu_);
    auto deadline = Clock::now() + options_.pool_wait;
    while (true) {
      while (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        if (conn->generation == generation_) return conn;
        --open_;
      }
      if (open_ < options_.max_connections) break;
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          open_ >= options_.max_connections) {
        return MakeStatus(StatusCode::kKvUnavailable,
                          "no postgres connection free within {} ms ({} open)",
                          options_.pool_wait.count(), open_);
      }
    }
    ++open_;
    uint64_t generation = generation_;
    lock.unlock();
    auto conn = OpenPrepared();
    if (!conn.ok()) {
      Release(nullptr, /*healthy=*/false);
      return std::move(conn).status();
    }
    (*conn)->generation = generation;
    return conn;
  }

  // Returns a connection (or nullptr for one that was never opened). Unhealthy connections are
  // closed and invalidate the idle ones.
  // A connection that sat idle for a second with a deferred ROLLBACK (its snapshot keeps
  // VACUUM from removing dead rows) is ended here, one per call.
  void Release(std::unique_ptr<PgConnection> conn, bool healthy) {
    std::unique_ptr<PgConnection> stale;
    {
      std::lock_guard lock(mu_);
      if (conn && healthy && conn->generation == generation_) {
        idle_.push_back(std::move(conn));
      } else {
        --open_;
        if (!healthy) ++generation_;
      }
      if (!idle_.empty() && idle_.front()->rollback_pending() &&
          Clock::now() - idle_.front()->pending_since() > kStaleSnapshot) {
        stale = std::move(idle_.front());
        idle_.erase(idle_.begin());
      }
    }
    cv_.notify_one();
    if (stale) {
      bool ok = stale->EndPendingRollback().ok() && stale->healthy();
      Release(std::move(stale), ok);
    }
  }

  // Adds a connection opened outside the pool.
  void Adopt(std::unique_ptr<PgConnection> conn) {
    std::lock_guard lock(mu_);
    ++open_;
    conn->generation = generation_;
    idle_.push_back(std::move(conn));
  }

  Result<std::unique_ptr<PgConnection>> OpenPrepared() {
    HF3FS_TRY_ASSIGN(auto conn, PgConnection::Connect(options_.conninfo, options_.connect_timeout));
    HF3FS_TRY(conn->Prepare(options_.table));
    HF3FS_TRY(SetDurability(*conn));
    return conn;
  }

  Status SetDurability(PgConnection& conn) {
    if (options_.durability == Durability::kStrict) return Status::Ok();
    return conn.Command("SET synchronous_commit TO off");
  }

 private:
  const PostgresEngineOptions& options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  uint32_t open_ = 0;  // idle + checked out
  uint64_t generation_ = 0;
};

class PgTransaction final : public Transaction {
 public:
  PgTransaction(TxnOptions options, std::unique_ptr<PgConnection> conn, ConnectionPool* pool,
                const PostgresEngineOptions* engine_options, const KvMetrics* metrics)
      : options_(options),
        conn_(std::move(conn)),
        pool_(pool),
        engine_options_(engine_options),
        metrics_(metrics) {
    metrics_->begins->Inc();
  }
  ~PgTransaction() override { Cancel(); }

  Result<std::optional<std::string>> Get(std::string_view key) override { return ReadKey(key); }
  Result<std::optional<std::string>> SnapshotGet(std::string_view key) override {
    return ReadKey(key);
  }
  Result<RangeResult> GetRange(std::string_view begin, std::string_view end, uint32_t limit,
                               bool reverse) override {
    return ReadRange(begin, end, limit, reverse);
  }
  Result<RangeResult> SnapshotGetRange(std::string_view begin, std::string_view end, uint32_t limit,
                                       bool reverse) override {
    return ReadRange(begin, end, limit, reverse);
  }

  // Writes are kept here and sent with the COMMIT (or before a range read, which must see
  // them), all in one round trip; point reads of written keys are answered from the buffer.
  Status Set(std::string_view key, std::string_view value) override {
    HF3FS_TRY(CheckWritable(key.size() + value.size()));
    HF3FS_TRY(CheckKey(key));
    HF3FS_TRY(CheckValue(value));
    writes_.Set(key, value);
    write_bytes_ += key.size() + value.size();
    return Status::Ok();
  }

  Status Clear(std::string_view key) override {
    HF3FS_TRY(CheckWritable(key.size()));
    HF3FS_TRY(CheckKey(key));
    writes_.Clear(key);
    write_bytes_ += key.size();
    return Status::Ok();
  }

  Status ClearRange(std::string_view begin, std::string_view end) override {
    HF3FS_TRY(CheckWritable(begin.size() + end.size()));
    HF3FS_TRY(CheckRangeBounds(begin, end));
    if (begin >= end) return Status::Ok();
    writes_.ClearRange(begin, end);
    write_bytes_ += begin.size() + end.size();
    return Status::Ok();
  }

  Status Prefetch(std::span<const std::string> keys) override {
    HF3FS_TRY(CheckUsable());
    std::vector<std::string_view> wanted;
    size_t bytes = 0;
    for (const auto& k : keys) {
      HF3FS_TRY(CheckKey(k));
      const std::string* v;
      if (writes_.Find(k, &v) != occ::WriteBuffer::Lookup::kNotWritten) continue;
      if (cache_.count(k) != 0) continue;
      wanted.push_back(k);
      bytes += 2 * k.size() + 1;
    }
    if (wanted.empty()) return Status::Ok();
    HF3FS_TRY(CheckReadRoom(bytes));
    std::string array = pg::EncodeByteaArray(wanted);
    HF3FS_TRY_ASSIGN(auto res, Run(Stmt::kGetMany, {PgParam::Bytes(array)}));
    read_bytes_ += bytes;
    for (auto k : wanted) cache_.emplace(std::string(k), std::nullopt);
    for (int r = 0; r < PQntuples(res.get()); ++r) {
      cache_[std::string(Field(res.get(), r, 0))] = std::string(Field(res.get(), r, 1));
    }
    return Status::Ok();
  }

  Status AddReadConflict(std::string_view key) override {
    HF3FS_TRY(CheckUsable());
    HF3FS_TRY(CheckKey(key));
    HF3FS_TRY(CheckReadRoom(2 * key.size() + 1));
    HF3FS_TRY(Run(Stmt::kExists, {PgParam::Bytes(key)}));
    read_bytes_ += 2 * key.size() + 1;
    return Status::Ok();
  }

  Status AddReadConflictRange(std::string_view begin, std::string_view end) override {
    HF3FS_TRY(CheckUsable());
    HF3FS_TRY(CheckRangeBounds(begin, end));
    if (begin >= end) return Status::Ok();
    HF3FS_TRY(CheckReadRoom(begin.size() + end.size()));
    HF3FS_TRY(Run(Stmt::kCountRange, {PgParam::Bytes(begin), PgParam::Bytes(end)}, true));
    read_bytes_ += begin.size() + end.size();
    return Status::Ok();
  }

  Status Commit() override {
    HF3FS_TRY(CheckOpen());
    if (!failed_.ok()) {
      Close();
      return failed_;
    }
    auto start = Clock::now();
    Status st;
    if (options_.read_only) {
      // A snapshot that wrote nothing has nothing to commit: Close ends it lazily.
    } else if (begun_ || !writes_.empty()) {
      // BEGIN (when nothing was sent yet), every buffered write and COMMIT: one round trip.
      std::vector<PipelineStep> steps;
      int xid_step = AddBegin(steps);
      AddWrites(steps);
      steps.push_back(PipelineStep{.command = "COMMIT"});
      auto res = conn_->Pipeline(steps);
      if (res.ok() && xid_step >= 0) TakeXid((*res)[xid_step].get());
      begun_ = true;
      if (!res.ok()) st = res.status();
    }
    if (st.ok() && !xid_.empty() && LoseCommitReply()) {
      st = Status(StatusCode::kKvUnavailable, "injected fault: COMMIT reply lost");
    }
    if (!st.ok() && (st.code() == StatusCode::kKvUnavailable || !conn_->healthy())) {
      // The reply was lost: the commit may or may not have happened.
      HF3FS_LOG_WARN("kv.postgres_commit_reply_lost xid={} error=\"{}\"", xid_, st);
      st = xid_.empty() ? st : ResolveCommit();
    }
    if (st.ok() && !xid_.empty()) {
      metrics_->commit_latency->Observe(
          std::chrono::duration<double>(Clock::now() - start).count());
    }
    Close();
    return Count(st);
  }

  void Cancel() override {
    if (conn_ == nullptr) return;
    Close();
  }

  // The BEGIN travels with the first statement (or with the COMMIT): no round trip of its own.
  Status Begin() { return Status::Ok(); }

 private:
  Status CheckOpen() const {
    if (conn_ == nullptr) {
      return Status(StatusCode::kTxnClosed, "transaction already committed or cancelled");
    }
    return Status::Ok();
  }
  Status CheckUsable() const {
    HF3FS_TRY(CheckOpen());
    return failed_;
  }
  Status CheckWritable(size_t add_bytes) const {
    HF3FS_TRY(CheckUsable());
    if (options_.read_only) {
      return Status(StatusCode::kTxnReadOnly, "write in a read-only transaction");
    }
    if (write_bytes_ + add_bytes > kMaxTxnBytes) {
      return MakeStatus(StatusCode::kTxnTooLarge,
                        "transaction writes would reach {} bytes (max {})",
                        write_bytes_ + add_bytes, kMaxTxnBytes);
    }
    return Status::Ok();
  }
  Status CheckReadRoom(size_t add_bytes) const {
    if (read_bytes_ + add_bytes > kMaxTxnBytes) {
      return MakeStatus(StatusCode::kTxnTooLarge,
                        "transaction read conflicts would reach {} bytes (max {})",
                        read_bytes_ + add_bytes, kMaxTxnBytes);
    }
    return Status::Ok();
  }

  // BEGIN, when it was not sent yet; a transaction that may write also learns its id at once,
  // so that a COMMIT whose reply is lost can be resolved (pg_xact_status). Returns the index of
  // the step that answers the id, or -1.
  int AddBegin(std::vector<PipelineStep>& steps) {
    if (begun_) return -1;
    if (options_.read_only) {
      // A snapshot (the contract of a read-only transaction) and no predicate locks: it can
      // neither fail at COMMIT nor make a writer fail, so it may end lazily (Close).
      steps.push_back(PipelineStep{.command = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"});
      return -1;
    }
    steps.push_back(PipelineStep{.command = "BEGIN ISOLATION LEVEL SERIALIZABLE"});
    steps.push_back(PipelineStep{.stmt = Stmt::kXactId});
    return static_cast<int>(steps.size()) - 1;
  }

  // The buffered writes as statements, in the order that reproduces the calls: cleared ranges,
  // then point writes (occ::WriteBuffer). The parameters point into writes_.
  void AddWrites(std::vector<PipelineStep>& steps) {
    for (const auto& [begin, end] : writes_.cleared()) {
      steps.push_back(PipelineStep{.stmt = Stmt::kClearRange,
                                   .params = {PgParam::Bytes(begin), PgParam::Bytes(end)}});
    }
    for (const auto& [key, value] : writes_.points()) {
      if (value) {
        steps.push_back(PipelineStep{.stmt = Stmt::kSet,
                                     .params = {PgParam::Bytes(key), PgParam::Bytes(*value)}});
      } else {
        steps.push_back(PipelineStep{.stmt = Stmt::kClear, .params = {PgParam::Bytes(key)}});
      }
    }
  }

  void TakeXid(PGresult* res) {
    if (xid_.empty() && PQntuples(res) == 1) xid_ = std::string(Field(res, 0, 0));
  }

  // Runs a statement (after BEGIN when none was sent yet, and after the buffered writes when
  // `flush`, all in one round trip); a failure poisons the transaction (PostgreSQL aborted it).
  Result<PgResultPtr> Run(Stmt stmt, std::vector<PgParam> params, bool flush = false) {
    std::vector<PipelineStep> steps;
    int xid_step = AddBegin(steps);
    size_t first_write = steps.size();
    if (flush) AddWrites(steps);
    size_t writes = steps.size() - first_write;
    steps.push_back(PipelineStep{.stmt = stmt, .params = std::move(params)});
    Result<PgResultPtr> out = Status(StatusCode::kInternal, "no result");
    if (steps.size() == 1) {
      out = conn_->Query(stmt, steps[0].params);
    } else {
      auto res = conn_->Pipeline(steps);
      if (res.ok()) {
        if (xid_step >= 0) TakeXid((*res)[xid_step].get());
        out = std::move(res->back());
      } else {
        out = res.status();
      }
    }
    begun_ = true;
    if (!out.ok()) {
      Fail(out.status());
    } else if (writes > 0) {
      writes_ = occ::WriteBuffer();
      cache_.clear();  // values read before the writes may be stale now
    }
    return out;
  }

  Result<std::optional<std::string>> ReadKey(std::string_view key) {
    HF3FS_TRY(CheckUsable());
    HF3FS_TRY(CheckKey(key));
    const std::string* own = nullptr;
    switch (writes_.Find(key, &own)) {
      case occ::WriteBuffer::Lookup::kValue:
        return std::optional<std::string>(*own);
      case occ::WriteBuffer::Lookup::kCleared:
        return std::optional<std::string>();
      case occ::WriteBuffer::Lookup::kNotWritten:
        break;
    }
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    HF3FS_TRY(CheckReadRoom(2 * key.size() + 1));
    HF3FS_TRY_ASSIGN(auto res, Run(Stmt::kGet, {PgParam::Bytes(key)}));
    read_bytes_ += 2 * key.size() + 1;
    if (PQntuples(res.get()) == 0) return std::optional<std::string>();
    return std::optional<std::string>(std::string(Field(res.get(), 0, 0)));
  }

  Result<RangeResult> ReadRange(std::string_view begin, std::string_view end, uint32_t limit,
                                bool reverse) {
    HF3FS_TRY(CheckUsable());
    HF3FS_TRY(CheckRangeBounds(begin, end));
    RangeResult result;
    if (begin >= end) return result;
    HF3FS_TRY(CheckReadRoom(begin.size() + end.size()));
    // One row past the limit decides has_more (the same rows the OCC backends examine).
    PgParam lim = limit == 0 ? PgParam::Null() : PgParam::Int8(int64_t{limit} + 1);
    HF3FS_TRY_ASSIGN(auto res, Run(reverse ? Stmt::kRangeDesc : Stmt::kRangeAsc,
                                   {PgParam::Bytes(begin), PgParam::Bytes(end), lim},
                                   /*flush=*/true));
    read_bytes_ += begin.size() + end.size();
    int rows = PQntuples(res.get());
    result.has_more = limit != 0 && static_cast<uint32_t>(rows) > limit;
    int take = result.has_more ? static_cast<int>(limit) : rows;
    result.kvs.reserve(static_cast<size_t>(take));
    for (int r = 0; r < take; ++r) {
      result.kvs.push_back(
          KeyValue{std::string(Field(res.get(), r, 0)), std::string(Field(res.get(), r, 1))});
    }
    return result;
  }

  bool LoseCommitReply() {
    uint32_t every = engine_options_->fault_lose_commit_reply_every;
    if (every == 0) return false;
    static std::atomic<uint64_t> commits{0};
    return ++commits % every == 0;
  }

  // Records the first failure of a statement; Commit returns it (counted here, not there).
  void Fail(const Status& st) {
    if (!failed_.ok()) return;
    failed_ = st;
    if (st.code() == StatusCode::kTxnConflict) {
      metrics_->conflicts->Inc();
    } else {
      metrics_->errors->Inc();
    }
  }

  // Asks a new connection whether transaction xid_ committed, until commit_resolve_timeout.
  Status ResolveCommit() {
    auto deadline = Clock::now() + engine_options_->commit_resolve_timeout;
    auto backoff = std::chrono::milliseconds(20);
    Status last;
    while (true) {
      auto conn = pool_->OpenPrepared();
      if (conn.ok()) {
        auto res = (*conn)->Query(Stmt::kXactStatus, {PgParam::Text(xid_)});
        if (res.ok() && PQntuples(res->get()) == 1) {
          std::string_view status = PQgetisnull(res->get(), 0, 0) ? "" : Field(res->get(), 0, 0);
          HF3FS_LOG_INFO("kv.postgres_commit_resolved xid={} status=\"{}\"", xid_, status);
          if (status == "committed") return Status::Ok();
          if (status == "aborted") {
            return MakeStatus(StatusCode::kKvUnavailable,
                              "postgres connection lost during COMMIT; transaction {} aborted",
                              xid_);
          }
          if (status.empty()) {
            return MakeStatus(StatusCode::kTxnCommitUnknown,
                              "postgres no longer knows transaction {}", xid_);
          }
          last = MakeStatus(StatusCode::kKvUnavailable, "transaction {} still {}", xid_, status);
        } else {
          last = res.ok() ? Status(StatusCode::kKvBackendError, "no row") : res.status();
        }
      } else {
        last = conn.status();
      }
      if (Clock::now() + backoff > deadline) {
        return MakeStatus(StatusCode::kTxnCommitUnknown,
                          "postgres connection lost during COMMIT of transaction {}; could not "
                          "resolve within {} ms: {}",
                          xid_, engine_options_->commit_resolve_timeout.count(), last);
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    }
  }

  // Ends the PostgreSQL transaction if still open and returns the connection to the pool.
  // A read-only transaction's ROLLBACK travels with the connection's next statement instead.
  void Close() {
    bool healthy = conn_->healthy();
    if (healthy && conn_->transaction_status() != PQTRANS_IDLE && !conn_->rollback_pending()) {
      if (options_.read_only && failed_.ok()) {
        conn_->DeferRollback();
      } else {
        healthy = conn_->Command("ROLLBACK").ok() && conn_->transaction_status() == PQTRANS_IDLE;
      }
    }
    pool_->Release(std::move(conn_), healthy);
    conn_ = nullptr;
  }

  Status Count(Status st) {
    if (st.ok()) {
      metrics_->commits->Inc();
    } else if (st.code() == StatusCode::kTxnConflict) {
      metrics_->conflicts->Inc();
    } else {
      metrics_->errors->Inc();
    }
    return st;
  }

  const TxnOptions options_;
  std::unique_ptr<PgConnection> conn_;  // null once closed
  ConnectionPool* pool_;
  const PostgresEngineOptions* engine_options_;
  const KvMetrics* metrics_;
  Status failed_;    // the first failure; PostgreSQL aborted the transaction
  std::string xid_;  // the transaction id, once it wrote
  uint64_t write_bytes_ = 0;
  uint64_t read_bytes_ = 0;
  bool begun_ = false;                                                    // BEGIN was sent
  occ::WriteBuffer writes_;                                               // not sent yet
  std::map<std::string, std::optional<std::string>, std::less<>> cache_;  // Prefetch results
};

class PgEngine final : public Engine {
 public:
  explicit PgEngine(const PostgresEngineOptions& options)
      : options_(options), pool_(options_), metrics_(&KvMetrics::For("postgres")) {}

  Status Init() {
    if (!pg::IsValidTableName(options_.table)) {
      return MakeStatus(StatusCode::kInvalidArgument,
                        "postgres table name '{}' is not a plain identifier", options_.table);
    }
    HF3FS_TRY_ASSIGN(auto conn, PgConnection::Connect(options_.conninfo, options_.connect_timeout));
    HF3FS_TRY(conn->EnsureTable(options_.table));
    HF3FS_TRY(conn->Prepare(options_.table));
    HF3FS_TRY(pool_.SetDurability(*conn));
    pool_.Adopt(std::move(conn));
    if (options_.durability == Durability::kWindow) {
      sync_.StartPeriodic(options_.sync_interval,
                          [this] { return metrics_->commits->Value() != commits_at_sync_.load(); });
    }
    return Status::Ok();
  }

  ~PgEngine() override {
    sync_.StopPeriodic();
    if (options_.durability == Durability::kWindow) {
      Status st = sync_.Sync();
      if (!st.ok()) HF3FS_LOG_WARN("kv.postgres_final_sync_failed error=\"{}\"", st);
    }
  }

  Status Sync() override {
    if (options_.durability == Durability::kStrict) return Status::Ok();
    if (metrics_->commits->Value() == commits_at_sync_.load()) return Status::Ok();  // nothing new
    return sync_.Sync();
  }

  Result<std::unique_ptr<Transaction>> Begin(TxnOptions options) override {
    auto conn = pool_.Acquire();
    if (!conn.ok()) {
      metrics_->errors->Inc();
      return std::move(conn).status();
    }
    auto txn =
        std::make_unique<PgTransaction>(options, std::move(*conn), &pool_, &options_, metrics_);
    Status st = txn->Begin();
    if (!st.ok()) return st;  // counted by the transaction, whose destructor drops the connection
    return std::unique_ptr<Transaction>(std::move(txn));
  }

  std::string_view backend() const override { return "postgres"; }

 private:
  // Flushes PostgreSQL's WAL up to now: a transaction that writes a WAL record (a logical
  // message, which needs no table and no wal_level change) and commits with synchronous_commit
  // on waits for the flush of its commit record, and the WAL is one sequence, so every earlier
  // asynchronous commit is flushed with it.
  Status FlushWal() {
    uint64_t commits = metrics_->commits->Value();
    auto start = Clock::now();
    HF3FS_TRY_ASSIGN(auto conn, pool_.Acquire());
    Status st = conn->Command(
        "BEGIN; SET LOCAL synchronous_commit TO on; "
        "SELECT pg_logical_emit_message(true, 'hf3fs-sync', ''); COMMIT");
    bool healthy = st.ok() && conn->healthy();
    if (!st.ok() && conn->healthy() && conn->transaction_status() != PQTRANS_IDLE) {
      healthy = conn->Command("ROLLBACK").ok();
    }
    pool_.Release(std::move(conn), healthy);
    if (!st.ok()) {
      metrics_->errors->Inc();
      HF3FS_LOG_ERROR("kv.postgres_sync_failed error=\"{}\"", st);
      return st;
    }
    metrics_->syncs->Inc();
    metrics_->sync_latency->Observe(std::chrono::duration<double>(Clock::now() - start).count());
    commits_at_sync_ = commits;
    return Status::Ok();
  }

  const PostgresEngineOptions options_;
  ConnectionPool pool_;
  const KvMetrics* metrics_;
  std::atomic<uint64_t> commits_at_sync_{0};
  SharedSync sync_{[this] { return FlushWal(); }};  // last: its thread stops first
};

}  // namespace

Result<std::unique_ptr<Engine>> OpenPostgresEngine(const PostgresEngineOptions& options) {
  auto engine = std::make_unique<PgEngine>(options);
  HF3FS_TRY(engine->Init());
  HF3FS_LOG_INFO("kv.postgres_opened table={}", options.table);
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace hf3fs::kv
