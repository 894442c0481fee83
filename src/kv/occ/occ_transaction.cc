#include "kv/occ/occ_transaction.h"

#include <chrono>
#include <limits>

namespace hf3fs::kv::occ {

OccTransaction::OccTransaction(TxnOptions options, uint64_t read_version,
                               std::unique_ptr<SnapshotReader> snapshot, OccBackend* backend,
                               const KvMetrics* metrics)
    : options_(options),
      read_version_(read_version),
      snapshot_(std::move(snapshot)),
      backend_(backend),
      metrics_(metrics) {
  metrics_->begins->Inc();
}

OccTransaction::~OccTransaction() { Cancel(); }

Status OccTransaction::CheckOpen() const {
  if (closed_) return Status(StatusCode::kTxnClosed, "transaction already committed or cancelled");
  return Status::Ok();
}

Status OccTransaction::CheckWritable(size_t add_bytes) const {
  HF3FS_TRY(CheckOpen());
  if (options_.read_only)
    return Status(StatusCode::kTxnReadOnly, "write in a read-only transaction");
  if (writes_.bytes() + add_bytes > kMaxTxnBytes) {
    return MakeStatus(StatusCode::kTxnTooLarge, "transaction writes would reach {} bytes (max {})",
                      writes_.bytes() + add_bytes, kMaxTxnBytes);
  }
  return Status::Ok();
}

Status OccTransaction::CheckReadSetRoom(size_t add_bytes) const {
  if (reads_.bytes() + add_bytes > kMaxTxnBytes) {
    return MakeStatus(StatusCode::kTxnTooLarge,
                      "transaction read conflicts would reach {} bytes (max {})",
                      reads_.bytes() + add_bytes, kMaxTxnBytes);
  }
  return Status::Ok();
}

Result<std::optional<std::string>> OccTransaction::Get(std::string_view key) {
  return ReadKey(key, /*conflict=*/!options_.read_only);
}

Result<std::optional<std::string>> OccTransaction::SnapshotGet(std::string_view key) {
  return ReadKey(key, /*conflict=*/false);
}

Result<std::optional<std::string>> OccTransaction::ReadKey(std::string_view key, bool conflict) {
  HF3FS_TRY(CheckOpen());
  HF3FS_TRY(CheckKey(key));
  const std::string* own = nullptr;
  switch (writes_.Find(key, &own)) {
    case WriteBuffer::Lookup::kValue:
      return std::optional<std::string>(*own);
    case WriteBuffer::Lookup::kCleared:
      return std::optional<std::string>();
    case WriteBuffer::Lookup::kNotWritten:
      break;
  }
  if (conflict) HF3FS_TRY(CheckReadSetRoom(2 * key.size() + 1));
  auto value = snapshot_->Get(key);
  if (!value.ok()) {
    metrics_->errors->Inc();
    return value;
  }
  if (conflict) reads_.AddKey(key);
  return value;
}

Result<RangeResult> OccTransaction::GetRange(std::string_view begin, std::string_view end,
                                             uint32_t limit, bool reverse) {
  return ReadRange(begin, end, limit, reverse, /*conflict=*/!options_.read_only);
}

Result<RangeResult> OccTransaction::SnapshotGetRange(std::string_view begin, std::string_view end,
                                                     uint32_t limit, bool reverse) {
  return ReadRange(begin, end, limit, reverse, /*conflict=*/false);
}

Result<RangeResult> OccTransaction::ReadRange(std::string_view begin, std::string_view end,
                                              uint32_t limit, bool reverse, bool conflict) {
  HF3FS_TRY(CheckOpen());
  HF3FS_TRY(CheckRangeBounds(begin, end));
  RangeResult result;
  if (begin >= end) return result;
  if (conflict) HF3FS_TRY(CheckReadSetRoom(begin.size() + end.size() + 1));

  // One key past the limit decides has_more.
  size_t want = limit == 0 ? std::numeric_limits<size_t>::max() : size_t{limit} + 1;
  Status st = reverse ? MergeReverse(begin, end, want, result.kvs)
                      : MergeForward(begin, end, want, result.kvs);
  if (!st.ok()) {
    metrics_->errors->Inc();
    return st;
  }
  result.has_more = limit != 0 && result.kvs.size() > limit;
  if (conflict) {
    // Only the part of the range examined (including the key that decided has_more) matters.
    if (!result.has_more) {
      reads_.AddRange(begin, end);
    } else if (!reverse) {
      reads_.AddRange(begin, KeyAfter(result.kvs.back().key));
    } else {
      reads_.AddRange(result.kvs.back().key, end);
    }
  }
  if (result.has_more) result.kvs.pop_back();
  return result;
}

Status OccTransaction::MergeForward(std::string_view begin, std::string_view end, size_t want,
                                    std::vector<KeyValue>& out) {
  auto cursor = snapshot_->Scan(begin, end, /*reverse=*/false);
  auto w = writes_.points().lower_bound(begin);
  const auto w_end = writes_.points().lower_bound(end);
  while (out.size() < want) {
    while (cursor->Valid()) {
      const auto* cleared = writes_.ClearedRangeAt(cursor->key());
      if (cleared == nullptr) break;
      cursor->SkipTo(cleared->second);
    }
    HF3FS_TRY(cursor->status());
    bool has_snapshot = cursor->Valid();
    bool has_own = w != w_end;
    if (!has_snapshot && !has_own) break;
    if (has_own && (!has_snapshot || std::string_view(w->first) <= cursor->key())) {
      if (has_snapshot && w->first == cursor->key()) cursor->Next();
      if (w->second) out.push_back(KeyValue{w->first, *w->second});
      ++w;
    } else {
      out.push_back(KeyValue{std::string(cursor->key()), std::string(cursor->value())});
      cursor->Next();
    }
  }
  return cursor->status();
}

Status OccTransaction::MergeReverse(std::string_view begin, std::string_view end, size_t want,
                                    std::vector<KeyValue>& out) {
  auto cursor = snapshot_->Scan(begin, end, /*reverse=*/true);
  const auto w_first = writes_.points().lower_bound(begin);
  auto w = writes_.points().lower_bound(end);  // one past the next own write to return
  while (out.size() < want) {
    while (cursor->Valid()) {
      const auto* cleared = writes_.ClearedRangeAt(cursor->key());
      if (cleared == nullptr) break;
      cursor->SkipTo(cleared->first);
    }
    HF3FS_TRY(cursor->status());
    bool has_snapshot = cursor->Valid();
    bool has_own = w != w_first;
    if (!has_snapshot && !has_own) break;
    auto own = has_own ? std::prev(w) : w;
    if (has_own && (!has_snapshot || std::string_view(own->first) >= cursor->key())) {
      if (has_snapshot && own->first == cursor->key()) cursor->Next();
      if (own->second) out.push_back(KeyValue{own->first, *own->second});
      w = own;
    } else {
      out.push_back(KeyValue{std::string(cursor->key()), std::string(cursor->value())});
      cursor->Next();
    }
  }
  return cursor->status();
}

Status OccTransaction::Set(std::string_view key, std::string_view value) {
  HF3FS_TRY(CheckWritable(key.size() + value.size()));
  HF3FS_TRY(CheckKey(key));
  HF3FS_TRY(CheckValue(value));
  writes_.Set(key, value);
  return Status::Ok();
}

Status OccTransaction::Clear(std::string_view key) {
  HF3FS_TRY(CheckWritable(key.size()));
  HF3FS_TRY(CheckKey(key));
  writes_.Clear(key);
  return Status::Ok();
}

Status OccTransaction::ClearRange(std::string_view begin, std::string_view end) {
  HF3FS_TRY(CheckWritable(begin.size() + end.size()));
  HF3FS_TRY(CheckRangeBounds(begin, end));
  writes_.ClearRange(begin, end);
  return Status::Ok();
}

Status OccTransaction::AddReadConflict(std::string_view key) {
  HF3FS_TRY(CheckOpen());
  HF3FS_TRY(CheckKey(key));
  HF3FS_TRY(CheckReadSetRoom(2 * key.size() + 1));
  if (!options_.read_only) reads_.AddKey(key);
  return Status::Ok();
}

Status OccTransaction::AddReadConflictRange(std::string_view begin, std::string_view end) {
  HF3FS_TRY(CheckOpen());
  HF3FS_TRY(CheckRangeBounds(begin, end));
  HF3FS_TRY(CheckReadSetRoom(begin.size() + end.size()));
  if (!options_.read_only) reads_.AddRange(begin, end);
  return Status::Ok();
}

Status OccTransaction::Commit() {
  HF3FS_TRY(CheckOpen());
  closed_ = true;
  Status st;
  if (!writes_.empty()) {
    // A transaction that writes nothing is serializable at its read version: nothing to check.
    auto start = std::chrono::steady_clock::now();
    reads_.Normalize();
    st = backend_->CommitWrites(read_version_, reads_, writes_);
    if (st.ok()) {
      metrics_->commit_latency->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  Finish();
  if (st.ok()) {
    metrics_->commits->Inc();
  } else if (st.code() == StatusCode::kTxnConflict || st.code() == StatusCode::kTxnTooOld) {
    metrics_->conflicts->Inc();
  } else {
    metrics_->errors->Inc();
  }
  return st;
}

void OccTransaction::Cancel() {
  if (closed_) return;
  closed_ = true;
  Finish();
}

void OccTransaction::Finish() {
  if (!snapshot_) return;
  snapshot_.reset();
  backend_->EndTransaction(read_version_);
}

}  // namespace hf3fs::kv::occ
