// ChunkEngine: the chunks of every target on one disk (ARCHITECTURE.md section 3.1, design in
// docs/design/0003-chunk-engine.md, bytes in docs/formats/chunk-engine.md).
//
// A chunk (target, chunk id) has a chunk size (its maximum length, a size class from 64 KiB to
// 64 MiB, fixed at creation), a committed part and at most one pending part (chunk_meta.h). Every
// normal update (Write, Truncate, Remove) is applied to the committed bytes and becomes the
// pending part with update_version = commit_version + 1; Commit makes it the committed part. This
// is what the storage service's CRAQ builds on:
//
//   update version u vs commit version c, pending version p    result
//   u <= c, or pending and u < p                               kChunkStaleVersion
//   u != c + 1                                                 kChunkVersionGap (retryable)
//   u == c + 1, pending p == u, replace_pending                the pending part is rebuilt
//   u == c + 1, pending p == u, !replace_pending               kChunkPendingExists
//   Commit(v): v <= c -> ok (no change); v == p -> committed; else kChunkVersionMismatch
//
// Durability (docs/design/0009-durability.md), per options.durability:
//   - kStrict: a call that returns ok has made its data and its metadata durable (fdatasync or
//     O_DSYNC, then a synced RocksDB batch).
//   - kWindow (default): a call that returns ok has its data written (O_DIRECT, or buffered where
//     the file system refuses it) and its record in RocksDB's WAL, both in the kernel: a crash of
//     the process loses nothing. Sync(), and a background flush every sync_interval, make every
//     earlier call durable: the calls of one *epoch* are flushed together (data files fdatasync'd,
//     then the WAL synced with a durable-epoch record). Slots a call frees are reused only after
//     its epoch is durable, and a committed part whose bytes are not durable yet keeps the last
//     durable one as its fallback; after a power loss, Open verifies every part of an epoch that
//     was not durable against its checksum and falls back (or drops it) when its bytes were lost.
//     A small overwrite inside the committed bytes is journaled instead of copied: its blocks go
//     into the metadata WAL with the record and are written in place by the flush after the WAL
//     sync (chunk_journal.cc, docs/design/0010-small-overwrites.md).
// Either way a crash at any moment leaves every chunk at a state whose bytes match its checksum;
// no chunk is ever torn.
//
// Errors every call may return besides those listed: kDiskError (an I/O error; the engine is then
// failed and refuses all later updates with kDiskError — the storage service takes the disk's
// targets offline), kInvalidArgument (bad id, size, offset or limit).
//
// Thread safety: every method is thread-safe. Calls on one chunk are serialized (reads share,
// updates exclude); calls on different chunks run in parallel, each doing its I/O on its calling
// thread's own io_uring ring. The engine must outlive all calls into it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chunk/chunk_id.h"
#include "chunk/chunk_meta.h"
#include "chunk/data_files.h"
#include "chunk/file_layer.h"
#include "chunk/meta_store.h"
#include "common/durability.h"
#include "common/metrics.h"
#include "common/status.h"

namespace rocksdb {
class Env;
}

namespace hf3fs::chunk {

struct EngineMetrics;  // engine_metrics.h

// Bound on the chunks one ListMeta / RemoveRange call handles.
inline constexpr uint32_t kMaxRangeLimit = 4096;
// Bound on the chunk copies of one Compact call.
inline constexpr uint32_t kMaxCompactMoves = 1024;
// Number of reader/writer locks that chunks hash onto.
inline constexpr size_t kChunkLockStripes = 1024;

struct ChunkEngineOptions {
  std::string name;  // the "disk" label of metrics and logs; default: the directory
  // Grouping of new directories (ignored when the directory already has a layout).
  uint64_t group_bytes = 256ull << 20;
  uint32_t groups_per_file = 16;
  PosixFileLayerOptions io;
  uint64_t io_piece_bytes = 4ull << 20;  // bytes per buffered I/O step; a block multiple
  uint32_t max_pooled_buffers = 16;
  // New chunks are refused (kNoSpace) while free space is below either threshold (0: off).
  uint64_t low_space_threshold_bytes = 0;
  double low_space_threshold_percent = 0;
  bool punch_empty_groups = true;
  // Null: a PosixFileLayer on <dir>/data. Tests pass a FaultFileLayer.
  std::shared_ptr<FileLayer> file_layer;
  // Test-only sync points: called at named points of updates (see chunk_update.cc:
  // "update.data_written", "update.data_synced", "update.after_batch", "commit.before_batch",
  // "meta.write"); a non-ok Status aborts the operation with that status as if that step failed.
  std::function<Status(std::string_view point)> fault_hook;
  metrics::Registry* metrics = nullptr;  // null: the global registry
  Durability durability = Durability::kWindow;
  std::chrono::milliseconds sync_interval{1000};  // window: the longest gap between flushes
  // This machine's boot id; empty: /proc/sys/kernel/random/boot_id. Parts of epochs that were
  // not durable are verified at open only when the last flush ran on another boot (a power loss
  // reboots the machine; after a process crash the kernel still holds every byte). Tests set it
  // to simulate the reboot after a power loss.
  std::string boot_id;
  rocksdb::Env* meta_env = nullptr;  // tests: a power-loss simulating Env for the metadata store
  // Window durability: a small overwrite inside a chunk's committed bytes is journaled (its new
  // blocks go into the metadata WAL with the chunk record, laid over the slot until the next flush
  // writes them in place; docs/design/0010-small-overwrites.md) instead of copying the chunk.
  // The largest whole-block range one update may journal (0: never journal) ...
  uint32_t journal_max_bytes = 64u << 10;
  // ... and the unapplied entries one chunk, and all chunks together, may have before an update
  // flushes first.
  uint32_t journal_max_entries_per_chunk = 64;
  uint64_t journal_max_bytes_total = 64ull << 20;
};

struct UpdateOptions {
  uint64_t update_version = 0;  // required, >= 1
  ChainVersion chain_version;
  bool replace_pending = true;  // see the version table in the file comment
  // CRC32C of the write's payload as the client computed it; checked before anything is written
  // (kChunkChecksumMismatch).
  std::optional<uint32_t> expected_checksum;
};

struct ReplaceOptions {
  uint32_t chunk_size = 0;
  uint64_t version = 0;  // >= 1
  bool commit = false;   // install as the committed part (dropping any pending part) or as pending
  ChainVersion chain_version;
  std::optional<uint32_t> expected_checksum;  // CRC32C of the whole data
  bool ignore_low_space = false;  // create the chunk even below the low-space threshold
};

enum class ReadMode : uint8_t {
  kCommitted,      // the committed part; kChunkNotCommitted while a pending part exists
  kLatest,         // the pending part if any, else the committed part ("read uncommitted")
  kLastCommitted,  // the committed part even while one is pending (resync, debugging)
};

struct ReadResult {
  uint32_t bytes = 0;    // bytes copied from the chunk; the rest of the buffer is zero-filled
  ChunkMeta meta;        // includes the whole-chunk checksum of the version read
  uint64_t version = 0;  // the version that was read
};

struct FullChunk {
  std::vector<uint8_t> data;  // exactly the chunk's length
  ChunkMeta meta;
  uint64_t version = 0;
  uint32_t checksum = 0;
};

struct MetaPage {
  std::vector<ChunkMeta> metas;
  bool more = false;  // further records exist in the range; continue from `next`
  ChunkId next;
};

struct RemoveRangeResult {
  uint32_t removed = 0;
  bool more = false;  // call again from `next` to continue
  ChunkId next;
};

// Chunks of a range with a committed part (QueryLastChunk).
struct RangeSummary {
  std::optional<ChunkMeta> last;  // highest chunk id with a committed part
  uint64_t chunks = 0;            // chunks with a committed part
  uint64_t total_length = 0;      // sum of their committed lengths
  uint64_t pending = 0;           // chunks with a pending part
};

struct SpaceInfo {
  uint64_t capacity_bytes = 0;  // of the file system
  uint64_t free_bytes = 0;      // available on the file system
  uint64_t used_slot_bytes = 0;
  bool low_space = false;
  std::vector<ClassStats> classes;  // one per size class
  std::map<TargetId, uint64_t> chunks_per_target;
};

struct CompactResult {
  uint32_t moved = 0;           // chunks copied to a lower slot
  uint32_t groups_emptied = 0;  // groups left without chunks (and punched)
  bool more = false;            // another call may find more to move
};

struct EngineInfo {
  std::string dir;
  FileLayerInfo io;
  Layout layout;
};

class ChunkEngine {
 public:
  ~ChunkEngine();
  ChunkEngine(const ChunkEngine&) = delete;
  ChunkEngine& operator=(const ChunkEngine&) = delete;

  // Opens (creating when needed) the engine in `dir`: <dir>/meta (RocksDB) and <dir>/data.
  // Rebuilds slot allocation from the records. kDataCorruption when a record or the layout is
  // malformed or two records name one slot; kUnavailable when another engine holds `dir`.
  static Result<std::unique_ptr<ChunkEngine>> Open(const std::string& dir,
                                                   ChunkEngineOptions options);

  // Writes `data` at `offset` (offset + size <= chunk_size); bytes between the committed length
  // and `offset` become zeros. Creates the chunk when it does not exist (kNoSpace while space is
  // low). kChunkSizeMismatch when the chunk exists with another chunk size,
  // kChunkChecksumMismatch, the version errors above, kNoSpace. Returns the new metadata.
  Result<ChunkMeta> Write(TargetId target, const ChunkId& chunk, uint32_t chunk_size,
                          uint32_t offset, std::span<const uint8_t> data,
                          const UpdateOptions& options);
  // Sets the length: shorter drops the tail, longer appends zeros (creates a missing chunk).
  Result<ChunkMeta> Truncate(TargetId target, const ChunkId& chunk, uint32_t chunk_size,
                             uint32_t length, const UpdateOptions& options);
  // Makes the pending part a removal; committing it deletes the chunk. kChunkNotFound when there
  // is no committed part to remove.
  Result<ChunkMeta> Remove(TargetId target, const ChunkId& chunk, const UpdateOptions& options);
  // Commits pending `version` (see the table). After committing a removal the returned metadata
  // has neither part. kChunkNotFound when the chunk does not exist.
  Result<ChunkMeta> Commit(TargetId target, const ChunkId& chunk, uint64_t version,
                           ChainVersion chain_version);

  // Installs whole-chunk bytes at options.version, as pending (version must exceed the commit
  // version, else kChunkStaleVersion) or committed (unconditional: resync is authoritative).
  Result<ChunkMeta> ReplaceFull(TargetId target, const ChunkId& chunk,
                                std::span<const uint8_t> data, const ReplaceOptions& options);
  // Deletes the chunk at once, both parts (GC, resync). Returns whether it existed.
  Result<bool> Purge(TargetId target, const ChunkId& chunk);
  // Deletes at most `limit` (<= kMaxRangeLimit) chunks with ids in [begin, end) (empty end: to
  // the end of the target) in one batch.
  Result<RemoveRangeResult> RemoveRange(TargetId target, const ChunkId& begin, const ChunkId& end,
                                        uint32_t limit);

  // Reads into `out` the bytes [offset, offset + out.size()) of the chosen version. kChunkNotFound,
  // kChunkNotCommitted (kCommitted mode), kDataCorruption (a read covering the whole chunk whose
  // bytes do not match the checksum).
  Result<ReadResult> Read(TargetId target, const ChunkId& chunk, uint32_t offset,
                          std::span<uint8_t> out, ReadMode mode = ReadMode::kCommitted);
  // The whole chunk, checksum verified (kDataCorruption on mismatch).
  Result<FullChunk> ReadFull(TargetId target, const ChunkId& chunk,
                             ReadMode mode = ReadMode::kLastCommitted);

  Result<ChunkMeta> GetMeta(TargetId target, const ChunkId& chunk);
  // Records with ids in [begin, end), at most `limit` (<= kMaxRangeLimit).
  Result<MetaPage> ListMeta(TargetId target, const ChunkId& begin, const ChunkId& end,
                            uint32_t limit);
  Result<RangeSummary> QueryLastChunk(TargetId target, const ChunkId& begin, const ChunkId& end);

  // Compaction of sparse groups, called from the storage service's background task: in each size
  // class, moves the committed chunks of the highest group that is at most half full into free
  // slots of lower groups, so that the group is emptied and its space returned. Copies at most
  // `max_moves` (1..kMaxCompactMoves) chunks; chunks with a pending part are skipped, and a
  // chunk whose bytes do not match its checksum is left where it is. Each move is a
  // copy-on-write with the same crash safety as an update.
  Result<CompactResult> Compact(uint32_t max_moves);

  Result<SpaceInfo> GetSpaceInfo();
  // Hot-updatable low-space thresholds (0: off).
  void SetLowSpaceThreshold(uint64_t bytes, double percent);

  // Makes every call that returned before it durable (window durability; at once in strict),
  // sharing the flush with concurrent callers. kDiskError when the flush fails (the engine is
  // failed then).
  Status Sync();
  // Every part whose epoch is at most this is durable (window durability).
  uint64_t durable_epoch() const;
  // What Open found of epochs that were not durable (after a power loss).
  struct RecoveryReport {
    bool verified = false;      // the parts of unsynced epochs were checked (another boot)
    uint64_t intact = 0;        // parts whose bytes matched their checksum
    uint64_t reverted = 0;      // committed parts replaced by their fallback
    uint64_t dropped = 0;       // parts removed (no durable version to fall back to)
    uint64_t journal_redone = 0;  // journaled blocks written in place again at open
  };
  const RecoveryReport& recovery() const { return recovery_; }

  // Ok, or the first disk error after which the engine refuses updates.
  Status health() const;
  const EngineInfo& info() const { return info_; }

 private:
  enum class UpdateKind : uint8_t { kWrite, kTruncate, kRemove, kReplace };
  struct UpdateSpec {
    UpdateKind kind = UpdateKind::kWrite;
    uint32_t chunk_size = 0;
    uint32_t offset = 0;
    uint32_t length = 0;  // truncate: the new length
    std::span<const uint8_t> data;
    uint64_t version = 0;
    ChainVersion chain_version;
    bool replace_pending = true;
    bool commit = false;  // replace only
    std::optional<uint32_t> expected_checksum;
    bool ignore_low_space = false;  // replace only
  };

  // The new bytes of an update, applied over the committed bytes: [0, new_length) is the
  // committed prefix (zero-filled past the committed length) with `data` at `offset`.
  struct Overlay {
    uint32_t offset = 0;
    std::span<const uint8_t> data;
    uint32_t new_length = 0;
  };

  ChunkEngine();
  Status Rebuild();
  void RegisterGauges();
  Result<std::optional<ChunkMeta>> GetRecord(TargetId target, const ChunkId& chunk);
  Result<const VersionPart*> SelectPart(const std::optional<ChunkMeta>& existing, ReadMode mode,
                                        TargetId target, const ChunkId& chunk) const;
  Status VerifyChecksum(const VersionPart& part, std::span<const uint8_t> bytes,
                        const ChunkId& chunk);

  // Update paths (chunk_update.cc).
  Result<ChunkMeta> Update(TargetId target, const ChunkId& chunk, const UpdateSpec& spec);
  // Sets *needs_flush (and returns an error to ignore) when the chunk has committed journal
  // entries that this update may not build on: the caller flushes without the lock and retries.
  Result<ChunkMeta> UpdateLocked(TargetId target, const ChunkId& chunk, const UpdateSpec& spec,
                                 bool* needs_flush);
  Status CheckVersions(const std::optional<ChunkMeta>& existing, const UpdateSpec& spec) const;
  // Builds the part an update produces, writing and syncing its data. A slot it reserved is
  // returned in *reserved (still reserved on failure).
  Result<VersionPart> BuildPart(const std::optional<ChunkMeta>& existing, const UpdateSpec& spec,
                                uint8_t chunk_log2, SlotAddress* reserved, uint64_t epoch);
  Result<ChunkMeta> CommitLocked(TargetId target, const ChunkId& chunk, uint64_t version,
                                 ChainVersion chain_version);
  Result<bool> IsLowSpace(const FsSpace& space) const;
  Status CheckLowSpace();
  // Writes a batch (synced in strict durability); an I/O error marks the engine failed. On
  // failure the batch may or may not be durable, so the caller frees nothing.
  Status WriteBatch(const MetaBatch& batch);
  void FreeSlot(SlotAddress slot);

  // Window durability (chunk_durability.cc). Every record change runs inside an epoch ticket
  // taken *after* its chunk lock: the flush of epoch e waits for the tickets of e.
  // The current epoch, registered as in flight (0 and nothing registered in strict durability).
  uint64_t EnterEpoch();
  void LeaveEpoch(uint64_t epoch);
  class EpochTicket {
   public:
    explicit EpochTicket(ChunkEngine& engine) : engine_(engine), epoch_(engine.EnterEpoch()) {}
    ~EpochTicket() { engine_.LeaveEpoch(epoch_); }
    EpochTicket(const EpochTicket&) = delete;
    EpochTicket& operator=(const EpochTicket&) = delete;
    uint64_t epoch() const { return epoch_; }

   private:
    ChunkEngine& engine_;
    const uint64_t epoch_;
  };
  // Before a record written in `epoch` replaces `existing`: waits until the parts of `existing`
  // from an earlier epoch are durable (the flush of epoch - 1 may still be running), so that the
  // fallback decision below is stable.
  Status AwaitEarlierEpochs(const std::optional<ChunkMeta>& existing, uint64_t epoch);
  // existing's fallback when it is still needed (its committed part is not durable yet).
  std::optional<VersionPart> LiveFallback(const ChunkMeta& meta) const;
  // One record change of a batch: `existing` (null: created) becomes `next` (null: deleted).
  struct RecordChange {
    const ChunkMeta* existing = nullptr;
    ChunkMeta* next = nullptr;
  };
  // Sets each next's fallback (window), writes the changes (and `extra`) as one batch, then frees
  // (strict) or schedules for the end of `epoch`'s flush (window) the slots they stopped naming.
  Status Persist(std::span<RecordChange> changes, uint64_t epoch, const MetaBatch* extra = nullptr);
  // The SharedSync flush: closes the current epoch, waits for its tickets, fdatasyncs the data
  // files and writes the durable-epoch record synced; then frees the epoch's deferred slots.
  Status FlushEpoch();
  // Open: verifies the parts of epochs that were not durable when the machine rebooted since,
  // fixes their records, and makes everything durable under a new durable epoch.
  Status Recover();
  // Whether the bytes of `part` (journal entries laid over) match its checksum (kIoError only for
  // a failing disk).
  Result<bool> PartIntact(const ChunkMeta& meta, const VersionPart& part);
  Status Hook(std::string_view point);
  // A kIoError marks the engine failed and becomes kDiskError; other statuses pass through.
  Status NoteError(Status st);
  Status CheckWritable() const;
  std::shared_mutex& StripeOf(TargetId target, const ChunkId& chunk);
  void CountChunk(TargetId target, int64_t delta);
  Status ValidateId(const ChunkId& chunk) const;
  Status ValidateRange(const ChunkId& begin, const ChunkId& end, uint32_t limit) const;

  // Compaction (chunk_compact.cc): moves one chunk out of `from`; false when it was skipped.
  Result<bool> MoveChunk(TargetId target, const ChunkId& chunk, SlotAddress from,
                         uint32_t below_group);

  // Data paths (chunk_io.cc).
  Result<VersionPart> AppendInPlace(const VersionPart& base, uint64_t version,
                                    const Overlay& overlay);
  Result<VersionPart> ShrinkInPlace(const VersionPart& base, uint64_t version, uint32_t new_length);
  Result<VersionPart> CopyOnWrite(const VersionPart* base, uint64_t version, const Overlay& overlay,
                                  uint8_t chunk_log2, SlotAddress* reserved);
  // Reads part bytes [offset, offset + out.size()), which must lie within its length, from its
  // slot alone; ReadVersion lays the chunk's journal entries over them.
  Status ReadBytes(const VersionPart& part, uint32_t offset, std::span<uint8_t> out);
  Status ReadVersion(TargetId target, const ChunkId& chunk, const VersionPart& part,
                     uint32_t offset, std::span<uint8_t> out);

  // Journal of small overwrites (chunk_journal.cc, docs/design/0010-small-overwrites.md).
  // Entries live in memory (and as 'J' records) from the update that writes them until the
  // flush that wrote their blocks in place deletes them. A chunk's entries are in version
  // order, all committed but the last, which may be the pending part's.
  struct JournalEntry {
    uint64_t version = 0;
    uint64_t epoch = 0;  // of the batch that wrote the record (part of its key)
    SlotAddress slot;
    uint32_t offset = 0;  // of the first block
    std::shared_ptr<const std::vector<uint8_t>> blocks;
    bool committed = false;
    uint64_t commit_epoch = 0;  // committed: applied by the first flush of an epoch >= this
  };
  using ChunkKey = std::pair<TargetId, ChunkId>;
  struct JournalState {
    size_t committed = 0;  // committed entries
    uint64_t last_committed_version = 0;
    SlotAddress last_committed_slot;
    std::optional<JournalEntry> pending;
    uint64_t total_bytes = 0;  // of every chunk's entries
  };
  JournalState JournalStateOf(TargetId target, const ChunkId& chunk) const;
  bool Journalable(const std::optional<ChunkMeta>& existing, const UpdateSpec& spec,
                   const JournalState& state, uint64_t epoch) const;
  // Builds the journaled part of a small overwrite of `base` and its record (nothing written).
  Result<VersionPart> JournalWrite(TargetId target, const ChunkId& chunk, const VersionPart& base,
                                   const UpdateSpec& spec, uint64_t epoch, JournalRecord* record);
  // A copy of the chunk's entries (cheap: the blocks are shared).
  using JournalView = std::vector<JournalEntry>;
  JournalView JournalViewOf(TargetId target, const ChunkId& chunk) const;
  // Lays over `out` (bytes [offset, offset + out.size()) of part.slot) the entries of part's slot
  // up to part's version.
  static void OverlayJournal(const JournalView& view, const VersionPart& part, uint64_t offset,
                             std::span<uint8_t> out);
  // Memory changes after the batch that made them durable-to-be.
  void InsertJournal(const JournalRecord& record,
                     std::shared_ptr<const std::vector<uint8_t>> blocks);
  void MarkJournalCommitted(TargetId target, const ChunkId& chunk, uint64_t version,
                            uint64_t epoch);
  // Adds to `batch` the deletion of every record of the chunk (only the pending one when
  // `pending_only`); EraseJournal drops the same entries from memory once the batch is written.
  void DeleteJournalRecords(TargetId target, const ChunkId& chunk, bool pending_only,
                            MetaBatch* batch) const;
  void EraseJournal(TargetId target, const ChunkId& chunk, bool pending_only);
  // Flush step: the committed entries of epochs <= `epoch`, written in place after the WAL sync.
  // Adds their deletions to `batch`; `applied` gets them for ForgetApplied.
  Status ApplyJournal(uint64_t epoch, MetaBatch* batch,
                      std::vector<std::pair<ChunkKey, JournalEntry>>* applied);
  void ForgetApplied(const std::vector<std::pair<ChunkKey, JournalEntry>>& applied);
  // Open: redoes committed records, keeps pending ones, adds stale and redone ones to `batch`.
  Status RecoverJournal(MetaBatch* batch);
  Status WriteBlocksInPlace(SlotAddress slot, uint32_t offset, std::span<const uint8_t> blocks);

  std::string dir_;
  ChunkEngineOptions options_;
  RecoveryReport recovery_;
  EngineInfo info_;
  std::shared_ptr<FileLayer> layer_;
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<DataFiles> data_;
  std::unique_ptr<BufferPool> buffers_;
  std::unique_ptr<EngineMetrics> metrics_;
  std::array<std::shared_mutex, kChunkLockStripes> stripes_;

  std::atomic<bool> failed_{false};
  mutable std::mutex mu_;  // guards failure_, chunks_per_target_, thresholds
  Status failure_;
  std::map<TargetId, uint64_t> chunks_per_target_;
  uint64_t low_space_bytes_ = 0;
  double low_space_percent_ = 0;

  // Window durability.
  mutable std::mutex epoch_mu_;            // guards the four fields below
  std::condition_variable epoch_cv_;       // a ticket left, or an epoch became durable
  uint64_t epoch_ = 1;                     // records written now carry this epoch
  uint64_t durable_epoch_ = 0;             // epochs up to here are durable
  std::map<uint64_t, uint32_t> in_flight_;  // epoch -> tickets not yet left
  std::map<SlotAddress, uint64_t> deferred_;  // slot -> the epoch after whose flush it is freed
  std::atomic<uint64_t> records_written_{0};
  std::atomic<uint64_t> records_flushed_{0};
  std::string boot_id_;
  // Journal (guarded by journal_mu_; journal_count_ lets readers skip the lock when empty).
  mutable std::mutex journal_mu_;
  std::map<ChunkKey, std::vector<JournalEntry>> journal_;
  uint64_t journal_bytes_ = 0;
  std::atomic<uint64_t> journal_count_{0};
  metrics::Counter* journal_applied_ = nullptr;
  metrics::Counter* journal_forced_flushes_ = nullptr;
  metrics::Counter* syncs_ = nullptr;
  metrics::Histogram* sync_latency_ = nullptr;
  SharedSync sync_;  // last: its background thread stops before the rest goes
};

}  // namespace hf3fs::chunk
