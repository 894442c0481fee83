// The PostgreSQL backend: a store shared by several processes on several machines.
//
// Data lives in one table `<table>(key bytea PRIMARY KEY, value bytea NOT NULL)`, created at open
// if missing. bytea compares bytewise, the same order as the other backends.
//
// Every transaction is a PostgreSQL transaction at ISOLATION LEVEL SERIALIZABLE (SSI) on a pooled
// connection; every call is one statement (binary parameters and results), so read-your-writes and
// conflict detection are PostgreSQL's. Differences from the OCC backends (docs/design/0002-kv.md):
//   - Serialization failures (40001) and deadlocks (40P01) may surface from any call, not only
//     Commit, as kTxnConflict; the transaction is then poisoned.
//   - SnapshotGet / SnapshotGetRange are ordinary reads: SSI tracks them like Get (conservative).
//   - AddReadConflict reads the key; AddReadConflictRange counts the keys of the range (a scan).
//   - A read-only transaction may also fail with kTxnConflict.
// Connection loss: the call fails with kKvUnavailable (retryable); broken connections are dropped
// from the pool and the next Begin reconnects. If the connection breaks during COMMIT, Commit looks
// the transaction id up (pg_xact_status) on a new connection until commit_resolve_timeout: ok if
// it committed, kKvUnavailable if it did not, kTxnCommitUnknown if it cannot tell.
// Durability (docs/design/0009-durability.md): with Durability::kWindow every connection runs with
// synchronous_commit off, so COMMIT returns before PostgreSQL flushes its WAL (its WAL writer does
// within 3 x wal_writer_delay, and Sync() or the background flush every sync_interval at once);
// kStrict leaves synchronous_commit as the server has it (on by default). A crash of the PostgreSQL
// server itself (not only a power loss) may lose window-durability commits it had not flushed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/durability.h"
#include "kv/engine.h"

namespace hf3fs::kv {

struct PostgresEngineOptions {
  std::string conninfo;  // libpq connection string ("host=/tmp port=5432 dbname=hf3fs ...")
  std::string table = "kv";
  uint32_t max_connections = 16;  // pool bound: transactions open at once
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds pool_wait{10000};  // Begin waits this long for a pooled connection
  std::chrono::milliseconds commit_resolve_timeout{30000};
  Durability durability = Durability::kWindow;
  std::chrono::milliseconds sync_interval{1000};
  // Fault injection for tests: every Nth COMMIT of a transaction that wrote has its reply
  // discarded, as if the connection broke after sending it (0: never).
  uint32_t fault_lose_commit_reply_every = 0;
};

// Connects once, creates the table if missing and keeps the connection in the pool.
// kKvUnavailable when the server cannot be reached, kInvalidArgument for a bad table name.
Result<std::unique_ptr<Engine>> OpenPostgresEngine(const PostgresEngineOptions& options);

}  // namespace hf3fs::kv
