// Compaction of sparse groups: moves committed chunks out of the highest, at most half full group
// of a size class into free slots of lower groups, so the group empties and is punched.
//
// A move is a copy-on-write of one committed chunk: copy the bytes to a lower slot (verifying the
// checksum), then one batch that points the record at the new slot, then free the old slot; in
// strict durability the copy is fdatasync'd and the batch synced, in window durability the round
// ends with one flush (the old slots are freed by it). Fault-hook points:
// "compact.data_written", "compact.data_synced" (strict), "meta.write".
#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "chunk/chunk_engine.h"
#include "chunk/engine_metrics.h"
#include "common/crc32c.h"
#include "common/logging.h"

namespace hf3fs::chunk {

Result<CompactResult> ChunkEngine::Compact(uint32_t max_moves) {
  auto start = std::chrono::steady_clock::now();
  auto result = [&]() -> Result<CompactResult> {
    if (max_moves == 0 || max_moves > kMaxCompactMoves) {
      return MakeStatus(StatusCode::kInvalidArgument, "max_moves {} not in 1..{}", max_moves,
                        kMaxCompactMoves);
    }
    HF3FS_TRY(CheckWritable());
    std::map<uint8_t, uint32_t> tails;  // class -> the group to empty
    for (uint8_t c = kMinClassLog2; c <= kMaxClassLog2; ++c) {
      if (auto g = data_->SparseTailGroup(c)) tails[c] = *g;
    }
    CompactResult out;
    if (tails.empty()) return out;

    // One scan finds the chunks in those groups. A chunk with a pending part is not moved (an
    // update is in progress) and keeps its group from emptying this time.
    struct Victim {
      TargetId target;
      ChunkId chunk;
      SlotAddress slot;
    };
    std::vector<Victim> victims;
    std::set<uint8_t> blocked;
    auto in_tail = [&](const VersionPart& p) {
      auto it = tails.find(p.slot.class_log2);
      return p.slot.valid() && it != tails.end() && data_->GroupOf(p.slot) == it->second;
    };
    auto st = meta_->Scan(
        std::string(1, kChunkKeyPrefix), std::string(1, kChunkKeyPrefix + 1),
        [&](ChunkMeta&& meta) {
          bool committed_in = meta.committed && in_tail(*meta.committed);
          bool pending_in = meta.pending && in_tail(*meta.pending);
          if (meta.pending && (committed_in || pending_in)) {
            blocked.insert((committed_in ? *meta.committed : *meta.pending).slot.class_log2);
          } else if (committed_in) {
            victims.push_back({meta.target, meta.chunk_id, meta.committed->slot});
          }
          return true;
        });
    HF3FS_TRY(NoteError(std::move(st)));
    for (const Victim& v : victims) {
      if (blocked.count(v.slot.class_log2) != 0) continue;
      if (out.moved == max_moves) {
        out.more = true;
        break;
      }
      HF3FS_TRY_ASSIGN(bool moved, MoveChunk(v.target, v.chunk, v.slot, tails[v.slot.class_log2]));
      out.moved += moved;
    }
    // Window durability: the old slots are released by the flush of the moves' epoch.
    if (out.moved > 0 && options_.durability == Durability::kWindow) HF3FS_TRY(Sync());
    for (const auto& [c, g] : tails) {
      if (data_->GroupUsed(c, g) == 0) ++out.groups_emptied;
      if (data_->SparseTailGroup(c)) out.more = true;
    }
    metrics_->compacted_chunks->Inc(out.moved);
    return out;
  }();
  metrics_->Finish(EngineOp::kCompact, start,
                   result.ok() ? Status::Ok() : Status(result.status().code()));
  return result;
}

Result<bool> ChunkEngine::MoveChunk(TargetId target, const ChunkId& chunk, SlotAddress from,
                                    uint32_t below_group) {
  std::unique_lock lock(StripeOf(target, chunk));
  EpochTicket ticket(*this);
  HF3FS_TRY_ASSIGN(auto existing, GetRecord(target, chunk));
  // The chunk may have changed since the scan; move only what the scan saw.
  if (!existing || existing->pending || !existing->committed || existing->committed->slot != from) {
    return false;
  }
  // Its bytes are the slot and journal entries until the next flush writes them in place.
  if (JournalStateOf(target, chunk).committed > 0) return false;
  HF3FS_TRY(AwaitEarlierEpochs(existing, ticket.epoch()));
  const VersionPart& part = *existing->committed;
  auto to = data_->Allocate(from.class_log2);
  if (!to.ok()) return NoteError(std::move(to).status());
  if (data_->GroupOf(*to) >= below_group) {  // no lower slot after all (taken meanwhile)
    FreeSlot(*to);
    return false;
  }
  auto copied = [&]() -> Status {
    uint32_t crc = 0;
    auto buf = buffers_->Acquire();
    const uint64_t piece = buf->size();
    for (uint64_t pos = 0; pos < part.length; pos += piece) {
      uint64_t n = std::min<uint64_t>(piece, part.length - pos);
      auto blocks = buf->span().first(RoundUpToBlock(n));
      HF3FS_TRY(data_->Read(from, pos, blocks));
      crc = Crc32c(buf->data(), n, crc);
      HF3FS_TRY(data_->Write(*to, pos, blocks));
      metrics_->write_bytes->Inc(blocks.size());
    }
    if (crc != part.checksum) {
      metrics_->checksum_failures->Inc();
      return MakeStatus(StatusCode::kDataCorruption,
                        "compaction: chunk {} bytes have CRC32C {:08x}, record says {:08x}", chunk,
                        crc, part.checksum);
    }
    HF3FS_TRY(Hook("compact.data_written"));
    if (options_.durability == Durability::kWindow) return Status::Ok();
    HF3FS_TRY(data_->Sync(*to));
    return Hook("compact.data_synced");
  }();
  if (!copied.ok()) {
    FreeSlot(*to);
    if (copied.code() == StatusCode::kDataCorruption) {
      HF3FS_LOG_ERROR("chunk.compact_skipped dir={} chunk={} error=\"{}\"", dir_, chunk, copied);
      return false;  // a corrupt chunk stays put; reads report it
    }
    return NoteError(std::move(copied));
  }
  ChunkMeta next = *existing;
  next.committed->slot = *to;
  next.committed->epoch = ticket.epoch();
  next.committed->shrunk = false;  // a fresh slot holds nothing past the length
  RecordChange change{&*existing, &next};
  // On failure both slots stay reserved until the next open.
  HF3FS_TRY(Persist(std::span(&change, 1), ticket.epoch()));
  return true;
}

}  // namespace hf3fs::chunk
