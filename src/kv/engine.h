// The transactional key-value interface that mgmtd and meta keep all their state in.
//
// Keys and values are byte strings; keys are ordered bytewise (memcmp order, shorter first on a
// common prefix), the same in every backend. The empty key is a valid key.
//
// Isolation: every transaction is serializable. A read-write transaction reads a consistent
// snapshot (plus its own writes) and commits only if no transaction that committed after its
// snapshot wrote anything it read; otherwise Commit returns the retryable kTxnConflict and nothing
// is written. What counts as "read":
//   - Get(k) and GetRange(b, e) add a read conflict on what they observed: the key k; for a range,
//     [b, e) when it was read to the end, or [b, last key examined] when the limit cut it short
//     (the last key examined is the one after the returned ones, which decided has_more).
//   - SnapshotGet / SnapshotGetRange read the same snapshot but add no conflict: use them for reads
//     whose exact value does not decide what the transaction writes (e.g. attributes returned to
//     the caller). Backends may be more conservative (PostgreSQL tracks every read; see
//     docs/design/0002-kv.md).
//   - AddReadConflict / AddReadConflictRange add a conflict without reading.
//   - Reads answered entirely by the transaction's own writes (read-your-writes) of a single key
//     add no conflict: their value cannot change under the transaction.
// Writes (Set, Clear, ClearRange) are buffered or applied inside the transaction and become
// visible to other transactions atomically at Commit. In the memory and RocksDB backends blind
// writes (writes of keys never read) never conflict with each other and the later commit wins;
// PostgreSQL reports kTxnConflict when two open transactions write the same row.
// A read-only transaction (TxnOptions::read_only) sees a consistent snapshot; its writes fail with
// kTxnReadOnly. Its Commit validates nothing in the memory and RocksDB backends (always ok);
// PostgreSQL may still report kTxnConflict for it.
//
// Size limits (checked when the call is made, the same for every backend): a key is at most
// kMaxKeyBytes (kKvKeyTooLarge), a value at most kMaxValueBytes (kKvValueTooLarge), and the bytes
// a transaction writes (keys + values + range bounds of every write call) or registers as read
// conflicts at most kMaxTxnBytes each (kTxnTooLarge). A failed size check leaves the transaction
// usable.
//
// Errors every call may return: kTxnClosed (after Commit or Cancel), kKvUnavailable (backend
// unreachable; retryable, the transaction is lost), kKvBackendError (not retryable), and for
// PostgreSQL kTxnConflict from any read or write (its serialization checks run during the
// transaction). In PostgreSQL, once a statement failed the transaction is poisoned (the server
// aborted it): later calls return the same status and Commit writes nothing. The memory and
// RocksDB backends only fail reads with kKvBackendError. Commit additionally returns kTxnTooOld
// (retryable: the snapshot is older than the conflict history kept) and kTxnCommitUnknown (not
// retryable: PostgreSQL lost the connection during COMMIT and the outcome could not be resolved
// before the deadline).
//
// Threads: an Engine is thread-safe and must outlive its transactions. A Transaction is used by one
// thread at a time. Calls block (disk or network); call them from an offload pool, never from an
// io thread. In PostgreSQL a write waits for another open transaction's write of the same row, so
// a thread must not drive two transactions that write the same keys at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hf3fs::kv {

// 2 KiB: PostgreSQL cannot index a key (btree tuple) of more than about 2.7 KB that does not
// compress; meta's longest keys (prefix + ids + a 255-byte name) are far below.
inline constexpr size_t kMaxKeyBytes = 2 << 10;
inline constexpr size_t kMaxValueBytes = 1 << 20;
inline constexpr size_t kMaxTxnBytes = 10 << 20;

struct KeyValue {
  std::string key;
  std::string value;
  bool operator==(const KeyValue&) const = default;
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // ascending order, or descending when read in reverse
  bool has_more = false;      // more keys exist in the range beyond the limit
};

struct TxnOptions {
  bool read_only = false;
};

class Transaction {
 public:
  virtual ~Transaction() = default;  // cancels a transaction that was not committed

  // The value of `key`, or nullopt when absent. Adds a read conflict on `key`.
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  // The same without a read conflict.
  virtual Result<std::optional<std::string>> SnapshotGet(std::string_view key) = 0;

  // Keys in [begin, end), at most `limit` of them (0: no limit), ascending, or descending from
  // the end when `reverse`. An empty or inverted range returns nothing. Adds a read conflict on
  // the part of the range observed (see the file comment).
  virtual Result<RangeResult> GetRange(std::string_view begin, std::string_view end, uint32_t limit,
                                       bool reverse = false) = 0;
  // The same without a read conflict.
  virtual Result<RangeResult> SnapshotGetRange(std::string_view begin, std::string_view end,
                                               uint32_t limit, bool reverse = false) = 0;

  virtual Status Set(std::string_view key, std::string_view value) = 0;
  virtual Status Clear(std::string_view key) = 0;
  // Removes every key in [begin, end); keys Set afterwards in this transaction survive.
  virtual Status ClearRange(std::string_view begin, std::string_view end) = 0;

  // A hint: reads `keys` ahead in one round trip where the backend has round trips
  // (PostgreSQL), so that later Get/SnapshotGet calls of them cost none (with the same read
  // conflicts). Backends without round trips ignore it.
  virtual Status Prefetch(std::span<const std::string> keys) {
    (void)keys;
    return Status::Ok();
  }

  virtual Status AddReadConflict(std::string_view key) = 0;
  virtual Status AddReadConflictRange(std::string_view begin, std::string_view end) = 0;

  // Makes the writes visible and durable (per the backend's durability: see Engine::Sync)
  // atomically, or returns
  // an error and writes nothing (except kTxnCommitUnknown, see the file comment). The transaction
  // is closed afterwards whatever the outcome.
  virtual Status Commit() = 0;
  // Drops the writes and closes the transaction. Idempotent.
  virtual void Cancel() = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Starts a transaction. kKvUnavailable when the backend cannot be reached.
  virtual Result<std::unique_ptr<Transaction>> Begin(TxnOptions options = {}) = 0;

  // Makes every transaction that committed before the call power-safe (docs/design/
  // 0009-durability.md), sharing the flush with concurrent callers. In strict durability, and for
  // the memory backend, commits already are as durable as the backend gets and this returns at
  // once. kKvUnavailable or kKvBackendError when the flush fails.
  virtual Status Sync() = 0;

  // "memory", "rocksdb" or "postgres".
  virtual std::string_view backend() const = 0;
};

// The smallest key greater than `key` (`key` + '\0'): [key, KeyAfter(key)) holds exactly `key`.
std::string KeyAfter(std::string_view key);
// A range bound greater than every valid key (kMaxKeyBytes + 1 bytes of 0xff): [b, KeyspaceEnd())
// reaches to the end of the keyspace.
std::string_view KeyspaceEnd();
// The smallest bound greater than every key starting with `prefix`, or KeyspaceEnd() when the
// prefix is empty or all 0xff bytes. [p, PrefixEnd(p)) is every key with prefix p.
std::string PrefixEnd(std::string_view prefix);

// Size checks shared by the backends (see the file comment). Range bounds may be one byte longer
// than keys, so that KeyAfter(key) and KeyspaceEnd() are valid bounds.
Status CheckKey(std::string_view key);
Status CheckValue(std::string_view value);
Status CheckRangeBounds(std::string_view begin, std::string_view end);

}  // namespace hf3fs::kv
