// One libpq connection to the PostgreSQL KV store, with the kv statements prepared.
//
// Every libpq failure becomes a Status here (see MapPgError): serialization failures and deadlocks
// are the retryable kTxnConflict; a lost or refused connection and server shutdown are the
// retryable kKvUnavailable; everything else is kKvBackendError. Used by one thread at a time.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hf3fs::kv::pg {

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// The statements prepared on every connection (names are the enum's value).
enum class Stmt {
  kGet,         // $1 key -> value
  kExists,      // $1 key -> 1 (reads the key without returning its value)
  kRangeAsc,    // $1 begin, $2 end, $3 limit or NULL -> key, value ascending
  kRangeDesc,   // same, descending
  kCountRange,  // $1 begin, $2 end -> count (reads the whole range)
  kSet,         // $1 key, $2 value -> transaction id
  kClear,       // $1 key -> transaction id
  kClearRange,  // $1 begin, $2 end -> transaction id
  kXactStatus,  // $1 transaction id (text) -> committed | aborted | in progress | NULL
  kGetMany,     // $1 bytea[] keys -> key, value of those that exist
  kXactId,      // -> the transaction's id (assigning one)
  kCount,
};

// A statement parameter: bytes (binary bytea), text, an int8, or NULL.
struct PgParam {
  enum class Kind { kBytes, kText, kInt8, kNull };
  Kind kind = Kind::kNull;
  std::string_view bytes;
  int64_t int8 = 0;
  static PgParam Bytes(std::string_view b) { return PgParam{Kind::kBytes, b, 0}; }
  // Text parameters are sent NUL-terminated: t.data()[t.size()] must be 0 (std::string data).
  static PgParam Text(std::string_view t) { return PgParam{Kind::kText, t, 0}; }
  static PgParam Int8(int64_t v) { return PgParam{Kind::kInt8, {}, v}; }
  static PgParam Null() { return PgParam{}; }
};

// The binary encoding of a one-dimensional bytea[] (for kGetMany's parameter).
std::string EncodeByteaArray(const std::vector<std::string_view>& items);

// One step of a pipeline: a parameterless command ("BEGIN ...", "COMMIT") or a prepared
// statement with its parameters.
struct PipelineStep {
  const char* command = nullptr;
  Stmt stmt = Stmt::kGet;
  std::vector<PgParam> params;
};

// Maps a failed libpq call (res may be null) to a Status; `what` names the operation.
Status MapPgError(PGconn* conn, const PGresult* res, std::string_view what);

// Whether a table name is a plain identifier ([a-z_][a-z0-9_]*, at most 63 bytes).
bool IsValidTableName(std::string_view table);

class PgConnection {
 public:
  // Connects (bounded by connect_timeout unless conninfo sets its own) without preparing.
  // kKvUnavailable when the server cannot be reached.
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo,
                                                       std::chrono::milliseconds connect_timeout);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Creates the table if missing (serialized across processes by an advisory lock).
  Status EnsureTable(const std::string& table);
  // Prepares every Stmt for `table`.
  Status Prepare(const std::string& table);

  // Runs a parameterless command ("BEGIN ...", "COMMIT"); ok when it returns no rows.
  Status Command(const char* sql);
  // Runs a prepared statement with binary parameters and binary results; ok when it returns
  // tuples.
  Result<PgResultPtr> Query(Stmt stmt, const std::vector<PgParam>& params);
  // Sends every step at once and reads every answer (libpq pipeline mode): one round trip for
  // them all. The result of each step, or the first failure (the server skips the steps after
  // it).
  Result<std::vector<PgResultPtr>> Pipeline(const std::vector<PipelineStep>& steps);

  // False once libpq reports the connection broken.
  bool healthy() const { return PQstatus(conn_) == CONNECTION_OK; }
  // The libpq connection, for statements the kv layer does not prepare (tests).
  PGconn* raw() { return conn_; }
  // libpq's transaction status (idle, in transaction, in error, unknown).
  PGTransactionStatusType transaction_status() const { return PQtransactionStatus(conn_); }

  // Ends the open transaction lazily: the ROLLBACK travels in front of the next statement (or
  // is sent by EndPendingRollback), so a read-only transaction costs no round trip to end.
  void DeferRollback() {
    rollback_pending_ = true;
    pending_since_ = std::chrono::steady_clock::now();
  }
  bool rollback_pending() const { return rollback_pending_; }
  std::chrono::steady_clock::time_point pending_since() const { return pending_since_; }
  // Sends a deferred ROLLBACK now (one round trip); a no-op without one.
  Status EndPendingRollback();

  uint64_t generation = 0;  // set by the pool

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
  bool rollback_pending_ = false;
  std::chrono::steady_clock::time_point pending_since_;
};

}  // namespace hf3fs::kv::pg
