// Window durability of the chunk engine (docs/design/0009-durability.md, "Chunk engine"):
// epochs, the shared flush, deferred slot release, fallback parts and the verification of
// unsynced epochs after a power loss.
//
// Invariants (window durability):
//   - A part's bytes are durable once the flush of its epoch finished (durable_epoch_ >= epoch).
//   - A slot that a record change stops naming is reused only after the flush of the change's
//     epoch: until then an older record that a power loss could bring back may still name it.
//   - A record whose committed part is not durable carries the newest durable committed part as
//     its fallback, and the fallback's slot stays allocated until the record's epoch is durable.
//   - A record change of epoch e never replaces parts of an epoch < e that are not durable yet
//     (it waits for that flush first), so a fallback is always durable.
// Together: after a power loss every record names bytes that are durable, or parts of an epoch
// above the durable-epoch record that Open verifies, with a durable fallback behind them.
#include <fstream>
#include <set>

#include "chunk/chunk_engine.h"
#include "chunk/engine_metrics.h"
#include "common/crc32c.h"
#include "common/logging.h"

namespace hf3fs::chunk {

namespace {

std::string ReadBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

void AddSlot(std::set<SlotAddress>& slots, const std::optional<VersionPart>& part) {
  if (part && part->slot.valid()) slots.insert(part->slot);
}

}  // namespace

uint64_t ChunkEngine::EnterEpoch() {
  if (options_.durability == Durability::kStrict) return 0;
  std::lock_guard lock(epoch_mu_);
  ++in_flight_[epoch_];
  return epoch_;
}

void ChunkEngine::LeaveEpoch(uint64_t epoch) {
  if (epoch == 0) return;
  {
    std::lock_guard lock(epoch_mu_);
    auto it = in_flight_.find(epoch);
    if (--it->second == 0) in_flight_.erase(it);
  }
  epoch_cv_.notify_all();
}

Status ChunkEngine::AwaitEarlierEpochs(const std::optional<ChunkMeta>& existing, uint64_t epoch) {
  if (epoch == 0 || !existing) return Status::Ok();
  uint64_t need = 0;
  for (const auto* p : {&existing->committed, &existing->pending}) {
    if (*p && (*p)->epoch < epoch) need = std::max(need, (*p)->epoch);
  }
  if (need == 0) return Status::Ok();
  std::unique_lock lock(epoch_mu_);
  // The flush of `need` has started (the current epoch is past it) and waits only for tickets
  // of epochs <= need, never for ours: this cannot deadlock.
  epoch_cv_.wait(lock, [&] { return durable_epoch_ >= need || failed_.load(); });
  lock.unlock();
  return CheckWritable();
}

std::optional<VersionPart> ChunkEngine::LiveFallback(const ChunkMeta& meta) const {
  if (!meta.fallback || !meta.committed) return std::nullopt;
  std::lock_guard lock(epoch_mu_);
  if (meta.committed->epoch <= durable_epoch_) return std::nullopt;
  return meta.fallback;
}

Status ChunkEngine::Persist(std::span<RecordChange> changes, uint64_t epoch,
                            const MetaBatch* extra) {
  bool window = epoch != 0;
  uint64_t durable;
  {
    std::lock_guard lock(epoch_mu_);
    durable = durable_epoch_;
  }
  MetaBatch batch;
  std::vector<SlotAddress> release;
  std::vector<SlotAddress> obsolete_fallbacks;
  for (auto& c : changes) {
    std::optional<VersionPart> old_fallback =
        c.existing && window ? LiveFallback(*c.existing) : std::nullopt;
    if (c.next != nullptr) {
      c.next->fallback.reset();
      const auto& committed = c.next->committed;
      if (window && committed && committed->epoch > durable) {
        // Not durable yet: keep the newest durable committed part to fall back to.
        if (c.existing && c.existing->committed && c.existing->committed->epoch <= durable) {
          c.next->fallback = c.existing->committed;
        } else {
          c.next->fallback = old_fallback;
        }
      }
      batch.Put(*c.next);
    } else {
      batch.Delete(c.existing->target, c.existing->chunk_id);
    }
    std::set<SlotAddress> before, after;
    if (c.existing) {
      AddSlot(before, c.existing->committed);
      AddSlot(before, c.existing->pending);
      AddSlot(before, old_fallback);
    }
    if (c.next) {
      AddSlot(after, c.next->committed);
      AddSlot(after, c.next->pending);
      AddSlot(after, c.next->fallback);
      // A fallback in a slot of its own is only needed until this record is durable.
      const auto& f = c.next->fallback;
      if (f && f->slot.valid() && !(c.next->committed && c.next->committed->slot == f->slot) &&
          !(c.next->pending && c.next->pending->slot == f->slot)) {
        obsolete_fallbacks.push_back(f->slot);
      }
    }
    for (SlotAddress s : before) {
      if (after.count(s) == 0) release.push_back(s);
    }
  }
  if (extra != nullptr) batch.Append(*extra);
  // On failure nothing is freed: the batch may be durable after all (a leaked slot is reclaimed
  // by the next open, a wrongly freed one could be overwritten).
  HF3FS_TRY(WriteBatch(batch));
  if (!window) {
    for (SlotAddress s : release) FreeSlot(s);
    return Status::Ok();
  }
  records_written_.fetch_add(changes.size());
  std::lock_guard lock(epoch_mu_);
  for (SlotAddress s : release) deferred_[s] = epoch;
  for (SlotAddress s : obsolete_fallbacks) deferred_[s] = epoch;
  return Status::Ok();
}

Status ChunkEngine::Sync() {
  if (options_.durability == Durability::kStrict) return CheckWritable();
  // Every update acknowledged before this call was counted before it: nothing new, no flush.
  if (records_written_.load() == records_flushed_.load()) return CheckWritable();
  return sync_.Sync();
}

uint64_t ChunkEngine::durable_epoch() const {
  std::lock_guard lock(epoch_mu_);
  return durable_epoch_;
}

Status ChunkEngine::FlushEpoch() {
  HF3FS_TRY(CheckWritable());
  auto start = std::chrono::steady_clock::now();
  uint64_t written = records_written_.load();
  uint64_t epoch;
  {
    std::unique_lock lock(epoch_mu_);
    epoch = epoch_++;
    epoch_cv_.wait(lock, [&] { return in_flight_.empty() || in_flight_.begin()->first > epoch; });
  }
  // Journaled overwrites committed by now go in place (after a WAL sync) and are synced with
  // the data files; their records go with the durable-epoch record.
  MetaBatch batch;
  std::vector<std::pair<ChunkKey, JournalEntry>> applied;
  Status st = ApplyJournal(epoch, &batch, &applied);
  if (st.ok()) st = data_->SyncAll();
  if (st.ok()) {
    batch.PutDurableEpoch(DurableEpoch{epoch, boot_id_});
    st = meta_->Write(batch, /*sync=*/true);
  }
  if (!st.ok()) {
    st = NoteError(std::move(st));
    epoch_cv_.notify_all();  // waiters see the failed engine
    return st;
  }
  std::vector<SlotAddress> frees;
  {
    std::lock_guard lock(epoch_mu_);
    durable_epoch_ = epoch;
    for (auto it = deferred_.begin(); it != deferred_.end();) {
      if (it->second <= epoch) {
        frees.push_back(it->first);
        it = deferred_.erase(it);
      } else {
        ++it;
      }
    }
  }
  epoch_cv_.notify_all();
  ForgetApplied(applied);
  for (SlotAddress s : frees) FreeSlot(s);
  records_flushed_ = written;
  if (syncs_) {
    syncs_->Inc();
    sync_latency_->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return Status::Ok();
}

Result<bool> ChunkEngine::PartIntact(const ChunkMeta& meta, const VersionPart& part) {
  if (!part.slot.valid() || part.length == 0) return part.checksum == 0 || part.removal;
  if (!data_->SlotOnDisk(part.slot)) return false;  // its file (or the file's growth) was lost
  JournalView view = JournalViewOf(meta.target, meta.chunk_id);
  auto buf = buffers_->Acquire();
  const uint64_t piece = buf->size();
  uint32_t crc = 0;
  for (uint64_t pos = 0; pos < part.length; pos += piece) {
    uint64_t n = std::min<uint64_t>(piece, part.length - pos);
    Status st = data_->Read(part.slot, pos, buf->span().first(RoundUpToBlock(n)));
    if (!st.ok()) return st;
    OverlayJournal(view, part, pos, buf->span().first(n));
    crc = Crc32c(buf->data(), n, crc);
  }
  return crc == part.checksum;
}

Status ChunkEngine::Recover() {
  boot_id_ = options_.boot_id.empty() ? ReadBootId() : options_.boot_id;
  HF3FS_TRY_ASSIGN(auto stored, meta_->GetDurableEpoch());
  DurableEpoch durable = stored.value_or(DurableEpoch{});
  bool same_boot = stored && !boot_id_.empty() && durable.boot_id == boot_id_;
  uint64_t max_epoch = durable.epoch;
  // Journaled blocks of committed versions go in place before anything reads a slot; records of
  // pending versions are laid over their slots again (chunk_journal.cc).
  MetaBatch journal_done;
  HF3FS_TRY(RecoverJournal(&journal_done));
  std::vector<ChunkMeta> suspects;
  HF3FS_TRY(meta_->Scan(std::string(1, kChunkKeyPrefix), std::string(1, kChunkKeyPrefix + 1),
                        [&](ChunkMeta&& meta) {
                          uint64_t c = meta.committed ? meta.committed->epoch : 0;
                          uint64_t p = meta.pending ? meta.pending->epoch : 0;
                          max_epoch = std::max({max_epoch, c, p});
                          if (!same_boot && std::max(c, p) > durable.epoch) {
                            suspects.push_back(std::move(meta));
                          }
                          return true;
                        }));
  recovery_.verified = !same_boot && !suspects.empty();
  MetaBatch fixes;
  for (ChunkMeta& m : suspects) {
    bool changed = false;
    if (m.committed && m.committed->epoch > durable.epoch) {
      HF3FS_TRY_ASSIGN(bool ok, PartIntact(m, *m.committed));
      if (ok) {
        ++recovery_.intact;
      } else if (m.fallback) {
        HF3FS_LOG_WARN("chunk.recover_reverted dir={} {}", dir_, ToString(m));
        m.committed = m.fallback;
        ++recovery_.reverted;
        changed = true;
      } else {
        HF3FS_LOG_WARN("chunk.recover_dropped dir={} part=committed {}", dir_, ToString(m));
        m.committed.reset();
        ++recovery_.dropped;
        changed = true;
      }
    }
    if (m.pending && !m.pending->removal && m.pending->epoch > durable.epoch) {
      HF3FS_TRY_ASSIGN(bool ok, PartIntact(m, *m.pending));
      if (ok) {
        ++recovery_.intact;
      } else {
        HF3FS_LOG_WARN("chunk.recover_dropped dir={} part=pending {}", dir_, ToString(m));
        m.pending.reset();
        ++recovery_.dropped;
        changed = true;
      }
    }
    if (m.committed && m.pending && m.pending->version <= m.committed->version) {
      m.pending.reset();  // a reverted committed part cannot keep a pending part built on another
      changed = true;
    }
    m.fallback.reset();
    if (!changed) continue;
    if (!m.pending) {  // a dropped pending part takes its journal entry with it
      DeleteJournalRecords(m.target, m.chunk_id, /*pending_only=*/true, &fixes);
      EraseJournal(m.target, m.chunk_id, /*pending_only=*/true);
    }
    if (m.removed()) {
      fixes.Delete(m.target, m.chunk_id);
    } else {
      fixes.Put(m);
    }
  }
  if (!fixes.empty()) HF3FS_TRY(NoteError(meta_->Write(fixes, /*sync=*/false)));
  // Whatever the kernel still held (a process crash) or the checks kept becomes durable now,
  // under an epoch above every one in the records: their fallbacks are stale from here on.
  HF3FS_TRY(NoteError(data_->SyncAll()));
  MetaBatch mark = std::move(journal_done);  // the redone records are durable in place now
  mark.PutDurableEpoch(DurableEpoch{max_epoch, boot_id_});
  HF3FS_TRY(NoteError(meta_->Write(mark, /*sync=*/true)));
  durable_epoch_ = max_epoch;
  epoch_ = max_epoch + 1;
  if (recovery_.verified) {
    HF3FS_LOG_WARN(
        "chunk.recovered_after_power_loss dir={} durable_epoch={} checked={} intact={} "
        "reverted={} dropped={}",
        dir_, durable.epoch, suspects.size(), recovery_.intact, recovery_.reverted,
        recovery_.dropped);
  }
  return Status::Ok();
}

}  // namespace hf3fs::chunk
