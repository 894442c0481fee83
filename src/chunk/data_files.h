// DataFiles: the slot files of one engine directory and the allocation of their slots.
//
// Owns, per size class, the slot bitmap (SlotAllocator), the open data files and which groups are
// known to be allocated on disk. The mapping from a slot to file and offset is the one in
// docs/formats/chunk-engine.md, with the per-class grouping of the stored Layout.
//
// Allocation state is rebuilt at open from the chunk records (MarkUsed for every slot a record
// names, then FinishRebuild). A group is fallocate'd before its first slot is handed out, and
// hole-punched when its last slot is freed (when enabled), both under the class mutex so that a
// punch can never race with a write into a freshly allocated slot.
//
// Thread safety: all methods are thread-safe. Slot I/O runs outside the class mutex.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "chunk/chunk_meta.h"
#include "chunk/file_layer.h"
#include "chunk/slot_allocator.h"
#include "common/status.h"

namespace hf3fs::chunk {

struct ClassStats {
  uint8_t class_log2 = 0;
  uint64_t used_slots = 0;
  uint64_t free_slots = 0;  // inside existing groups
  uint32_t groups = 0;
  uint32_t allocated_groups = 0;  // fallocate'd and not punched since
  uint32_t files = 0;
};

class DataFiles {
 public:
  // Opens the files present under `data_dir` (not creating any).
  static Result<std::unique_ptr<DataFiles>> Open(FileLayer* layer, std::string data_dir,
                                                 const Layout& layout, bool punch_empty_groups);

  // Rebuild: marks a slot named by a record. kDataCorruption when the slot is named twice or its
  // index is out of range.
  Status MarkUsed(SlotAddress slot);
  // Before FinishRebuild: whether the file holding `slot` existed at open and was long enough to
  // hold the whole slot (a power loss may lose a file or its growth).
  bool SlotOnDisk(SlotAddress slot) const;
  // Ends the rebuild: every group with a used slot must lie inside an existing file
  // (kDataCorruption otherwise); groups present on disk become reusable.
  Status FinishRebuild();

  // Reserves the lowest free slot of a class, allocating its group on disk first.
  // kNoSpace when the file system is full (or the class has no slot index left); kIoError.
  Result<SlotAddress> Allocate(uint8_t class_log2);
  // Releases a used slot; punches its group when it became empty. Errors come from the punch
  // only (the slot is free either way).
  Status Free(SlotAddress slot);
  bool IsUsed(SlotAddress slot) const;

  // Block I/O inside one used slot: `offset` and the span are block-aligned and within the slot.
  Status Read(SlotAddress slot, uint64_t offset, std::span<uint8_t> buf);
  Status Write(SlotAddress slot, uint64_t offset, std::span<const uint8_t> buf);
  // Makes the slot's file durable.
  Status Sync(SlotAddress slot);
  // Makes every data file durable (the window-durability flush; docs/design/0009-durability.md).
  Status SyncAll();

  // Compaction: the highest group of a class that holds chunks, is at most half full, and whose
  // chunks all fit into free slots of lower groups; nullopt when there is none.
  std::optional<uint32_t> SparseTailGroup(uint8_t class_log2) const;
  uint32_t GroupOf(SlotAddress slot) const;
  uint32_t GroupUsed(uint8_t class_log2, uint32_t group) const;

  ClassStats Stats(uint8_t class_log2) const;
  // Path of the file holding `slot` (for logs and tests).
  std::string PathOf(SlotAddress slot) const;

 private:
  struct ClassState {
    mutable std::mutex mu;
    uint8_t class_log2 = 0;
    uint32_t slots_per_group = 0;
    uint32_t groups_per_file = 0;
    std::unique_ptr<SlotAllocator> alloc;
    std::vector<std::unique_ptr<File>> files;  // by file index; null: not present
    std::vector<uint64_t> file_sizes;          // at open, for the rebuild check
    std::vector<bool> group_allocated;         // fallocate'd and not punched since
    bool dir_created = false;

    uint64_t group_bytes() const { return uint64_t{slots_per_group} * ClassBytes(class_log2); }
  };

  DataFiles(FileLayer* layer, std::string data_dir, bool punch)
      : layer_(layer), data_dir_(std::move(data_dir)), punch_(punch) {}
  ClassState& StateOf(uint8_t class_log2) { return classes_[ClassIndex(class_log2)]; }
  const ClassState& StateOf(uint8_t class_log2) const { return classes_[ClassIndex(class_log2)]; }
  std::string ClassDir(uint8_t class_log2) const;
  // The file and byte offset of a slot; the file must be open.
  Result<std::pair<File*, uint64_t>> Locate(SlotAddress slot, uint64_t offset, size_t len);
  // Creates the group's file if needed and fallocates the group. Class mutex held.
  Status PrepareGroup(ClassState& cs, uint32_t group);
  Status OpenClassFiles(ClassState& cs);

  FileLayer* const layer_;
  const std::string data_dir_;
  std::atomic<bool> punch_;
  std::array<ClassState, kNumClasses> classes_;
};

}  // namespace hf3fs::chunk
