// Journal of small overwrites (docs/design/0010-small-overwrites.md): in window durability a
// write inside a chunk's committed bytes puts its new whole blocks into the metadata WAL, in the
// batch of the chunk record naming the new version, instead of copying the chunk to a new slot.
// Reads lay the entries over the slot; the flush writes committed entries in place only after
// the WAL holding them is synced, fdatasyncs, and deletes their records with the durable-epoch
// record. Open redoes the records of committed versions before anything reads the slots.
//
// Invariants:
//   - A slot's bytes change in place only to bytes held by a synced journal record (flush, redo).
//   - A journaled part is built only over a slot whose own bytes are durable (its committed
//     part's epoch is durable, or that part is itself journaled), so after a power loss the redo
//     alone restores every journaled version whose record survived.
//   - No other update path sees a chunk with committed entries: such an update flushes first
//     (UpdateLocked sets needs_flush). A pending entry is dropped by the update that replaces it.
#include <algorithm>
#include <cstring>

#include "chunk/chunk_engine.h"
#include "chunk/engine_metrics.h"
#include "common/crc32c.h"
#include "common/logging.h"

namespace hf3fs::chunk {

ChunkEngine::JournalState ChunkEngine::JournalStateOf(TargetId target, const ChunkId& chunk) const {
  JournalState st;
  if (journal_count_.load() == 0) return st;
  std::lock_guard lock(journal_mu_);
  st.total_bytes = journal_bytes_;
  auto it = journal_.find(ChunkKey(target, chunk));
  if (it == journal_.end()) return st;
  for (const auto& e : it->second) {
    if (e.committed) {
      ++st.committed;
      st.last_committed_version = e.version;
      st.last_committed_slot = e.slot;
    } else {
      st.pending = e;
    }
  }
  return st;
}

bool ChunkEngine::Journalable(const std::optional<ChunkMeta>& existing, const UpdateSpec& spec,
                              const JournalState& state, uint64_t epoch) const {
  if (epoch == 0 || options_.journal_max_bytes == 0) return false;
  if (spec.kind != UpdateKind::kWrite || spec.data.empty() || !existing || !existing->committed) {
    return false;
  }
  const VersionPart& base = *existing->committed;
  uint64_t end = uint64_t{spec.offset} + spec.data.size();
  if (!base.slot.valid() || base.shrunk || base.removal || end > base.length) return false;
  // Only a journaled pending part may be replaced by a journaled one.
  if (existing->pending &&
      !(state.pending && state.pending->version == existing->pending->version &&
        state.pending->slot == existing->pending->slot)) {
    return false;
  }
  uint64_t span = RoundUpToBlock(end) - RoundDownToBlock(spec.offset);
  if (span > options_.journal_max_bytes) return false;
  if (state.committed >= options_.journal_max_entries_per_chunk) return false;
  if (state.total_bytes + span > options_.journal_max_bytes_total) return false;
  // The slot's own bytes must be durable: the redo after a power loss restores only what the
  // entries hold.
  if (state.committed > 0 && state.last_committed_version == base.version &&
      state.last_committed_slot == base.slot) {
    return true;
  }
  return base.epoch <= durable_epoch();
}

Result<VersionPart> ChunkEngine::JournalWrite(TargetId target, const ChunkId& chunk,
                                              const VersionPart& base, const UpdateSpec& spec,
                                              uint64_t epoch, JournalRecord* record) {
  const uint64_t lo = RoundDownToBlock(spec.offset);
  const uint64_t end = uint64_t{spec.offset} + spec.data.size();
  const uint64_t hi = RoundUpToBlock(end);
  std::vector<uint8_t> blocks(hi - lo);
  // The old blocks: the slot with the committed version's entries over it (view first, as in
  // ReadVersion).
  JournalView view = JournalViewOf(target, chunk);
  auto buf = buffers_->Acquire();
  const uint64_t piece = buf->size();
  for (uint64_t pos = lo; pos < hi; pos += piece) {
    uint64_t n = std::min(piece, hi - pos);
    HF3FS_TRY(data_->Read(base.slot, pos, buf->span().first(n)));
    std::memcpy(blocks.data() + (pos - lo), buf->data(), n);
  }
  OverlayJournal(view, base, lo, blocks);
  std::span<const uint8_t> old_bytes(blocks.data() + (spec.offset - lo), spec.data.size());
  uint32_t crc = Crc32cAfterOverwrite(base.checksum, old_bytes, spec.data, base.length - end);
  std::memcpy(blocks.data() + (spec.offset - lo), spec.data.data(), spec.data.size());

  record->target = target;
  record->chunk_id = chunk;
  record->version = spec.version;
  record->epoch = epoch;
  record->slot = base.slot;
  record->offset = static_cast<uint32_t>(lo);
  record->blocks = std::move(blocks);
  VersionPart part;
  part.version = spec.version;
  part.length = base.length;
  part.checksum = crc;
  part.slot = base.slot;
  part.epoch = epoch;
  return part;
}

ChunkEngine::JournalView ChunkEngine::JournalViewOf(TargetId target, const ChunkId& chunk) const {
  if (journal_count_.load() == 0) return {};
  std::lock_guard lock(journal_mu_);
  auto it = journal_.find(ChunkKey(target, chunk));
  return it == journal_.end() ? JournalView{} : it->second;
}

void ChunkEngine::OverlayJournal(const JournalView& view, const VersionPart& part, uint64_t offset,
                                 std::span<uint8_t> out) {
  for (const auto& e : view) {
    if (e.slot != part.slot || e.version > part.version) continue;
    uint64_t lo = std::max<uint64_t>(offset, e.offset);
    uint64_t hi = std::min<uint64_t>(offset + out.size(), e.offset + e.blocks->size());
    if (lo < hi)
      std::memcpy(out.data() + (lo - offset), e.blocks->data() + (lo - e.offset), hi - lo);
  }
}

Status ChunkEngine::ReadVersion(TargetId target, const ChunkId& chunk, const VersionPart& part,
                                uint32_t offset, std::span<uint8_t> out) {
  // The view is taken before the slot is read: an entry the flush forgets meanwhile was written
  // in place before it was forgotten, and an entry still in the view covers whatever the slot
  // held while the flush wrote it.
  JournalView view = JournalViewOf(target, chunk);
  HF3FS_TRY(ReadBytes(part, offset, out));
  OverlayJournal(view, part, offset, out);
  return Status::Ok();
}

void ChunkEngine::InsertJournal(const JournalRecord& record,
                                std::shared_ptr<const std::vector<uint8_t>> blocks) {
  JournalEntry e;
  e.version = record.version;
  e.epoch = record.epoch;
  e.slot = record.slot;
  e.offset = record.offset;
  e.blocks = std::move(blocks);
  std::lock_guard lock(journal_mu_);
  auto& entries = journal_[ChunkKey(record.target, record.chunk_id)];
  journal_bytes_ += e.blocks->size();
  entries.push_back(std::move(e));
  journal_count_.fetch_add(1);
}

void ChunkEngine::MarkJournalCommitted(TargetId target, const ChunkId& chunk, uint64_t version,
                                       uint64_t epoch) {
  if (journal_count_.load() == 0) return;
  std::lock_guard lock(journal_mu_);
  auto it = journal_.find(ChunkKey(target, chunk));
  if (it == journal_.end()) return;
  for (auto& e : it->second) {
    if (e.version == version && !e.committed) {
      e.committed = true;
      e.commit_epoch = epoch;
    }
  }
}

void ChunkEngine::DeleteJournalRecords(TargetId target, const ChunkId& chunk, bool pending_only,
                                       MetaBatch* batch) const {
  if (journal_count_.load() == 0) return;
  std::lock_guard lock(journal_mu_);
  auto it = journal_.find(ChunkKey(target, chunk));
  if (it == journal_.end()) return;
  for (const auto& e : it->second) {
    if (!pending_only || !e.committed) batch->DeleteJournal(target, chunk, e.version, e.epoch);
  }
}

void ChunkEngine::EraseJournal(TargetId target, const ChunkId& chunk, bool pending_only) {
  if (journal_count_.load() == 0) return;
  std::lock_guard lock(journal_mu_);
  auto it = journal_.find(ChunkKey(target, chunk));
  if (it == journal_.end()) return;
  auto& entries = it->second;
  for (auto e = entries.begin(); e != entries.end();) {
    if (!pending_only || !e->committed) {
      journal_bytes_ -= e->blocks->size();
      journal_count_.fetch_sub(1);
      e = entries.erase(e);
    } else {
      ++e;
    }
  }
  if (entries.empty()) journal_.erase(it);
}

Status ChunkEngine::WriteBlocksInPlace(SlotAddress slot, uint32_t offset,
                                       std::span<const uint8_t> blocks) {
  auto buf = buffers_->Acquire();
  const uint64_t piece = buf->size();
  for (uint64_t pos = 0; pos < blocks.size(); pos += piece) {
    uint64_t n = std::min<uint64_t>(piece, blocks.size() - pos);
    std::memcpy(buf->data(), blocks.data() + pos, n);
    HF3FS_TRY(data_->Write(slot, offset + pos, std::span<const uint8_t>(buf->data(), n)));
  }
  return Status::Ok();
}

Status ChunkEngine::ApplyJournal(uint64_t epoch, MetaBatch* batch,
                                 std::vector<std::pair<ChunkKey, JournalEntry>>* applied) {
  if (journal_count_.load() == 0) return Status::Ok();
  {
    std::lock_guard lock(journal_mu_);
    for (const auto& [key, entries] : journal_) {
      for (const auto& e : entries) {
        if (e.committed && e.commit_epoch <= epoch) applied->emplace_back(key, e);
      }
    }
  }
  if (applied->empty()) return Status::Ok();
  // Their records, and the commits that make them current, must be power-safe before a byte of
  // a slot changes: from here a torn in-place write is always redone at open.
  HF3FS_TRY(NoteError(meta_->SyncWal()));
  HF3FS_TRY(Hook("journal.wal_synced"));
  // No stripe lock: readers lay these very entries over whatever the slot holds meanwhile, and
  // no other update path touches a chunk with committed entries (a chunk purged meanwhile keeps
  // its slot allocated until a later flush).
  for (const auto& [key, e] : *applied) {
    HF3FS_TRY(NoteError(WriteBlocksInPlace(e.slot, e.offset, *e.blocks)));
    if (metrics_) metrics_->write_bytes->Inc(e.blocks->size());
    batch->DeleteJournal(key.first, key.second, e.version, e.epoch);
  }
  return Hook("journal.applied");
}

void ChunkEngine::ForgetApplied(const std::vector<std::pair<ChunkKey, JournalEntry>>& applied) {
  if (applied.empty()) return;
  {
    std::lock_guard lock(journal_mu_);
    for (const auto& item : applied) {
      auto it = journal_.find(item.first);
      if (it == journal_.end()) continue;  // purged meanwhile
      auto& entries = it->second;
      const auto& blocks = item.second.blocks;
      auto e = std::find_if(entries.begin(), entries.end(),
                            [&](const JournalEntry& x) { return x.blocks == blocks; });
      if (e == entries.end()) continue;
      journal_bytes_ -= e->blocks->size();
      journal_count_.fetch_sub(1);
      entries.erase(e);
      if (entries.empty()) journal_.erase(it);
    }
  }
  if (journal_applied_) journal_applied_->Inc(applied.size());
}

Status ChunkEngine::RecoverJournal(MetaBatch* batch) {
  std::vector<JournalRecord> records;
  HF3FS_TRY(NoteError(meta_->ScanJournal([&](JournalRecord&& r) {
    records.push_back(std::move(r));
    return true;
  })));
  for (auto& r : records) {
    HF3FS_TRY_ASSIGN(auto meta, GetRecord(r.target, r.chunk_id));
    const VersionPart* c = meta && meta->committed ? &*meta->committed : nullptr;
    const VersionPart* p = meta && meta->pending ? &*meta->pending : nullptr;
    if (c != nullptr && c->slot == r.slot && r.version <= c->version) {
      // A committed version: its blocks go in place (again, if the flush got that far).
      HF3FS_TRY(NoteError(WriteBlocksInPlace(r.slot, r.offset, r.blocks)));
      ++recovery_.journal_redone;
      batch->DeleteJournal(r.target, r.chunk_id, r.version, r.epoch);
    } else if (p != nullptr && !p->removal && p->slot == r.slot && r.version == p->version) {
      auto blocks = std::make_shared<const std::vector<uint8_t>>(std::move(r.blocks));
      InsertJournal(r, std::move(blocks));  // the pending part's blocks, laid over until commit
    } else {
      batch->DeleteJournal(r.target, r.chunk_id, r.version, r.epoch);  // stale
    }
  }
  if (recovery_.journal_redone > 0) {
    HF3FS_LOG_INFO("chunk.journal_redone dir={} records={}", dir_, recovery_.journal_redone);
  }
  return Status::Ok();
}

}  // namespace hf3fs::chunk
