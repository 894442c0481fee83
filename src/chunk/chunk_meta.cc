#include "chunk/chunk_meta.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "common/crc32c.h"

namespace hf3fs::chunk {
namespace {

void PutLe(uint8_t* p, uint64_t v, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetLe(const uint8_t* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

void PutBe64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

constexpr uint8_t kFlagCommitted = 1;
constexpr uint8_t kFlagPending = 2;
constexpr uint8_t kFlagRemoval = 4;
constexpr uint8_t kFlagFallback = 8;
constexpr size_t kPartBytes = 24;
constexpr size_t kV1CrcAt = 56;
constexpr size_t kFallbackAt = 56;
constexpr size_t kEpochsAt = 80;
constexpr size_t kV2CrcAt = 96;

void EncodePart(uint8_t* p, const VersionPart& part) {
  PutLe(p, part.version, 8);
  PutLe(p + 8, part.length, 4);
  PutLe(p + 12, part.checksum, 4);
  p[16] = part.slot.class_log2;
  p[17] = part.shrunk ? 1 : 0;
  PutLe(p + 20, part.slot.index, 4);
}

VersionPart DecodePart(const uint8_t* p) {
  VersionPart part;
  part.version = GetLe(p, 8);
  part.length = static_cast<uint32_t>(GetLe(p + 8, 4));
  part.checksum = static_cast<uint32_t>(GetLe(p + 12, 4));
  part.slot.class_log2 = p[16];
  part.shrunk = (p[17] & 1) != 0;
  part.slot.index = static_cast<uint32_t>(GetLe(p + 20, 4));
  return part;
}

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

Status Corrupt(const ChunkId& id, std::string_view what) {
  return MakeStatus(StatusCode::kDataCorruption, "chunk record {}: {}", id, what);
}

// Checks one present part against the record's rules (format doc, "Rules a reader checks").
Status CheckPart(const VersionPart& part, const uint8_t* raw, uint8_t chunk_log2,
                 const ChunkId& id) {
  if (part.version == 0) return Corrupt(id, "present part has version 0");
  if ((raw[17] & ~1) != 0 || raw[18] != 0 || raw[19] != 0) {
    return Corrupt(id, "reserved bytes set");
  }
  if (part.length > ClassBytes(chunk_log2)) return Corrupt(id, "length exceeds chunk size");
  if (part.slot.valid() != (part.length > 0)) return Corrupt(id, "slot presence != length > 0");
  if (!part.slot.valid()) {
    if (part.slot.index != 0) return Corrupt(id, "slot index without slot class");
    if (part.checksum != 0) return Corrupt(id, "empty part with non-zero checksum");
    return Status::Ok();
  }
  if (!IsValidClassLog2(part.slot.class_log2) || part.slot.class_log2 > chunk_log2) {
    return Corrupt(id, "bad slot class");
  }
  if (part.length > part.slot.capacity()) return Corrupt(id, "length exceeds slot");
  return Status::Ok();
}

}  // namespace

std::optional<uint8_t> ChunkSizeLog2(uint64_t chunk_size) {
  if (!std::has_single_bit(chunk_size)) return std::nullopt;
  auto log2 = static_cast<uint8_t>(std::countr_zero(chunk_size));
  if (!IsValidClassLog2(log2)) return std::nullopt;
  return log2;
}

uint8_t ClassForLength(uint64_t length) {
  uint8_t log2 = length <= 1 ? 0 : static_cast<uint8_t>(std::bit_width(length - 1));
  return std::max(log2, kMinClassLog2);
}

uint8_t ChooseSlotClass(uint64_t new_length, uint8_t chunk_size_log2, uint8_t old_class_log2) {
  uint8_t c = ClassForLength(new_length);
  if (old_class_log2 != 0 && new_length > ClassBytes(old_class_log2)) {
    c = old_class_log2 >= kGrowToChunkSizeLog2
            ? chunk_size_log2
            : std::max<uint8_t>(c, old_class_log2 + kSlotGrowthFactorLog2);
  }
  return std::min(c, chunk_size_log2);
}

std::string ToString(const ChunkMeta& meta) {
  auto part = [](const std::optional<VersionPart>& p) -> std::string {
    if (!p) return "-";
    if (p->removal) return fmt::format("v{} removal", p->version);
    return fmt::format("v{} len={} crc={:08x} slot={}/{} epoch={}", p->version, p->length,
                       p->checksum, p->slot.class_log2, p->slot.index, p->epoch);
  };
  std::string out = fmt::format(
      "target={} chunk={} chunk_size={} chain_version={} committed=[{}] "
      "pending=[{}]",
      meta.target, meta.chunk_id, meta.chunk_size, meta.chain_version, part(meta.committed),
      part(meta.pending));
  if (meta.fallback) out += fmt::format(" fallback=[{}]", part(meta.fallback));
  return out;
}

std::string EncodeChunkKey(TargetId target, const ChunkId& chunk_id) {
  std::string key = TargetKeyBegin(target);
  key += chunk_id.bytes();
  return key;
}

std::string TargetKeyBegin(TargetId target) {
  std::string key(1, kChunkKeyPrefix);
  PutBe64(key, target.value());
  return key;
}

std::string TargetKeyEnd(TargetId target) {
  if (target.value() == UINT64_MAX) return std::string(1, kChunkKeyPrefix + 1);
  return TargetKeyBegin(TargetId(target.value() + 1));
}

Result<std::pair<TargetId, ChunkId>> DecodeChunkKey(std::string_view key) {
  if (key.size() < 10 || key.size() > 9 + kMaxChunkIdBytes || key[0] != kChunkKeyPrefix) {
    return MakeStatus(StatusCode::kDataCorruption, "malformed chunk key of {} bytes", key.size());
  }
  uint64_t target = 0;
  for (size_t i = 1; i < 9; ++i) target = (target << 8) | static_cast<uint8_t>(key[i]);
  return std::make_pair(TargetId(target), ChunkId(std::string(key.substr(9))));
}

std::string EncodeJournalKey(TargetId target, const ChunkId& chunk_id, uint64_t version,
                             uint64_t epoch) {
  std::string key(1, kJournalKeyPrefix);
  PutBe64(key, target.value());
  key.push_back(static_cast<char>(chunk_id.size()));
  key += chunk_id.bytes();
  PutBe64(key, version);
  PutBe64(key, epoch);
  return key;
}

std::string EncodeJournalValue(const JournalRecord& r) {
  std::string out(kJournalHeaderBytes + r.blocks.size() + 4, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  p[0] = kJournalRecordVersion;
  p[2] = r.slot.class_log2;
  PutLe(p + 4, r.slot.index, 4);
  PutLe(p + 8, r.version, 8);
  PutLe(p + 16, r.offset, 4);
  PutLe(p + 20, r.blocks.size(), 4);
  PutLe(p + 24, r.epoch, 8);
  if (!r.blocks.empty()) std::memcpy(p + kJournalHeaderBytes, r.blocks.data(), r.blocks.size());
  size_t body = kJournalHeaderBytes + r.blocks.size();
  PutLe(p + body, Crc32c(p, body), 4);
  return out;
}

Result<JournalRecord> DecodeJournalRecord(std::string_view key, std::string_view value) {
  auto corrupt = [](std::string_view what) {
    return MakeStatus(StatusCode::kDataCorruption, "journal record: {}", what);
  };
  if (key.size() < 1 + 8 + 1 + 1 + 16 || key[0] != kJournalKeyPrefix) {
    return corrupt("malformed key");
  }
  const auto* k = reinterpret_cast<const uint8_t*>(key.data());
  uint64_t target = 0;
  for (size_t i = 1; i < 9; ++i) target = (target << 8) | k[i];
  size_t id_len = k[9];
  if (id_len == 0 || id_len > kMaxChunkIdBytes || key.size() != 10 + id_len + 16) {
    return corrupt("bad chunk id length in key");
  }
  uint64_t key_version = 0;
  uint64_t key_epoch = 0;
  for (size_t i = 0; i < 8; ++i) key_version = (key_version << 8) | k[10 + id_len + i];
  for (size_t i = 0; i < 8; ++i) key_epoch = (key_epoch << 8) | k[18 + id_len + i];
  if (value.size() < kJournalHeaderBytes + 4) return corrupt("value too short");
  const auto* p = reinterpret_cast<const uint8_t*>(value.data());
  size_t body = value.size() - 4;
  if (Crc32c(p, body) != static_cast<uint32_t>(GetLe(p + body, 4))) return corrupt("bad CRC");
  if (p[0] != kJournalRecordVersion) return corrupt("unknown format version");
  if (p[1] != 0 || p[3] != 0) return corrupt("reserved bytes set");
  JournalRecord r;
  r.target = TargetId(target);
  r.chunk_id = ChunkId(std::string(key.substr(10, id_len)));
  r.slot.class_log2 = p[2];
  r.slot.index = static_cast<uint32_t>(GetLe(p + 4, 4));
  r.version = GetLe(p + 8, 8);
  r.offset = static_cast<uint32_t>(GetLe(p + 16, 4));
  uint64_t length = GetLe(p + 20, 4);
  r.epoch = GetLe(p + 24, 8);
  if (r.version != key_version || r.epoch != key_epoch) return corrupt("key and value disagree");
  if (r.version == 0) return corrupt("version 0");
  if (!IsValidClassLog2(r.slot.class_log2)) return corrupt("bad slot class");
  if (length == 0 || length != body - kJournalHeaderBytes || length % kBlockBytes != 0 ||
      r.offset % kBlockBytes != 0 || uint64_t{r.offset} + length > r.slot.capacity()) {
    return corrupt("bad block range");
  }
  r.blocks.assign(p + kJournalHeaderBytes, p + body);
  return r;
}

std::string EncodeChunkRecord(const ChunkMeta& meta) {
  uint8_t buf[kChunkRecordBytes] = {};
  buf[0] = kChunkRecordVersion;
  uint8_t flags = 0;
  if (meta.committed) flags |= kFlagCommitted;
  if (meta.pending) flags |= kFlagPending;
  if (meta.pending && meta.pending->removal) flags |= kFlagRemoval;
  if (meta.fallback) flags |= kFlagFallback;
  buf[1] = flags;
  buf[2] = ChunkSizeLog2(meta.chunk_size).value_or(0);
  PutLe(buf + 4, meta.chain_version.value(), 4);
  if (meta.committed) {
    EncodePart(buf + 8, *meta.committed);
    PutLe(buf + kEpochsAt, meta.committed->epoch, 8);
  }
  if (meta.pending) {
    EncodePart(buf + 8 + kPartBytes, *meta.pending);
    PutLe(buf + kEpochsAt + 8, meta.pending->epoch, 8);
  }
  if (meta.fallback) EncodePart(buf + kFallbackAt, *meta.fallback);
  PutLe(buf + kV2CrcAt, Crc32c(buf, kV2CrcAt), 4);
  return std::string(reinterpret_cast<const char*>(buf), sizeof(buf));
}

Result<ChunkMeta> DecodeChunkRecord(std::string_view value, TargetId target, ChunkId chunk_id) {
  const auto* buf = reinterpret_cast<const uint8_t*>(value.data());
  bool v2;
  if (value.size() == kChunkRecordBytes) {
    if (GetLe(buf + kV2CrcAt, 4) != Crc32c(buf, kV2CrcAt)) {
      return Corrupt(chunk_id, "record checksum mismatch");
    }
    if (buf[0] != 2) return Corrupt(chunk_id, "unknown record version");
    v2 = true;
  } else if (value.size() == kChunkRecordV1Bytes) {
    if (GetLe(buf + kV1CrcAt, 4) != Crc32c(buf, kV1CrcAt)) {
      return Corrupt(chunk_id, "record checksum mismatch");
    }
    if (buf[0] != 1) return Corrupt(chunk_id, "unknown record version");
    v2 = false;
  } else {
    return Corrupt(chunk_id, "wrong record size");
  }
  uint8_t flags = buf[1];
  uint8_t known = kFlagCommitted | kFlagPending | kFlagRemoval | (v2 ? kFlagFallback : 0);
  if (flags & ~known) return Corrupt(chunk_id, "bad flags");
  if ((flags & kFlagFallback) && !(flags & kFlagCommitted)) {
    return Corrupt(chunk_id, "fallback without committed part");
  }
  if (!(flags & (kFlagCommitted | kFlagPending))) return Corrupt(chunk_id, "no part present");
  if ((flags & kFlagRemoval) && !(flags & kFlagPending)) return Corrupt(chunk_id, "bad removal");
  uint8_t chunk_log2 = buf[2];
  if (!IsValidClassLog2(chunk_log2) || buf[3] != 0) return Corrupt(chunk_id, "bad chunk size");

  ChunkMeta meta;
  meta.target = target;
  meta.chunk_id = std::move(chunk_id);
  meta.chunk_size = static_cast<uint32_t>(ClassBytes(chunk_log2));
  meta.chain_version = ChainVersion(static_cast<uint32_t>(GetLe(buf + 4, 4)));
  const uint8_t* committed_raw = buf + 8;
  const uint8_t* pending_raw = buf + 8 + kPartBytes;
  if (flags & kFlagCommitted) {
    meta.committed = DecodePart(committed_raw);
    HF3FS_TRY(CheckPart(*meta.committed, committed_raw, chunk_log2, meta.chunk_id));
    if (v2) meta.committed->epoch = GetLe(buf + kEpochsAt, 8);
  } else if (!AllZero(committed_raw, kPartBytes) || (v2 && !AllZero(buf + kEpochsAt, 8))) {
    return Corrupt(meta.chunk_id, "absent committed part is not zero");
  }
  if (v2 && (flags & kFlagFallback)) {
    meta.fallback = DecodePart(buf + kFallbackAt);
    HF3FS_TRY(CheckPart(*meta.fallback, buf + kFallbackAt, chunk_log2, meta.chunk_id));
  } else if (v2 && !AllZero(buf + kFallbackAt, kPartBytes)) {
    return Corrupt(meta.chunk_id, "absent fallback part is not zero");
  }
  if (flags & kFlagPending) {
    meta.pending = DecodePart(pending_raw);
    if (v2) meta.pending->epoch = GetLe(buf + kEpochsAt + 8, 8);
    meta.pending->removal = (flags & kFlagRemoval) != 0;
    HF3FS_TRY(CheckPart(*meta.pending, pending_raw, chunk_log2, meta.chunk_id));
    if (meta.pending->removal && (meta.pending->length != 0 || meta.pending->slot.valid())) {
      return Corrupt(meta.chunk_id, "removal with data");
    }
  } else if (!AllZero(pending_raw, kPartBytes) || (v2 && !AllZero(buf + kEpochsAt + 8, 8))) {
    return Corrupt(meta.chunk_id, "absent pending part is not zero");
  }
  if (meta.committed && meta.pending) {
    if (meta.pending->version <= meta.committed->version) {
      return Corrupt(meta.chunk_id, "pending version not above committed version");
    }
    // The parts may share a slot only when the pending part changes bytes past the committed
    // length (or shortens the chunk), which the in-place paths guarantee.
  }
  return meta;
}

std::string EncodeDurableEpoch(const DurableEpoch& d) {
  std::string out(14 + d.boot_id.size(), '\0');
  auto* buf = reinterpret_cast<uint8_t*>(out.data());
  buf[0] = 1;  // record version
  PutLe(buf + 1, d.epoch, 8);
  buf[9] = static_cast<uint8_t>(std::min<size_t>(d.boot_id.size(), 64));
  std::memcpy(buf + 10, d.boot_id.data(), buf[9]);
  out.resize(10 + buf[9] + 4);
  buf = reinterpret_cast<uint8_t*>(out.data());
  PutLe(buf + 10 + buf[9], Crc32c(buf, 10 + buf[9]), 4);
  return out;
}

Result<DurableEpoch> DecodeDurableEpoch(std::string_view value) {
  const auto* buf = reinterpret_cast<const uint8_t*>(value.data());
  if (value.size() < 14 || buf[0] != 1 || value.size() != 14u + buf[9] ||
      GetLe(buf + 10 + buf[9], 4) != Crc32c(buf, 10 + buf[9])) {
    return Status(StatusCode::kDataCorruption, "malformed durable-epoch record");
  }
  return DurableEpoch{GetLe(buf + 1, 8), std::string(value.substr(10, buf[9]))};
}

Layout MakeLayout(uint64_t group_bytes, uint32_t groups_per_file, uint64_t created_unix_ns) {
  Layout layout;
  for (uint8_t c = kMinClassLog2; c <= kMaxClassLog2; ++c) {
    uint64_t slots = std::max<uint64_t>(1, group_bytes / ClassBytes(c));
    layout.slots_per_group[ClassIndex(c)] =
        static_cast<uint32_t>(std::min<uint64_t>(slots, 1u << 20));
    layout.groups_per_file[ClassIndex(c)] = std::max<uint32_t>(1, groups_per_file);
  }
  layout.created_unix_ns = created_unix_ns;
  return layout;
}

std::string EncodeLayout(const Layout& layout) {
  uint8_t buf[kLayoutRecordBytes] = {};
  PutLe(buf, kLayoutMagic, 4);
  PutLe(buf + 4, kFormatVersion, 2);
  PutLe(buf + 8, kBlockBytes, 4);
  buf[12] = kMinClassLog2;
  buf[13] = kMaxClassLog2;
  for (size_t i = 0; i < kNumClasses; ++i) {
    PutLe(buf + 16 + 8 * i, layout.slots_per_group[i], 4);
    PutLe(buf + 20 + 8 * i, layout.groups_per_file[i], 4);
  }
  PutLe(buf + 104, layout.created_unix_ns, 8);
  PutLe(buf + 112, Crc32c(buf, 112), 4);
  return std::string(reinterpret_cast<const char*>(buf), sizeof(buf));
}

Result<Layout> DecodeLayout(std::string_view value) {
  auto corrupt = [](std::string_view what) {
    return MakeStatus(StatusCode::kDataCorruption, "chunk engine layout record: {}", what);
  };
  if (value.size() != kLayoutRecordBytes) return corrupt("wrong size");
  const auto* buf = reinterpret_cast<const uint8_t*>(value.data());
  if (GetLe(buf + 112, 4) != Crc32c(buf, 112)) return corrupt("checksum mismatch");
  if (GetLe(buf, 4) != kLayoutMagic) return corrupt("bad magic");
  if (GetLe(buf + 4, 2) != kFormatVersion) return corrupt("unknown format version");
  if (GetLe(buf + 8, 4) != kBlockBytes) return corrupt("unexpected block size");
  if (buf[12] != kMinClassLog2 || buf[13] != kMaxClassLog2) return corrupt("unexpected classes");
  Layout layout;
  for (size_t i = 0; i < kNumClasses; ++i) {
    layout.slots_per_group[i] = static_cast<uint32_t>(GetLe(buf + 16 + 8 * i, 4));
    layout.groups_per_file[i] = static_cast<uint32_t>(GetLe(buf + 20 + 8 * i, 4));
    if (layout.slots_per_group[i] == 0 || layout.groups_per_file[i] == 0) {
      return corrupt("zero slots per group or groups per file");
    }
  }
  layout.created_unix_ns = GetLe(buf + 104, 8);
  return layout;
}

}  // namespace hf3fs::chunk
