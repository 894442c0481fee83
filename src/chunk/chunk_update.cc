// Update paths of ChunkEngine: Write, Truncate, Remove, ReplaceFull, Commit, and slot release.
//
// Every update runs under its chunk's exclusive stripe lock and an epoch ticket: read the record,
// check versions, build the new part (data written first, and synced in strict durability), then
// one batch (synced in strict durability), then free the slots that the batch stopped naming (at
// once in strict durability, after the epoch's flush in window durability; see
// chunk_durability.cc). Fault-hook points, in order: "update.data_written", "update.data_synced"
// (strict only), "meta.write" (before every batch), "update.after_batch"; "commit.before_batch"
// for commits.
#include <algorithm>
#include <chrono>

#include "chunk/chunk_engine.h"
#include "chunk/engine_metrics.h"
#include "common/crc32c.h"
#include "common/logging.h"

namespace hf3fs::chunk {

Result<ChunkMeta> ChunkEngine::Write(TargetId target, const ChunkId& chunk, uint32_t chunk_size,
                                     uint32_t offset, std::span<const uint8_t> data,
                                     const UpdateOptions& options) {
  UpdateSpec spec;
  spec.kind = UpdateKind::kWrite;
  spec.chunk_size = chunk_size;
  spec.offset = offset;
  spec.data = data;
  spec.version = options.update_version;
  spec.chain_version = options.chain_version;
  spec.replace_pending = options.replace_pending;
  spec.expected_checksum = options.expected_checksum;
  return Update(target, chunk, spec);
}

Result<ChunkMeta> ChunkEngine::Truncate(TargetId target, const ChunkId& chunk, uint32_t chunk_size,
                                        uint32_t length, const UpdateOptions& options) {
  UpdateSpec spec;
  spec.kind = UpdateKind::kTruncate;
  spec.chunk_size = chunk_size;
  spec.length = length;
  spec.version = options.update_version;
  spec.chain_version = options.chain_version;
  spec.replace_pending = options.replace_pending;
  return Update(target, chunk, spec);
}

Result<ChunkMeta> ChunkEngine::Remove(TargetId target, const ChunkId& chunk,
                                      const UpdateOptions& options) {
  UpdateSpec spec;
  spec.kind = UpdateKind::kRemove;
  spec.version = options.update_version;
  spec.chain_version = options.chain_version;
  spec.replace_pending = options.replace_pending;
  return Update(target, chunk, spec);
}

Result<ChunkMeta> ChunkEngine::ReplaceFull(TargetId target, const ChunkId& chunk,
                                           std::span<const uint8_t> data,
                                           const ReplaceOptions& options) {
  UpdateSpec spec;
  spec.kind = UpdateKind::kReplace;
  spec.chunk_size = options.chunk_size;
  spec.data = data;
  spec.version = options.version;
  spec.chain_version = options.chain_version;
  spec.commit = options.commit;
  spec.expected_checksum = options.expected_checksum;
  spec.ignore_low_space = options.ignore_low_space;
  return Update(target, chunk, spec);
}

Result<ChunkMeta> ChunkEngine::Update(TargetId target, const ChunkId& chunk,
                                      const UpdateSpec& spec) {
  static constexpr EngineOp kOps[] = {EngineOp::kWrite, EngineOp::kTruncate, EngineOp::kRemove,
                                      EngineOp::kReplace};
  auto start = std::chrono::steady_clock::now();
  auto result = [&]() -> Result<ChunkMeta> {
    HF3FS_TRY(ValidateId(chunk));
    if (spec.version == 0) return Status(StatusCode::kInvalidArgument, "update version 0");
    if (spec.kind != UpdateKind::kRemove) {
      if (!ChunkSizeLog2(spec.chunk_size)) {
        return MakeStatus(StatusCode::kInvalidArgument,
                          "chunk size {} is not a power of two in 64KiB..64MiB", spec.chunk_size);
      }
      uint64_t end = spec.kind == UpdateKind::kTruncate ? spec.length
                                                        : uint64_t{spec.offset} + spec.data.size();
      if (end > spec.chunk_size) {
        return MakeStatus(StatusCode::kInvalidArgument, "update ends at {} past chunk size {}", end,
                          spec.chunk_size);
      }
    }
    if (spec.expected_checksum) {
      uint32_t crc = Crc32c(spec.data.data(), spec.data.size());
      if (crc != *spec.expected_checksum) {
        return MakeStatus(StatusCode::kChunkChecksumMismatch,
                          "payload of {} bytes has CRC32C {:08x}, client sent {:08x}",
                          spec.data.size(), crc, *spec.expected_checksum);
      }
    }
    HF3FS_TRY(CheckWritable());
    // A chunk with committed journal entries is flushed (without its lock: the flush of an
    // earlier epoch may be what a lock holder waits for) before other update paths touch it.
    // Each flush applies every committed entry, so a retry finds none unless new ones came.
    for (int attempt = 0;; ++attempt) {
      bool needs_flush = false;
      Result<ChunkMeta> r = [&] {
        std::unique_lock lock(StripeOf(target, chunk));
        return UpdateLocked(target, chunk, spec, &needs_flush);
      }();
      if (!needs_flush) return r;
      if (attempt == 8) {
        return MakeStatus(StatusCode::kUnavailable,
                          "chunk {} keeps getting journaled overwrites; retry the update", chunk);
      }
      journal_forced_flushes_->Inc();
      HF3FS_TRY(sync_.Sync());
    }
  }();
  metrics_->Finish(kOps[static_cast<size_t>(spec.kind)], start,
                   result.ok() ? Status::Ok() : Status(result.status().code()));
  return result;
}

Status ChunkEngine::CheckVersions(const std::optional<ChunkMeta>& existing,
                                  const UpdateSpec& spec) const {
  uint64_t c = existing ? existing->commit_version() : 0;
  const VersionPart* pending = existing && existing->pending ? &*existing->pending : nullptr;
  uint64_t u = spec.version;
  if (spec.kind == UpdateKind::kReplace && spec.commit) return Status::Ok();
  if (u <= c || (pending != nullptr && u < pending->version)) {
    return MakeStatus(StatusCode::kChunkStaleVersion,
                      "update version {} is not newer (commit version {}, pending {})", u, c,
                      pending ? pending->version : 0);
  }
  if (spec.kind == UpdateKind::kReplace) return Status::Ok();  // whole bytes need no base
  if (u != c + 1) {
    return MakeStatus(StatusCode::kChunkVersionGap,
                      "update version {} does not follow commit version {}", u, c);
  }
  if (pending != nullptr && !spec.replace_pending) {
    return MakeStatus(StatusCode::kChunkPendingExists, "version {} is already pending", u);
  }
  return Status::Ok();
}

Result<ChunkMeta> ChunkEngine::UpdateLocked(TargetId target, const ChunkId& chunk,
                                            const UpdateSpec& spec, bool* needs_flush) {
  EpochTicket ticket(*this);
  HF3FS_TRY_ASSIGN(std::optional<ChunkMeta> existing, GetRecord(target, chunk));
  if (!existing && spec.kind == UpdateKind::kRemove) {
    return MakeStatus(StatusCode::kChunkNotFound, "remove: chunk {} of target {}", chunk, target);
  }
  if (existing && spec.kind != UpdateKind::kRemove && existing->chunk_size != spec.chunk_size) {
    return MakeStatus(StatusCode::kChunkSizeMismatch, "chunk {} has chunk size {}, update says {}",
                      chunk, existing->chunk_size, spec.chunk_size);
  }
  HF3FS_TRY(CheckVersions(existing, spec));
  if (!existing && !spec.ignore_low_space) HF3FS_TRY(CheckLowSpace());
  HF3FS_TRY(AwaitEarlierEpochs(existing, ticket.epoch()));

  uint32_t chunk_size = existing ? existing->chunk_size : spec.chunk_size;
  uint8_t chunk_log2 = *ChunkSizeLog2(chunk_size);
  SlotAddress reserved;
  // The journal (chunk_journal.cc): a pending entry is replaced by whatever replaces the pending
  // part; committed entries admit only further journaled overwrites.
  JournalState journal = existing ? JournalStateOf(target, chunk) : JournalState{};
  MetaBatch extra;
  std::optional<JournalRecord> record;
  Result<VersionPart> part = VersionPart{};
  if (Journalable(existing, spec, journal, ticket.epoch())) {
    record.emplace();
    part = JournalWrite(target, chunk, *existing->committed, spec, ticket.epoch(), &*record);
    if (part.ok()) metrics_->paths[static_cast<size_t>(UpdatePath::kJournal)]->Inc();
  } else if (journal.committed > 0) {
    *needs_flush = true;
    return Status(StatusCode::kUnavailable, "chunk has committed journal entries; flush first");
  } else {
    part = BuildPart(existing, spec, chunk_log2, &reserved, ticket.epoch());
  }
  if (!part.ok()) {
    if (reserved.valid()) FreeSlot(reserved);
    return NoteError(std::move(part).status());
  }
  if (journal.pending) DeleteJournalRecords(target, chunk, /*pending_only=*/true, &extra);
  if (record) extra.PutJournal(*record);

  ChunkMeta next;
  if (existing) {
    next = *existing;
  } else {
    next.target = target;
    next.chunk_id = chunk;
    next.chunk_size = chunk_size;
  }
  next.chain_version = spec.chain_version;
  if (spec.kind == UpdateKind::kReplace && spec.commit) {
    next.committed = *part;
    next.pending.reset();
  } else {
    next.pending = *part;
  }
  // On failure the reserved slot stays reserved: the batch may be durable after all, and a
  // leaked slot is reclaimed by the next open while a wrongly freed one could be overwritten.
  RecordChange change{existing ? &*existing : nullptr, &next};
  HF3FS_TRY(Persist(std::span(&change, 1), ticket.epoch(), &extra));
  if (journal.pending) EraseJournal(target, chunk, /*pending_only=*/true);
  if (record) {
    auto blocks = std::make_shared<const std::vector<uint8_t>>(std::move(record->blocks));
    InsertJournal(*record, std::move(blocks));
  }
  if (!existing) CountChunk(target, 1);
  HF3FS_TRY(Hook("update.after_batch"));
  return next;
}

Result<VersionPart> ChunkEngine::BuildPart(const std::optional<ChunkMeta>& existing,
                                           const UpdateSpec& spec, uint8_t chunk_log2,
                                           SlotAddress* reserved, uint64_t epoch) {
  auto& paths = metrics_->paths;
  VersionPart empty;
  empty.version = spec.version;
  empty.epoch = epoch;
  if (spec.kind == UpdateKind::kRemove) {
    paths[static_cast<size_t>(UpdatePath::kRemoval)]->Inc();
    empty.removal = true;
    return empty;
  }
  const VersionPart* base = nullptr;
  if (spec.kind != UpdateKind::kReplace && existing && existing->committed) {
    base = &*existing->committed;
  }
  uint32_t base_len = base ? base->length : 0;
  // A pending part that shares the committed slot may own bytes past the committed length, and
  // so may a live fallback there that is longer (the committed part shrank in place): an
  // append in place would overwrite bytes that a power loss could make current again.
  bool pending_shares = base != nullptr && existing->pending && base->slot.valid() &&
                        existing->pending->slot == base->slot;
  if (base != nullptr && epoch != 0) {
    auto fallback = LiveFallback(*existing);
    pending_shares = pending_shares ||
                     (fallback && fallback->slot == base->slot && fallback->length > base->length);
  }

  Overlay overlay;
  switch (spec.kind) {
    case UpdateKind::kWrite:
      overlay.offset = spec.offset;
      overlay.data = spec.data;
      overlay.new_length = spec.data.empty()
                               ? base_len
                               : std::max<uint32_t>(base_len, spec.offset + spec.data.size());
      break;
    case UpdateKind::kTruncate:
      overlay.offset = spec.length;
      overlay.new_length = spec.length;
      break;
    case UpdateKind::kReplace:
      overlay.data = spec.data;
      overlay.new_length = static_cast<uint32_t>(spec.data.size());
      break;
    case UpdateKind::kRemove:
      break;
  }

  Result<VersionPart> part = empty;
  UpdatePath path;
  bool wrote = true;
  if (overlay.new_length == 0) {
    path = UpdatePath::kEmpty;
    wrote = false;
  } else if (base != nullptr && overlay.new_length <= base_len && overlay.data.empty()) {
    // Truncate to the same or a shorter length, or an empty write: no data changes.
    wrote = false;
    if (overlay.new_length == base_len) {
      path = UpdatePath::kUnchanged;
      VersionPart same = *base;
      same.version = spec.version;
      part = same;
    } else {
      path = UpdatePath::kShrink;
      part = ShrinkInPlace(*base, spec.version, overlay.new_length);
      if (part.ok() && epoch != 0) part->shrunk = true;
    }
  } else if (base != nullptr && base->slot.valid() && !pending_shares && !base->shrunk &&
             overlay.offset >= base_len && overlay.new_length <= base->slot.capacity()) {
    path = UpdatePath::kAppend;
    part = AppendInPlace(*base, spec.version, overlay);
  } else {
    path = UpdatePath::kCow;
    part = CopyOnWrite(base, spec.version, overlay, chunk_log2, reserved);
  }
  HF3FS_TRY(part);
  paths[static_cast<size_t>(path)]->Inc();
  // Every part a change makes belongs to the change's epoch, also one whose bytes were written
  // earlier (a shrink, an unchanged truncate): its record is what a power loss may lose.
  part->epoch = epoch;
  if (wrote) {
    HF3FS_TRY(Hook("update.data_written"));
    if (options_.durability == Durability::kStrict) {
      HF3FS_TRY(data_->Sync(part->slot));
      HF3FS_TRY(Hook("update.data_synced"));
    }
  }
  return part;
}

Result<ChunkMeta> ChunkEngine::Commit(TargetId target, const ChunkId& chunk, uint64_t version,
                                      ChainVersion chain_version) {
  auto start = std::chrono::steady_clock::now();
  auto result = [&]() -> Result<ChunkMeta> {
    HF3FS_TRY(ValidateId(chunk));
    HF3FS_TRY(CheckWritable());
    std::unique_lock lock(StripeOf(target, chunk));
    return CommitLocked(target, chunk, version, chain_version);
  }();
  metrics_->Finish(EngineOp::kCommit, start,
                   result.ok() ? Status::Ok() : Status(result.status().code()));
  return result;
}

Result<ChunkMeta> ChunkEngine::CommitLocked(TargetId target, const ChunkId& chunk, uint64_t version,
                                            ChainVersion chain_version) {
  EpochTicket ticket(*this);
  HF3FS_TRY_ASSIGN(std::optional<ChunkMeta> existing, GetRecord(target, chunk));
  if (!existing) {
    return MakeStatus(StatusCode::kChunkNotFound, "commit: chunk {} of target {}", chunk, target);
  }
  if (version != 0 && version <= existing->commit_version()) return std::move(*existing);
  if (!existing->pending || existing->pending->version != version) {
    return MakeStatus(StatusCode::kChunkVersionMismatch,
                      "commit of version {}: chunk {} has commit version {}, pending {}", version,
                      chunk, existing->commit_version(),
                      existing->pending ? existing->pending->version : 0);
  }
  HF3FS_TRY(AwaitEarlierEpochs(existing, ticket.epoch()));
  HF3FS_TRY(Hook("commit.before_batch"));
  ChunkMeta next = *existing;
  next.chain_version = chain_version;
  bool removal = next.pending->removal;
  if (removal) {
    next.committed.reset();
    next.pending.reset();
    next.fallback.reset();
  } else {
    next.committed = next.pending;
    next.pending.reset();
  }
  RecordChange change{&*existing, removal ? nullptr : &next};
  MetaBatch extra;
  if (removal) DeleteJournalRecords(target, chunk, /*pending_only=*/false, &extra);
  HF3FS_TRY(Persist(std::span(&change, 1), ticket.epoch(), &extra));
  if (removal) {
    EraseJournal(target, chunk, /*pending_only=*/false);
    CountChunk(target, -1);
  } else {
    MarkJournalCommitted(target, chunk, version, ticket.epoch());
  }
  return next;
}

Status ChunkEngine::WriteBatch(const MetaBatch& batch) {
  HF3FS_TRY(Hook("meta.write"));
  return NoteError(meta_->Write(batch, options_.durability == Durability::kStrict));
}

void ChunkEngine::FreeSlot(SlotAddress slot) {
  auto st = data_->Free(slot);
  if (!st.ok()) {
    // The slot is free in memory either way; a failed punch only keeps space allocated.
    HF3FS_LOG_WARN("chunk.punch_failed dir={} slot={}/{} error=\"{}\"", dir_, slot.class_log2,
                   slot.index, st);
    (void)NoteError(std::move(st));
  }
}

}  // namespace hf3fs::chunk
