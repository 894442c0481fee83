// Commit versions and the write sets of recent commits: what optimistic transactions validate
// their reads against.
//
// Versions: every commit that writes gets the next version (1, 2, ...). A version is "visible" once
// the engine has made its writes readable (Publish); a transaction reads the snapshot of the
// visible version it got from BeginRead, its read version.
//
// Validation: a transaction with read version r may commit iff no write set of a version > r
// intersects its read set. The log keeps the write sets that some registered reader may still need
// (versions above the oldest registered read version, or above the visible version when nobody
// reads). Past max_bytes it drops the oldest visible entries even if a reader needs them; that
// reader gets kTxnTooOld. Entries not yet visible are never dropped (a new reader would be too old
// from the start); they are bounded by the commits in flight.
//
// Not thread-safe: the owning engine calls it under its commit mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <map>

#include "common/status.h"
#include "kv/occ/key_range_set.h"

namespace hf3fs::kv::occ {

class ConflictLog {
 public:
  explicit ConflictLog(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // Registers a reader at the visible version and returns that version.
  uint64_t BeginRead();
  // Unregisters a reader registered by BeginRead(read_version).
  void EndRead(uint64_t read_version);

  // Ok when no write set of a version > read_version intersects `reads` (normalized).
  // kTxnConflict (and *conflict_version = the first such version) or kTxnTooOld otherwise.
  Status Validate(uint64_t read_version, const KeyRangeSet& reads,
                  uint64_t* conflict_version) const;

  // Records the write set (normalized) of a validated commit; returns its version.
  uint64_t Append(KeyRangeSet writes);

  // Versions <= `version` are visible. Called in version order (a smaller version is ignored).
  void Publish(uint64_t version);

  uint64_t visible_version() const { return visible_; }
  uint64_t last_version() const { return last_; }
  // The oldest read version still registered, or the visible version when there is none.
  uint64_t OldestReadVersion() const;
  size_t entries() const { return entries_.size(); }
  size_t readers() const { return readers_.size(); }  // distinct registered read versions
  uint64_t bytes() const { return bytes_; }

 private:
  struct Entry {
    uint64_t version;
    KeyRangeSet writes;
  };
  void Trim();

  const uint64_t max_bytes_;
  std::deque<Entry> entries_;  // versions trimmed_through_ + 1 .. last_, in order
  uint64_t bytes_ = 0;
  uint64_t last_ = 0;
  uint64_t visible_ = 0;
  uint64_t trimmed_through_ = 0;          // write sets of versions <= this are gone
  std::map<uint64_t, uint64_t> readers_;  // read version -> registered readers
};

}  // namespace hf3fs::kv::occ
