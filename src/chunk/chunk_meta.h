// Chunk metadata, size classes, slot addresses, and the byte encoding of the engine's RocksDB
// records. docs/formats/chunk-engine.md describes every byte; this file is that document in code.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chunk/chunk_id.h"
#include "common/ids.h"
#include "common/status.h"

namespace hf3fs::chunk {

// Every data I/O is whole blocks at block-aligned offsets.
inline constexpr uint32_t kBlockBytes = 4096;

// Size classes: powers of two from 64 KiB to 64 MiB, named by their log2.
inline constexpr uint8_t kMinClassLog2 = 16;
inline constexpr uint8_t kMaxClassLog2 = 26;
inline constexpr size_t kNumClasses = kMaxClassLog2 - kMinClassLog2 + 1;
// An append that outgrows its slot moves to a slot at least this many times larger ...
inline constexpr uint32_t kSlotGrowthFactorLog2 = 2;
// ... or, once the slot is this large, straight to the chunk size: a chunk grown past 1 MiB by
// appends is most likely being written sequentially to its end, and each move copies it.
inline constexpr uint8_t kGrowToChunkSizeLog2 = 20;

inline constexpr uint64_t ClassBytes(uint8_t class_log2) { return uint64_t{1} << class_log2; }
inline constexpr bool IsValidClassLog2(uint8_t class_log2) {
  return class_log2 >= kMinClassLog2 && class_log2 <= kMaxClassLog2;
}
inline constexpr size_t ClassIndex(uint8_t class_log2) { return class_log2 - kMinClassLog2; }
inline constexpr uint64_t RoundUpToBlock(uint64_t v) {
  return (v + kBlockBytes - 1) / kBlockBytes * kBlockBytes;
}
inline constexpr uint64_t RoundDownToBlock(uint64_t v) { return v / kBlockBytes * kBlockBytes; }

// The class log2 of a chunk size, or nullopt when `chunk_size` is not a size class.
std::optional<uint8_t> ChunkSizeLog2(uint64_t chunk_size);

// The smallest class holding `length` bytes (at least the minimum class).
uint8_t ClassForLength(uint64_t length);

// The class of the slot that a copy-on-write update of a chunk should use: the smallest class that
// holds `new_length`; when the update outgrows `old_class_log2` (0: no old slot), at least
// kSlotGrowthFactorLog2 classes larger, or the chunk size when the old slot was at least
// kGrowToChunkSizeLog2; never above the chunk size.
uint8_t ChooseSlotClass(uint64_t new_length, uint8_t chunk_size_log2, uint8_t old_class_log2);

// The location of one slot: a class and an index within that class (see the format doc for the
// mapping to file and offset). class_log2 == 0 means "no slot".
struct SlotAddress {
  uint8_t class_log2 = 0;
  uint32_t index = 0;

  bool valid() const { return class_log2 != 0; }
  uint64_t capacity() const { return valid() ? ClassBytes(class_log2) : 0; }
  auto operator<=>(const SlotAddress&) const = default;
};

// One version of a chunk: its bytes live in `slot` [0, length) with CRC32C `checksum`.
struct VersionPart {
  uint64_t version = 0;
  uint32_t length = 0;
  uint32_t checksum = 0;
  SlotAddress slot;
  bool removal = false;  // pending part only: committing it removes the chunk
  // The engine's sync epoch in which these bytes were written (docs/design/0009-durability.md):
  // they are durable once that epoch's sync finished. 0: durable since before epochs (strict
  // durability, no bytes, or a record of format version 1).
  uint64_t epoch = 0;
  // Window durability: the part was shortened in place, so its slot may hold, past `length`, bytes
  // of a longer version that a power loss could make current again; it is never appended to in
  // place (the next growth copies it to a fresh slot).
  bool shrunk = false;

  bool operator==(const VersionPart&) const = default;
};

// State machine of a chunk record:
//   (none) --update--> kPending (pending part only: a new chunk)
//   kCommitted --update--> kPending (committed + pending part)
//   kPending --commit--> kCommitted (pending becomes committed), or (none) for a removal
//   kPending --update of the same version--> kPending (the pending part is rebuilt)
//   any --purge / remove range--> (none)
enum class ChunkState : uint8_t { kCommitted, kPending };

struct ChunkMeta {
  TargetId target;
  ChunkId chunk_id;
  uint32_t chunk_size = 0;  // the chunk's maximum length, a size class
  ChainVersion chain_version;
  std::optional<VersionPart> committed;
  std::optional<VersionPart> pending;
  // Window durability: the newest committed part known durable when a committed part whose bytes
  // are not durable yet replaced it. After a power loss, a committed part whose epoch is above
  // the durable epoch is verified against its checksum and replaced by the fallback when its
  // bytes did not reach the disk. Stale (ignored, its slot free) once the committed part's epoch
  // is durable. May share its slot with the committed part (an in-place append keeps the
  // fallback's bytes as a prefix).
  std::optional<VersionPart> fallback;

  uint64_t commit_version() const { return committed ? committed->version : 0; }
  uint64_t update_version() const { return pending ? pending->version : commit_version(); }
  ChunkState state() const { return pending ? ChunkState::kPending : ChunkState::kCommitted; }
  // The pending part if there is one, else the committed part. Requires one of them.
  const VersionPart& latest() const { return pending ? *pending : *committed; }
  // Neither part: the result of committing a removal or purging.
  bool removed() const { return !committed && !pending; }

  bool operator==(const ChunkMeta&) const = default;
};

std::string ToString(const ChunkMeta& meta);

// ---- RocksDB records ----

inline constexpr char kLayoutKey = 'L';
inline constexpr char kChunkKeyPrefix = 'M';
inline constexpr char kDurableEpochKey = 'D';
inline constexpr size_t kChunkRecordBytes = 100;   // format version 2 (written)
inline constexpr size_t kChunkRecordV1Bytes = 60;  // format version 1 (still read)
inline constexpr uint8_t kChunkRecordVersion = 2;
inline constexpr size_t kLayoutRecordBytes = 116;
inline constexpr uint32_t kLayoutMagic = 0x45434648;  // "HFCE"
inline constexpr uint16_t kFormatVersion = 1;        // of the layout record

// 'M' + target (8 B BE) + chunk id.
std::string EncodeChunkKey(TargetId target, const ChunkId& chunk_id);
// The first key of a target, and the key every chunk key of the target is below.
std::string TargetKeyBegin(TargetId target);
std::string TargetKeyEnd(TargetId target);
// kDataCorruption unless `key` is a well-formed chunk key.
Result<std::pair<TargetId, ChunkId>> DecodeChunkKey(std::string_view key);

std::string EncodeChunkRecord(const ChunkMeta& meta);
// Decodes and validates (every rule of the format doc that one record can check); kDataCorruption
// on any violation. target and chunk id come from the key.
Result<ChunkMeta> DecodeChunkRecord(std::string_view value, TargetId target, ChunkId chunk_id);

// The durable-epoch record (key 'D'): every epoch up to `epoch` was synced, on the boot of the
// machine named by `boot_id` (/proc/sys/kernel/random/boot_id).
struct DurableEpoch {
  uint64_t epoch = 0;
  std::string boot_id;
  bool operator==(const DurableEpoch&) const = default;
};
std::string EncodeDurableEpoch(const DurableEpoch& d);
Result<DurableEpoch> DecodeDurableEpoch(std::string_view value);

// A journal record (key 'J'): the new whole blocks of one small overwrite, written in the same
// batch as the chunk record that names its version (docs/design/0010-small-overwrites.md). The
// version is laid over `slot` until the engine writes the blocks in place after the WAL holding
// this record is synced; the record is deleted once those in-place bytes are durable.
inline constexpr char kJournalKeyPrefix = 'J';
inline constexpr uint8_t kJournalRecordVersion = 1;
inline constexpr size_t kJournalHeaderBytes = 32;  // then the blocks, then a CRC32C

struct JournalRecord {
  TargetId target;
  ChunkId chunk_id;
  uint64_t version = 0;         // the chunk version these blocks belong to
  uint64_t epoch = 0;           // the engine epoch of the batch that wrote the record
  SlotAddress slot;             // the slot the blocks are laid over
  uint32_t offset = 0;          // block-aligned chunk offset of the first block
  std::vector<uint8_t> blocks;  // whole blocks

  bool operator==(const JournalRecord&) const = default;
};

// 'J' + target (8 B BE) + chunk id length (1 B) + chunk id + version (8 B BE) + epoch (8 B BE):
// one chunk's records are contiguous and in version order.
std::string EncodeJournalKey(TargetId target, const ChunkId& chunk_id, uint64_t version,
                             uint64_t epoch);
std::string EncodeJournalValue(const JournalRecord& record);
// Decodes and validates key and value; kDataCorruption on any violation.
Result<JournalRecord> DecodeJournalRecord(std::string_view key, std::string_view value);

// Per-class slot grouping, fixed when an engine directory is created.
struct Layout {
  std::array<uint32_t, kNumClasses> slots_per_group{};
  std::array<uint32_t, kNumClasses> groups_per_file{};
  uint64_t created_unix_ns = 0;

  bool operator==(const Layout&) const = default;
};

// Slots per group = group_bytes / class size, at least 1 (a class larger than group_bytes gets
// one slot per group).
Layout MakeLayout(uint64_t group_bytes, uint32_t groups_per_file, uint64_t created_unix_ns);
std::string EncodeLayout(const Layout& layout);
Result<Layout> DecodeLayout(std::string_view value);

}  // namespace hf3fs::chunk
