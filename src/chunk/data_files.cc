#include "chunk/data_files.h"

#include <algorithm>
#include <charconv>

#include "common/logging.h"
#include "common/units.h"

namespace hf3fs::chunk {
namespace {

std::optional<uint32_t> ParseFileIndex(std::string_view name) {
  if (name.size() != 8) return std::nullopt;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
  if (ec != std::errc() || p != name.data() + name.size()) return std::nullopt;
  return v;
}

std::string FileName(uint32_t index) { return fmt::format("{:08}", index); }

}  // namespace

Result<std::unique_ptr<DataFiles>> DataFiles::Open(FileLayer* layer, std::string data_dir,
                                                   const Layout& layout, bool punch_empty_groups) {
  std::unique_ptr<DataFiles> df(new DataFiles(layer, std::move(data_dir), punch_empty_groups));
  for (uint8_t c = kMinClassLog2; c <= kMaxClassLog2; ++c) {
    ClassState& cs = df->StateOf(c);
    cs.class_log2 = c;
    cs.slots_per_group = layout.slots_per_group[ClassIndex(c)];
    cs.groups_per_file = layout.groups_per_file[ClassIndex(c)];
    uint64_t max_groups = (uint64_t{1} << 32) / cs.slots_per_group;
    cs.alloc = std::make_unique<SlotAllocator>(
        cs.slots_per_group, static_cast<uint32_t>(std::min<uint64_t>(max_groups, UINT32_MAX)));
    HF3FS_TRY(df->OpenClassFiles(cs));
  }
  return df;
}

std::string DataFiles::ClassDir(uint8_t class_log2) const {
  return data_dir_ + "/" + FormatSize(ClassBytes(class_log2));
}

Status DataFiles::OpenClassFiles(ClassState& cs) {
  std::string dir = ClassDir(cs.class_log2);
  auto names = layer_->ListDirectory(dir);
  if (!names.ok() && names.status().code() == StatusCode::kNotFound) return Status::Ok();
  HF3FS_TRY(names);
  cs.dir_created = true;
  for (const auto& name : *names) {
    auto index = ParseFileIndex(name);
    if (!index) {
      HF3FS_LOG_WARN("chunk.unexpected_file path={}/{}", dir, name);
      continue;
    }
    HF3FS_TRY_ASSIGN(auto file, layer_->OpenFile(dir + "/" + name, false));
    HF3FS_TRY_ASSIGN(uint64_t size, file->Size());
    if (cs.files.size() <= *index) {
      cs.files.resize(*index + 1);
      cs.file_sizes.resize(*index + 1, 0);
    }
    cs.files[*index] = std::move(file);
    cs.file_sizes[*index] = size;
  }
  return Status::Ok();
}

Status DataFiles::MarkUsed(SlotAddress slot) {
  if (!IsValidClassLog2(slot.class_log2)) {
    return MakeStatus(StatusCode::kDataCorruption, "slot class {} invalid", slot.class_log2);
  }
  ClassState& cs = StateOf(slot.class_log2);
  std::lock_guard lock(cs.mu);
  if (!cs.alloc->MarkUsed(slot.index)) {
    return MakeStatus(StatusCode::kDataCorruption, "slot {}/{} named by two chunk records",
                      slot.class_log2, slot.index);
  }
  return Status::Ok();
}

bool DataFiles::SlotOnDisk(SlotAddress slot) const {
  if (!IsValidClassLog2(slot.class_log2)) return false;
  const ClassState& cs = StateOf(slot.class_log2);
  std::lock_guard lock(cs.mu);
  uint32_t group = slot.index / cs.slots_per_group;
  uint32_t f = group / cs.groups_per_file;
  if (f >= cs.files.size() || !cs.files[f] || f >= cs.file_sizes.size()) return false;
  uint64_t end = uint64_t{group % cs.groups_per_file} * cs.group_bytes() +
                 uint64_t{slot.index % cs.slots_per_group + 1} * ClassBytes(slot.class_log2);
  return cs.file_sizes[f] >= end;
}

Status DataFiles::FinishRebuild() {
  for (ClassState& cs : classes_) {
    std::lock_guard lock(cs.mu);
    // Groups that exist on disk (whole or partial) stay part of the class, used or not.
    uint32_t on_disk_groups = 0;
    for (uint32_t f = 0; f < cs.files.size(); ++f) {
      if (!cs.files[f] || cs.file_sizes[f] == 0) continue;
      uint64_t groups = (cs.file_sizes[f] + cs.group_bytes() - 1) / cs.group_bytes();
      groups = std::min<uint64_t>(groups, cs.groups_per_file);
      on_disk_groups = std::max<uint32_t>(on_disk_groups,
                                          f * cs.groups_per_file + static_cast<uint32_t>(groups));
    }
    cs.alloc->EnsureGroups(on_disk_groups);
    cs.group_allocated.assign(cs.alloc->group_count(), false);
    for (uint32_t g = 0; g < cs.alloc->group_count(); ++g) {
      if (cs.alloc->GroupUsed(g) == 0) continue;
      uint32_t f = g / cs.groups_per_file;
      uint64_t end = uint64_t{g % cs.groups_per_file + 1} * cs.group_bytes();
      if (f >= cs.files.size() || !cs.files[f] || cs.file_sizes[f] < end) {
        return MakeStatus(StatusCode::kDataCorruption,
                          "class {} group {} holds chunks but file {} is missing or short",
                          FormatSize(ClassBytes(cs.class_log2)), g, FileName(f));
      }
      cs.group_allocated[g] = true;
    }
    cs.file_sizes.clear();
  }
  return Status::Ok();
}

Status DataFiles::PrepareGroup(ClassState& cs, uint32_t group) {
  if (group < cs.group_allocated.size() && cs.group_allocated[group]) return Status::Ok();
  // A new directory or file is synced into its parent before any record can name a slot in it
  // (fdatasync of the file does not persist its directory entry).
  if (!cs.dir_created) {
    HF3FS_TRY(layer_->CreateDirectories(ClassDir(cs.class_log2)));
    HF3FS_TRY(layer_->SyncDirectory(data_dir_));
    cs.dir_created = true;
  }
  uint32_t f = group / cs.groups_per_file;
  if (cs.files.size() <= f) cs.files.resize(f + 1);
  if (!cs.files[f]) {
    HF3FS_TRY_ASSIGN(auto file,
                     layer_->OpenFile(ClassDir(cs.class_log2) + "/" + FileName(f), true));
    HF3FS_TRY(layer_->SyncDirectory(ClassDir(cs.class_log2)));
    cs.files[f] = std::move(file);
  }
  uint64_t offset = uint64_t{group % cs.groups_per_file} * cs.group_bytes();
  HF3FS_TRY(cs.files[f]->Allocate(offset, cs.group_bytes()));
  if (cs.group_allocated.size() <= group) cs.group_allocated.resize(group + 1, false);
  cs.group_allocated[group] = true;
  return Status::Ok();
}

Result<SlotAddress> DataFiles::Allocate(uint8_t class_log2) {
  HF3FS_CHECK(IsValidClassLog2(class_log2));
  ClassState& cs = StateOf(class_log2);
  std::lock_guard lock(cs.mu);
  auto index = cs.alloc->Allocate();
  if (!index) {
    return MakeStatus(StatusCode::kNoSpace, "size class {} has no slot index left",
                      FormatSize(ClassBytes(class_log2)));
  }
  auto st = PrepareGroup(cs, cs.alloc->GroupOf(*index));
  if (!st.ok()) {
    cs.alloc->Free(*index);
    return st;
  }
  return SlotAddress{class_log2, *index};
}

Status DataFiles::Free(SlotAddress slot) {
  ClassState& cs = StateOf(slot.class_log2);
  std::lock_guard lock(cs.mu);
  if (!cs.alloc->Free(slot.index) || !punch_.load(std::memory_order_relaxed)) return Status::Ok();
  uint32_t group = cs.alloc->GroupOf(slot.index);
  if (group >= cs.group_allocated.size() || !cs.group_allocated[group]) return Status::Ok();
  File* file = cs.files[group / cs.groups_per_file].get();
  uint64_t offset = uint64_t{group % cs.groups_per_file} * cs.group_bytes();
  auto st = file->PunchHole(offset, cs.group_bytes());
  if (st.code() == StatusCode::kUnavailable) {
    HF3FS_LOG_WARN("chunk.punch_disabled dir={} reason=\"{}\"", data_dir_, st.message());
    punch_ = false;
    return Status::Ok();
  }
  HF3FS_TRY(st);
  cs.group_allocated[group] = false;
  return Status::Ok();
}

bool DataFiles::IsUsed(SlotAddress slot) const {
  const ClassState& cs = StateOf(slot.class_log2);
  std::lock_guard lock(cs.mu);
  return cs.alloc->IsUsed(slot.index);
}

Result<std::pair<File*, uint64_t>> DataFiles::Locate(SlotAddress slot, uint64_t offset,
                                                     size_t len) {
  HF3FS_CHECK(slot.valid() && offset + len <= slot.capacity());
  ClassState& cs = StateOf(slot.class_log2);
  std::lock_guard lock(cs.mu);
  uint32_t group = slot.index / cs.slots_per_group;
  uint32_t f = group / cs.groups_per_file;
  if (f >= cs.files.size() || !cs.files[f]) {
    return MakeStatus(StatusCode::kDataCorruption, "slot {}/{}: data file {} is missing",
                      slot.class_log2, slot.index, FileName(f));
  }
  uint64_t base = uint64_t{group % cs.groups_per_file} * cs.group_bytes() +
                  uint64_t{slot.index % cs.slots_per_group} * ClassBytes(slot.class_log2);
  return std::make_pair(cs.files[f].get(), base + offset);
}

Status DataFiles::Read(SlotAddress slot, uint64_t offset, std::span<uint8_t> buf) {
  HF3FS_TRY_ASSIGN(auto loc, Locate(slot, offset, buf.size()));
  return loc.first->Read(loc.second, buf);
}

Status DataFiles::Write(SlotAddress slot, uint64_t offset, std::span<const uint8_t> buf) {
  HF3FS_TRY_ASSIGN(auto loc, Locate(slot, offset, buf.size()));
  return loc.first->Write(loc.second, buf);
}

Status DataFiles::Sync(SlotAddress slot) {
  HF3FS_TRY_ASSIGN(auto loc, Locate(slot, 0, 0));
  return loc.first->Sync();
}

Status DataFiles::SyncAll() {
  for (auto& cs : classes_) {
    std::vector<File*> files;
    {
      std::lock_guard lock(cs.mu);
      for (auto& f : cs.files) {
        if (f) files.push_back(f.get());
      }
    }
    // Files are never closed while the engine is open, so the pointers stay valid unlocked.
    for (File* f : files) HF3FS_TRY(f->Sync());
  }
  return Status::Ok();
}

std::optional<uint32_t> DataFiles::SparseTailGroup(uint8_t class_log2) const {
  const ClassState& cs = StateOf(class_log2);
  std::lock_guard lock(cs.mu);
  const SlotAllocator& a = *cs.alloc;
  uint64_t free_below = 0;
  std::optional<uint32_t> tail;
  for (uint32_t g = 0; g < a.group_count(); ++g) {
    if (a.GroupUsed(g) > 0) tail = g;
  }
  if (!tail || *tail == 0) return std::nullopt;
  for (uint32_t g = 0; g < *tail; ++g) free_below += a.slots_per_group() - a.GroupUsed(g);
  uint32_t used = a.GroupUsed(*tail);
  if (used * 2 > a.slots_per_group() || free_below < used) return std::nullopt;
  return tail;
}

uint32_t DataFiles::GroupOf(SlotAddress slot) const {
  return slot.index / StateOf(slot.class_log2).slots_per_group;
}

uint32_t DataFiles::GroupUsed(uint8_t class_log2, uint32_t group) const {
  const ClassState& cs = StateOf(class_log2);
  std::lock_guard lock(cs.mu);
  return group < cs.alloc->group_count() ? cs.alloc->GroupUsed(group) : 0;
}

ClassStats DataFiles::Stats(uint8_t class_log2) const {
  const ClassState& cs = StateOf(class_log2);
  std::lock_guard lock(cs.mu);
  ClassStats s;
  s.class_log2 = class_log2;
  s.used_slots = cs.alloc->used_slots();
  s.free_slots = cs.alloc->free_slots();
  s.groups = cs.alloc->group_count();
  s.allocated_groups =
      static_cast<uint32_t>(std::count(cs.group_allocated.begin(), cs.group_allocated.end(), true));
  s.files = static_cast<uint32_t>(
      std::count_if(cs.files.begin(), cs.files.end(), [](const auto& f) { return f != nullptr; }));
  return s;
}

std::string DataFiles::PathOf(SlotAddress slot) const {
  const ClassState& cs = StateOf(slot.class_log2);
  uint32_t f = slot.index / cs.slots_per_group / cs.groups_per_file;
  return ClassDir(slot.class_log2) + "/" + FileName(f);
}

}  // namespace hf3fs::chunk
