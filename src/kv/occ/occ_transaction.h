// The optimistic transaction shared by the memory and RocksDB engines.
//
// Reads go to a snapshot of the read version, overlaid with the transaction's WriteBuffer
// (read-your-writes, ranges included). Reads with conflicts record what they observed in a read
// set; writes are buffered. Commit hands the read set and the buffer to the engine
// (OccBackend::CommitWrites), which validates the read set against the ConflictLog and applies the
// writes atomically. Contract: kv/engine.h.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "kv/engine.h"
#include "kv/kv_metrics.h"
#include "kv/occ/key_range_set.h"
#include "kv/occ/write_buffer.h"

namespace hf3fs::kv::occ {

// Iterates the keys of one snapshot within [begin, end), ascending or descending.
class SnapshotCursor {
 public:
  virtual ~SnapshotCursor() = default;
  virtual bool Valid() const = 0;  // false at the end of the range or on error (see status())
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual void Next() = 0;
  // Moves in the iteration direction to the first key >= bound (ascending) or the last key < bound
  // (descending). Never moves backwards.
  virtual void SkipTo(std::string_view bound) = 0;
  virtual Status status() const = 0;
};

// Read access to the snapshot of one read version. Used by one thread at a time.
class SnapshotReader {
 public:
  virtual ~SnapshotReader() = default;
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  // A cursor over [begin, end) (begin < end) positioned at its first key in `reverse` order.
  virtual std::unique_ptr<SnapshotCursor> Scan(std::string_view begin, std::string_view end,
                                               bool reverse) = 0;
};

// What an engine provides to its transactions.
class OccBackend {
 public:
  virtual ~OccBackend() = default;
  // Validates `reads` (normalized) against commits after `read_version` and applies `writes`
  // (non-empty) atomically. Ok, kTxnConflict, kTxnTooOld or a backend error.
  virtual Status CommitWrites(uint64_t read_version, const KeyRangeSet& reads,
                              const WriteBuffer& writes) = 0;
  // The transaction registered at `read_version` ended (committed, failed or cancelled).
  virtual void EndTransaction(uint64_t read_version) = 0;
};

class OccTransaction final : public Transaction {
 public:
  // `backend` outlives the transaction; `metrics` are the engine's.
  OccTransaction(TxnOptions options, uint64_t read_version,
                 std::unique_ptr<SnapshotReader> snapshot, OccBackend* backend,
                 const KvMetrics* metrics);
  ~OccTransaction() override;

  Result<std::optional<std::string>> Get(std::string_view key) override;
  Result<std::optional<std::string>> SnapshotGet(std::string_view key) override;
  Result<RangeResult> GetRange(std::string_view begin, std::string_view end, uint32_t limit,
                               bool reverse) override;
  Result<RangeResult> SnapshotGetRange(std::string_view begin, std::string_view end, uint32_t limit,
                                       bool reverse) override;
  Status Set(std::string_view key, std::string_view value) override;
  Status Clear(std::string_view key) override;
  Status ClearRange(std::string_view begin, std::string_view end) override;
  Status AddReadConflict(std::string_view key) override;
  Status AddReadConflictRange(std::string_view begin, std::string_view end) override;
  Status Commit() override;
  void Cancel() override;

 private:
  Status CheckOpen() const;
  Status CheckWritable(size_t add_bytes) const;
  Status CheckReadSetRoom(size_t add_bytes) const;
  Result<std::optional<std::string>> ReadKey(std::string_view key, bool conflict);
  Result<RangeResult> ReadRange(std::string_view begin, std::string_view end, uint32_t limit,
                                bool reverse, bool conflict);
  // Fill `out` with up to `want` keys of [begin, end) as this transaction sees them: the
  // snapshot minus cleared ranges, overlaid with the point writes.
  Status MergeForward(std::string_view begin, std::string_view end, size_t want,
                      std::vector<KeyValue>& out);
  Status MergeReverse(std::string_view begin, std::string_view end, size_t want,
                      std::vector<KeyValue>& out);
  void Finish();

  const TxnOptions options_;
  const uint64_t read_version_;
  std::unique_ptr<SnapshotReader> snapshot_;
  OccBackend* backend_;
  const KvMetrics* metrics_;
  WriteBuffer writes_;
  KeyRangeSet reads_;
  bool closed_ = false;
};

}  // namespace hf3fs::kv::occ
