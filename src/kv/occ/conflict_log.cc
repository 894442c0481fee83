#include "kv/occ/conflict_log.h"

#include "common/check.h"

namespace hf3fs::kv::occ {
namespace {
// Bookkeeping charged per entry besides its bounds, so that many tiny write sets still count.
constexpr uint64_t kEntryOverheadBytes = 64;
}  // namespace

uint64_t ConflictLog::BeginRead() {
  ++readers_[visible_];
  return visible_;
}

void ConflictLog::EndRead(uint64_t read_version) {
  auto it = readers_.find(read_version);
  HF3FS_CHECK_MSG(it != readers_.end(), "EndRead of unregistered read version {}", read_version);
  if (--it->second == 0) {
    bool was_oldest = it == readers_.begin();
    readers_.erase(it);
    if (was_oldest) Trim();
  }
}

Status ConflictLog::Validate(uint64_t read_version, const KeyRangeSet& reads,
                             uint64_t* conflict_version) const {
  HF3FS_CHECK(read_version <= last_);
  if (read_version < trimmed_through_) {
    return MakeStatus(StatusCode::kTxnTooOld,
                      "read version {} predates the conflict history kept (from version {})",
                      read_version, trimmed_through_ + 1);
  }
  if (reads.empty()) return Status::Ok();
  for (size_t i = read_version - trimmed_through_; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    HF3FS_CHECK(e.version > read_version);
    if (e.writes.Intersects(reads)) {
      *conflict_version = e.version;
      return MakeStatus(StatusCode::kTxnConflict,
                        "a transaction committed at version {} wrote a key read at version {}",
                        e.version, read_version);
    }
  }
  return Status::Ok();
}

uint64_t ConflictLog::Append(KeyRangeSet writes) {
  uint64_t version = ++last_;
  bytes_ += writes.bytes() + kEntryOverheadBytes;
  entries_.push_back(Entry{version, std::move(writes)});
  if (bytes_ > max_bytes_) Trim();
  return version;
}

void ConflictLog::Publish(uint64_t version) {
  HF3FS_CHECK(version <= last_);
  if (version <= visible_) return;
  visible_ = version;
  Trim();
}

uint64_t ConflictLog::OldestReadVersion() const {
  return readers_.empty() ? visible_ : readers_.begin()->first;
}

void ConflictLog::Trim() {
  // Entries at or below every reader's read version can never fail a validation.
  uint64_t floor = OldestReadVersion();
  while (!entries_.empty() && (entries_.front().version <= floor ||
                               (bytes_ > max_bytes_ && entries_.front().version <= visible_))) {
    bytes_ -= entries_.front().writes.bytes() + kEntryOverheadBytes;
    trimmed_through_ = entries_.front().version;
    entries_.pop_front();
  }
}

}  // namespace hf3fs::kv::occ
