#include "chunk/chunk_engine.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>

#include "chunk/engine_metrics.h"
#include "common/crc32c.h"
#include "common/logging.h"
#include "common/units.h"

namespace hf3fs::chunk {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `fn` and records the call in the engine metrics.
template <typename Fn>
auto Instrumented(EngineMetrics* m, EngineOp op, Fn&& fn) {
  auto start = Clock::now();
  auto result = fn();
  m->Finish(op, start, result.ok() ? Status::Ok() : Status(result.status().code()));
  return result;
}

std::string RangeBeginKey(TargetId target, const ChunkId& begin) {
  return begin.empty() ? TargetKeyBegin(target) : EncodeChunkKey(target, begin);
}

std::string RangeEndKey(TargetId target, const ChunkId& end) {
  return end.empty() ? TargetKeyEnd(target) : EncodeChunkKey(target, end);
}

}  // namespace

const char* EngineOpName(EngineOp op) {
  static constexpr const char* kNames[] = {
      "write", "truncate",  "remove",   "commit",    "replace",    "purge",  "remove_range",
      "read",  "read_full", "get_meta", "list_meta", "query_last", "compact"};
  static_assert(std::size(kNames) == static_cast<size_t>(EngineOp::kCount));
  return kNames[static_cast<size_t>(op)];
}

EngineMetrics::EngineMetrics(metrics::Registry* reg, std::string disk_label)
    : registry(reg), disk(std::move(disk_label)) {
  for (size_t i = 0; i < ops.size(); ++i) {
    metrics::Labels labels = {{"disk", disk}, {"op", EngineOpName(static_cast<EngineOp>(i))}};
    ops[i].total = reg->GetCounter("hf3fs_chunk_ops_total", "chunk engine calls", labels);
    ops[i].latency =
        reg->GetHistogram("hf3fs_chunk_op_latency_seconds", "chunk engine call latency", labels);
  }
  static constexpr const char* kPaths[] = {"append", "shrink",    "cow",    "removal",
                                           "empty",  "unchanged", "journal"};
  for (size_t i = 0; i < paths.size(); ++i) {
    paths[i] = reg->GetCounter("hf3fs_chunk_updates_total", "updates by how they were applied",
                               {{"disk", disk}, {"path", kPaths[i]}});
  }
  read_bytes =
      reg->GetCounter("hf3fs_chunk_read_bytes_total", "bytes read by callers", {{"disk", disk}});
  write_bytes = reg->GetCounter("hf3fs_chunk_write_bytes_total", "bytes written to data files",
                                {{"disk", disk}});
  cow_copied_bytes = reg->GetCounter("hf3fs_chunk_cow_copied_bytes_total",
                                     "committed bytes copied by copy-on-write", {{"disk", disk}});
  compacted_chunks =
      reg->GetCounter("hf3fs_chunk_compacted_chunks_total",
                      "chunks moved to a lower slot by compaction", {{"disk", disk}});
  checksum_failures =
      reg->GetCounter("hf3fs_chunk_checksum_failures_total",
                      "chunk bytes that did not match their checksum", {{"disk", disk}});
}

void EngineMetrics::Finish(EngineOp op, Clock::time_point start, const Status& status) {
  auto& m = ops[static_cast<size_t>(op)];
  m.total->Inc();
  m.latency->Observe(std::chrono::duration<double>(Clock::now() - start).count());
  if (!status.ok()) {
    registry
        ->GetCounter(
            "hf3fs_chunk_op_errors_total", "chunk engine calls that failed",
            {{"disk", disk}, {"op", EngineOpName(op)}, {"code", StatusCodeLabel(status.code())}})
        ->Inc();
  }
}

ChunkEngine::ChunkEngine() : sync_([this] { return FlushEpoch(); }) {}

ChunkEngine::~ChunkEngine() {
  sync_.StopPeriodic();
  if (data_ && options_.durability == Durability::kWindow && !failed_.load()) {
    // A clean shutdown leaves nothing to verify after a later power loss.
    Status st = sync_.Sync();
    if (!st.ok()) HF3FS_LOG_WARN("chunk.final_sync_failed dir={} error=\"{}\"", dir_, st);
  }
  if (metrics_) metrics_->callbacks.clear();  // scrapes must not see a half-destroyed engine
}

Result<std::unique_ptr<ChunkEngine>> ChunkEngine::Open(const std::string& dir,
                                                       ChunkEngineOptions options) {
  if (options.io_piece_bytes < kBlockBytes || options.io_piece_bytes % kBlockBytes != 0 ||
      options.io_piece_bytes > ClassBytes(kMaxClassLog2)) {
    return MakeStatus(StatusCode::kInvalidArgument,
                      "io_piece_bytes {} must be a multiple of {} up to 64MiB",
                      options.io_piece_bytes, kBlockBytes);
  }
  std::unique_ptr<ChunkEngine> e(new ChunkEngine());
  e->dir_ = dir;
  if (options.name.empty()) options.name = dir;
  e->options_ = std::move(options);
  const ChunkEngineOptions& o = e->options_;
  e->low_space_bytes_ = o.low_space_threshold_bytes;
  e->low_space_percent_ = o.low_space_threshold_percent;
  std::string data_dir = dir + "/data";
  if (o.file_layer) {
    e->layer_ = o.file_layer;
    HF3FS_TRY(e->layer_->CreateDirectories(data_dir));
  } else {
    HF3FS_TRY_ASSIGN(auto layer, CreatePosixFileLayer(data_dir, o.io));
    e->layer_ = std::move(layer);
  }
  HF3FS_TRY_ASSIGN(e->meta_, MetaStore::Open(dir + "/meta", o.meta_env));
  // The entries of <dir> itself, <dir>/data and <dir>/meta must survive a power loss too.
  auto norm = std::filesystem::path(dir).lexically_normal();
  if (!norm.has_filename()) norm = norm.parent_path();  // "a/b/" names "a/b"
  std::string parent = norm.parent_path().string();
  HF3FS_TRY(e->layer_->SyncDirectory(parent.empty() ? "." : parent));
  HF3FS_TRY(e->layer_->SyncDirectory(dir));
  HF3FS_TRY_ASSIGN(auto stored, e->meta_->GetLayout());
  Layout layout;
  if (stored) {
    layout = *stored;
  } else {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    layout = MakeLayout(o.group_bytes, o.groups_per_file,
                        std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
    HF3FS_TRY(e->meta_->PutLayout(layout));
  }
  HF3FS_TRY_ASSIGN(e->data_, DataFiles::Open(e->layer_.get(), data_dir, layout,
                                             o.punch_empty_groups));
  e->buffers_ = std::make_unique<BufferPool>(o.io_piece_bytes, o.max_pooled_buffers);
  HF3FS_TRY(e->Recover());
  HF3FS_TRY(e->Rebuild());
  e->info_ = EngineInfo{dir, e->layer_->info(), layout};
  auto* registry = o.metrics ? o.metrics : &metrics::Registry::Global();
  e->metrics_ = std::make_unique<EngineMetrics>(registry, o.name);
  e->syncs_ = registry->GetCounter("hf3fs_chunk_syncs_total",
                                   "flushes that made earlier updates durable (window durability)",
                                   {{"disk", o.name}});
  e->sync_latency_ = registry->GetHistogram("hf3fs_chunk_sync_seconds",
                                            "latency of those flushes", {{"disk", o.name}});
  e->journal_applied_ = registry->GetCounter(
      "hf3fs_chunk_journal_applied_total",
      "journaled overwrites written in place by a flush (window durability)", {{"disk", o.name}});
  e->journal_forced_flushes_ = registry->GetCounter(
      "hf3fs_chunk_journal_forced_flushes_total",
      "flushes run before an update that could not build on a chunk's journal entries",
      {{"disk", o.name}});
  registry
      ->GetCounter("hf3fs_chunk_journal_redone_total",
                   "journaled overwrites written in place again at open", {{"disk", o.name}})
      ->Inc(e->recovery_.journal_redone);
  const auto& r = e->recovery_;
  for (auto [outcome, n] : {std::pair{"intact", r.intact}, {"reverted", r.reverted},
                            {"dropped", r.dropped}}) {
    registry
        ->GetCounter("hf3fs_chunk_recovered_parts_total",
                     "parts of unsynced epochs checked after a power loss, by outcome",
                     {{"disk", o.name}, {"outcome", outcome}})
        ->Inc(n);
  }
  e->RegisterGauges();
  if (o.durability == Durability::kWindow) {
    ChunkEngine* self = e.get();
    e->sync_.StartPeriodic(o.sync_interval, [self] {
      return self->records_written_.load() != self->records_flushed_.load();
    });
  }
  uint64_t chunks = 0;
  for (const auto& [t, n] : e->chunks_per_target_) chunks += n;
  HF3FS_LOG_INFO(
      "chunk.engine_open dir={} chunks={} targets={} direct={} io_uring={} durability={} "
      "durable_epoch={}",
      dir, chunks, e->chunks_per_target_.size(), e->info_.io.direct, e->info_.io.io_uring,
      ToString(o.durability), e->durable_epoch_);
  return e;
}

void ChunkEngine::RegisterGauges() {
  auto* reg = metrics_->registry;
  const std::string& disk = metrics_->disk;
  for (uint8_t c = kMinClassLog2; c <= kMaxClassLog2; ++c) {
    metrics::Labels labels = {{"disk", disk}, {"class", FormatSize(ClassBytes(c))}};
    metrics_->callbacks.push_back(reg->AddCallback(
        "hf3fs_chunk_slots_used", "slots holding chunk data", metrics::Type::kGauge, labels,
        [this, c] { return static_cast<double>(data_->Stats(c).used_slots); }));
    metrics_->callbacks.push_back(reg->AddCallback(
        "hf3fs_chunk_slots_free", "free slots inside existing groups", metrics::Type::kGauge,
        labels, [this, c] { return static_cast<double>(data_->Stats(c).free_slots); }));
  }
  metrics_->callbacks.push_back(
      reg->AddCallback("hf3fs_chunk_disk_capacity_bytes", "capacity of the disk's file system",
                       metrics::Type::kGauge, {{"disk", disk}}, [this] {
                         auto space = layer_->StatFs(dir_);
                         return space.ok() ? static_cast<double>(space->capacity_bytes) : 0.0;
                       }));
  metrics_->callbacks.push_back(
      reg->AddCallback("hf3fs_chunk_disk_free_bytes", "free bytes of the disk's file system",
                       metrics::Type::kGauge, {{"disk", disk}}, [this] {
                         auto space = layer_->StatFs(dir_);
                         return space.ok() ? static_cast<double>(space->free_bytes) : 0.0;
                       }));
  metrics_->callbacks.push_back(reg->AddCallback(
      "hf3fs_chunk_journal_entries", "journaled overwrites not yet written in place",
      metrics::Type::kGauge, {{"disk", disk}},
      [this] { return static_cast<double>(journal_count_.load()); }));
  metrics_->callbacks.push_back(reg->AddCallback("hf3fs_chunk_journal_bytes",
                                                 "bytes of journaled overwrites held in memory",
                                                 metrics::Type::kGauge, {{"disk", disk}}, [this] {
                                                   std::lock_guard lock(journal_mu_);
                                                   return static_cast<double>(journal_bytes_);
                                                 }));
  metrics_->callbacks.push_back(reg->AddCallback(
      "hf3fs_chunk_engine_failed", "1 after a disk error took the engine out of service",
      metrics::Type::kGauge, {{"disk", disk}}, [this] { return failed_.load() ? 1.0 : 0.0; }));
}

// Recover() ran first: every fallback is stale (the durable epoch is above every record's), so
// only committed and pending parts name slots.
Status ChunkEngine::Rebuild() {
  uint64_t records = 0;
  Status marked;
  HF3FS_TRY(meta_->Scan(std::string(1, kChunkKeyPrefix), std::string(1, kChunkKeyPrefix + 1),
                        [&](ChunkMeta&& meta) {
                          ++records;
                          ++chunks_per_target_[meta.target];
                          std::set<SlotAddress> slots;
                          if (meta.committed && meta.committed->slot.valid()) {
                            slots.insert(meta.committed->slot);
                          }
                          if (meta.pending && meta.pending->slot.valid()) {
                            slots.insert(meta.pending->slot);
                          }
                          for (SlotAddress s : slots) {
                            marked = data_->MarkUsed(s);
                            if (!marked.ok()) {
                              marked = marked.WithContext(ToString(meta));
                              return false;
                            }
                          }
                          return true;
                        }));
  HF3FS_TRY(marked);
  return data_->FinishRebuild();
}

Status ChunkEngine::ValidateId(const ChunkId& chunk) const {
  if (!chunk.valid()) {
    return MakeStatus(StatusCode::kInvalidArgument, "chunk id must have 1..{} bytes, has {}",
                      kMaxChunkIdBytes, chunk.size());
  }
  return Status::Ok();
}

Status ChunkEngine::ValidateRange(const ChunkId& begin, const ChunkId& end, uint32_t limit) const {
  if (begin.size() > kMaxChunkIdBytes || end.size() > kMaxChunkIdBytes) {
    return Status(StatusCode::kInvalidArgument, "range bound longer than a chunk id");
  }
  if (limit == 0 || limit > kMaxRangeLimit) {
    return MakeStatus(StatusCode::kInvalidArgument, "limit {} not in 1..{}", limit, kMaxRangeLimit);
  }
  return Status::Ok();
}

std::shared_mutex& ChunkEngine::StripeOf(TargetId target, const ChunkId& chunk) {
  size_t h = std::hash<std::string>()(chunk.bytes()) ^ (target.value() * 0x9e3779b97f4a7c15ull);
  return stripes_[h % kChunkLockStripes];
}

Status ChunkEngine::NoteError(Status st) {
  if (st.ok() || st.code() != StatusCode::kIoError) return st;
  {
    std::lock_guard lock(mu_);
    if (!failed_.load()) {
      failure_ = st;
      failed_ = true;
      HF3FS_LOG_ERROR("chunk.disk_failed dir={} error=\"{}\"", dir_, st);
    }
  }
  return Status(StatusCode::kDiskError, st.message());
}

Status ChunkEngine::CheckWritable() const {
  if (!failed_.load()) return Status::Ok();
  std::lock_guard lock(mu_);
  return Status(StatusCode::kDiskError, "engine failed after: " + failure_.ToString());
}

Status ChunkEngine::health() const { return CheckWritable(); }

Status ChunkEngine::Hook(std::string_view point) {
  return options_.fault_hook ? NoteError(options_.fault_hook(point)) : Status::Ok();
}

void ChunkEngine::CountChunk(TargetId target, int64_t delta) {
  std::lock_guard lock(mu_);
  uint64_t& n = chunks_per_target_[target];
  n = static_cast<uint64_t>(static_cast<int64_t>(n) + delta);
  if (n == 0) chunks_per_target_.erase(target);
}

void ChunkEngine::SetLowSpaceThreshold(uint64_t bytes, double percent) {
  std::lock_guard lock(mu_);
  low_space_bytes_ = bytes;
  low_space_percent_ = percent;
}

Result<bool> ChunkEngine::IsLowSpace(const FsSpace& space) const {
  std::lock_guard lock(mu_);
  return space.free_bytes < low_space_bytes_ ||
         static_cast<double>(space.free_bytes) * 100.0 <
             low_space_percent_ * static_cast<double>(space.capacity_bytes);
}

Status ChunkEngine::CheckLowSpace() {
  HF3FS_TRY_ASSIGN(FsSpace space, layer_->StatFs(dir_));
  HF3FS_TRY_ASSIGN(bool low, IsLowSpace(space));
  if (low) {
    return MakeStatus(StatusCode::kNoSpace,
                      "low space on {}: {} free of {}; new chunks are refused", dir_,
                      space.free_bytes, space.capacity_bytes);
  }
  return Status::Ok();
}

Result<std::optional<ChunkMeta>> ChunkEngine::GetRecord(TargetId target, const ChunkId& chunk) {
  auto r = meta_->Get(target, chunk);
  if (!r.ok()) return NoteError(std::move(r).status());
  return r;
}

Result<ChunkMeta> ChunkEngine::GetMeta(TargetId target, const ChunkId& chunk) {
  return Instrumented(metrics_.get(), EngineOp::kGetMeta, [&]() -> Result<ChunkMeta> {
    HF3FS_TRY(ValidateId(chunk));
    HF3FS_TRY_ASSIGN(auto existing, GetRecord(target, chunk));
    if (!existing)
      return MakeStatus(StatusCode::kChunkNotFound, "chunk {} of target {}", chunk, target);
    return std::move(*existing);
  });
}

Result<MetaPage> ChunkEngine::ListMeta(TargetId target, const ChunkId& begin, const ChunkId& end,
                                       uint32_t limit) {
  return Instrumented(metrics_.get(), EngineOp::kListMeta, [&]() -> Result<MetaPage> {
    HF3FS_TRY(ValidateRange(begin, end, limit));
    MetaPage page;
    auto st =
        meta_->Scan(RangeBeginKey(target, begin), RangeEndKey(target, end), [&](ChunkMeta&& meta) {
          if (page.metas.size() == limit) {
            page.more = true;
            page.next = meta.chunk_id;
            return false;
          }
          page.metas.push_back(std::move(meta));
          return true;
        });
    HF3FS_TRY(NoteError(std::move(st)));
    return page;
  });
}

Result<RangeSummary> ChunkEngine::QueryLastChunk(TargetId target, const ChunkId& begin,
                                                 const ChunkId& end) {
  return Instrumented(metrics_.get(), EngineOp::kQueryLast, [&]() -> Result<RangeSummary> {
    HF3FS_TRY(ValidateRange(begin, end, 1));
    RangeSummary sum;
    auto st =
        meta_->Scan(RangeBeginKey(target, begin), RangeEndKey(target, end), [&](ChunkMeta&& meta) {
          if (meta.pending) ++sum.pending;
          if (meta.committed) {
            ++sum.chunks;
            sum.total_length += meta.committed->length;
            sum.last = std::move(meta);
          }
          return true;
        });
    HF3FS_TRY(NoteError(std::move(st)));
    return sum;
  });
}

Result<SpaceInfo> ChunkEngine::GetSpaceInfo() {
  HF3FS_TRY_ASSIGN(FsSpace space, layer_->StatFs(dir_));
  SpaceInfo info;
  info.capacity_bytes = space.capacity_bytes;
  info.free_bytes = space.free_bytes;
  HF3FS_TRY_ASSIGN(info.low_space, IsLowSpace(space));
  for (uint8_t c = kMinClassLog2; c <= kMaxClassLog2; ++c) {
    info.classes.push_back(data_->Stats(c));
    info.used_slot_bytes += info.classes.back().used_slots * ClassBytes(c);
  }
  std::lock_guard lock(mu_);
  info.chunks_per_target = chunks_per_target_;
  return info;
}

Result<ReadResult> ChunkEngine::Read(TargetId target, const ChunkId& chunk, uint32_t offset,
                                     std::span<uint8_t> out, ReadMode mode) {
  return Instrumented(metrics_.get(), EngineOp::kRead, [&]() -> Result<ReadResult> {
    HF3FS_TRY(ValidateId(chunk));
    std::shared_lock lock(StripeOf(target, chunk));
    HF3FS_TRY_ASSIGN(auto existing, GetRecord(target, chunk));
    HF3FS_TRY_ASSIGN(const VersionPart* part, SelectPart(existing, mode, target, chunk));
    if (uint64_t{offset} + out.size() > existing->chunk_size) {
      return MakeStatus(StatusCode::kInvalidArgument, "read [{}, +{}) beyond chunk size {}", offset,
                        out.size(), existing->chunk_size);
    }
    uint32_t n = offset >= part->length
                     ? 0
                     : static_cast<uint32_t>(std::min<uint64_t>(out.size(), part->length - offset));
    HF3FS_TRY(NoteError(ReadVersion(target, chunk, *part, offset, out.first(n))));
    std::memset(out.data() + n, 0, out.size() - n);
    if (offset == 0 && n == part->length) HF3FS_TRY(VerifyChecksum(*part, out.first(n), chunk));
    metrics_->read_bytes->Inc(n);
    return ReadResult{n, std::move(*existing), part->version};
  });
}

Result<FullChunk> ChunkEngine::ReadFull(TargetId target, const ChunkId& chunk, ReadMode mode) {
  return Instrumented(metrics_.get(), EngineOp::kReadFull, [&]() -> Result<FullChunk> {
    HF3FS_TRY(ValidateId(chunk));
    std::shared_lock lock(StripeOf(target, chunk));
    HF3FS_TRY_ASSIGN(auto existing, GetRecord(target, chunk));
    HF3FS_TRY_ASSIGN(const VersionPart* part, SelectPart(existing, mode, target, chunk));
    FullChunk full;
    full.data.resize(part->length);
    HF3FS_TRY(NoteError(ReadVersion(target, chunk, *part, 0, full.data)));
    HF3FS_TRY(VerifyChecksum(*part, full.data, chunk));
    full.version = part->version;
    full.checksum = part->checksum;
    full.meta = std::move(*existing);
    metrics_->read_bytes->Inc(full.data.size());
    return full;
  });
}

Result<const VersionPart*> ChunkEngine::SelectPart(const std::optional<ChunkMeta>& existing,
                                                   ReadMode mode, TargetId target,
                                                   const ChunkId& chunk) const {
  if (!existing) {
    return MakeStatus(StatusCode::kChunkNotFound, "chunk {} of target {}", chunk, target);
  }
  switch (mode) {
    case ReadMode::kCommitted:
      if (existing->pending) {
        return MakeStatus(StatusCode::kChunkNotCommitted,
                          "chunk {} has pending version {} (committed {})", chunk,
                          existing->pending->version, existing->commit_version());
      }
      return &*existing->committed;
    case ReadMode::kLatest:
      if (existing->pending && existing->pending->removal) {
        return MakeStatus(StatusCode::kChunkNotFound, "chunk {} has a pending removal", chunk);
      }
      return &existing->latest();
    case ReadMode::kLastCommitted:
      if (!existing->committed) {
        return MakeStatus(StatusCode::kChunkNotFound, "chunk {} has no committed version", chunk);
      }
      return &*existing->committed;
  }
  return Status(StatusCode::kInternal, "bad read mode");
}

Status ChunkEngine::VerifyChecksum(const VersionPart& part, std::span<const uint8_t> bytes,
                                   const ChunkId& chunk) {
  uint32_t crc = Crc32c(bytes.data(), bytes.size());
  if (crc == part.checksum) return Status::Ok();
  metrics_->checksum_failures->Inc();
  HF3FS_LOG_ERROR("chunk.checksum_mismatch dir={} chunk={} version={} stored={:08x} read={:08x}",
                  dir_, chunk, part.version, part.checksum, crc);
  return MakeStatus(StatusCode::kDataCorruption,
                    "chunk {} version {}: data checksum {:08x} != stored {:08x}", chunk,
                    part.version, crc, part.checksum);
}

Result<bool> ChunkEngine::Purge(TargetId target, const ChunkId& chunk) {
  return Instrumented(metrics_.get(), EngineOp::kPurge, [&]() -> Result<bool> {
    HF3FS_TRY(ValidateId(chunk));
    HF3FS_TRY(CheckWritable());
    std::unique_lock lock(StripeOf(target, chunk));
    EpochTicket ticket(*this);
    HF3FS_TRY_ASSIGN(auto existing, GetRecord(target, chunk));
    if (!existing) return false;
    HF3FS_TRY(AwaitEarlierEpochs(existing, ticket.epoch()));
    RecordChange change{&*existing, nullptr};
    MetaBatch extra;
    DeleteJournalRecords(target, chunk, /*pending_only=*/false, &extra);
    HF3FS_TRY(Persist(std::span(&change, 1), ticket.epoch(), &extra));
    EraseJournal(target, chunk, /*pending_only=*/false);
    CountChunk(target, -1);
    return true;
  });
}

Result<RemoveRangeResult> ChunkEngine::RemoveRange(TargetId target, const ChunkId& begin,
                                                   const ChunkId& end, uint32_t limit) {
  return Instrumented(metrics_.get(), EngineOp::kRemoveRange, [&]() -> Result<RemoveRangeResult> {
    HF3FS_TRY(ValidateRange(begin, end, limit));
    HF3FS_TRY(CheckWritable());
    RemoveRangeResult result;
    std::vector<ChunkId> ids;
    auto st =
        meta_->Scan(RangeBeginKey(target, begin), RangeEndKey(target, end), [&](ChunkMeta&& meta) {
          if (ids.size() == limit) {
            result.more = true;
            result.next = meta.chunk_id;
            return false;
          }
          ids.push_back(std::move(meta.chunk_id));
          return true;
        });
    HF3FS_TRY(NoteError(std::move(st)));
    // Lock every stripe involved, in address order, so concurrent range calls cannot deadlock.
    std::set<std::shared_mutex*> stripes;
    for (const auto& id : ids) stripes.insert(&StripeOf(target, id));
    std::vector<std::unique_lock<std::shared_mutex>> locks;
    locks.reserve(stripes.size());
    for (auto* s : stripes) locks.emplace_back(*s);
    EpochTicket ticket(*this);
    // Records may have changed between the scan and the locks: re-read under the locks.
    std::vector<ChunkMeta> victims;
    for (const auto& id : ids) {
      HF3FS_TRY_ASSIGN(auto existing, GetRecord(target, id));
      if (!existing) continue;
      HF3FS_TRY(AwaitEarlierEpochs(existing, ticket.epoch()));
      victims.push_back(std::move(*existing));
    }
    std::vector<RecordChange> changes;
    MetaBatch extra;
    for (const auto& m : victims) {
      changes.push_back(RecordChange{&m, nullptr});
      DeleteJournalRecords(target, m.chunk_id, /*pending_only=*/false, &extra);
    }
    if (!changes.empty()) HF3FS_TRY(Persist(changes, ticket.epoch(), &extra));
    for (const auto& m : victims) EraseJournal(target, m.chunk_id, /*pending_only=*/false);
    for (size_t i = 0; i < victims.size(); ++i) CountChunk(target, -1);
    result.removed = static_cast<uint32_t>(victims.size());
    return result;
  });
}

}  // namespace hf3fs::chunk
