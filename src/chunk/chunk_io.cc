// Data paths of ChunkEngine: in-place append, in-place shrink, copy-on-write, reads.
//
// All of them stream through one pooled, block-aligned buffer of io_piece_bytes, so an update of
// a 64 MiB chunk never holds more than one piece in memory.
#include <algorithm>
#include <cstring>

#include "chunk/chunk_engine.h"
#include "chunk/engine_metrics.h"
#include "common/crc32c.h"

namespace hf3fs::chunk {
namespace {

// Copies the bytes of `data` (placed at chunk offset `data_offset`) that fall in
// [piece_pos, piece_pos + piece_len) into `piece`, which holds that chunk range.
void OverlayInto(uint8_t* piece, uint64_t piece_pos, uint64_t piece_len, uint64_t data_offset,
                 std::span<const uint8_t> data) {
  uint64_t lo = std::max(piece_pos, data_offset);
  uint64_t hi = std::min(piece_pos + piece_len, data_offset + data.size());
  if (lo < hi) std::memcpy(piece + (lo - piece_pos), data.data() + (lo - data_offset), hi - lo);
}

}  // namespace

Result<VersionPart> ChunkEngine::AppendInPlace(const VersionPart& base, uint64_t version,
                                               const Overlay& overlay) {
  // Blocks [round_down(base length), round_up(new length)): the committed prefix of the first
  // block is read and written back unchanged, everything after it is new bytes or zeros.
  const uint64_t begin = RoundDownToBlock(base.length);
  const uint64_t end = RoundUpToBlock(overlay.new_length);
  uint32_t crc = base.checksum;
  auto buf = buffers_->Acquire();
  const uint64_t piece = buf->size();
  for (uint64_t pos = begin; pos < end; pos += piece) {
    uint64_t n = std::min(piece, end - pos);
    uint8_t* p = buf->data();
    std::memset(p, 0, n);
    if (pos == begin && base.length % kBlockBytes != 0) {
      HF3FS_TRY(data_->Read(base.slot, pos, buf->span().first(kBlockBytes)));
      std::memset(p + (base.length - pos), 0, kBlockBytes - (base.length - pos));
    }
    OverlayInto(p, pos, n, overlay.offset, overlay.data);
    uint64_t lo = std::max<uint64_t>(pos, base.length);
    uint64_t hi = std::min<uint64_t>(pos + n, overlay.new_length);
    if (lo < hi) crc = Crc32c(p + (lo - pos), hi - lo, crc);
    HF3FS_TRY(data_->Write(base.slot, pos, std::span<const uint8_t>(p, n)));
    metrics_->write_bytes->Inc(n);
  }
  return VersionPart{version, overlay.new_length, crc, base.slot, false};
}

Result<VersionPart> ChunkEngine::ShrinkInPlace(const VersionPart& base, uint64_t version,
                                               uint32_t new_length) {
  // Reads the committed bytes once: the CRC of the new prefix, and the committed CRC to make
  // sure a corrupt chunk is not blessed with a fresh checksum.
  uint32_t crc_new = 0;
  uint32_t crc_old = 0;
  auto buf = buffers_->Acquire();
  const uint64_t piece = buf->size();
  for (uint64_t pos = 0; pos < base.length; pos += piece) {
    uint64_t n = std::min<uint64_t>(piece, base.length - pos);
    HF3FS_TRY(data_->Read(base.slot, pos, buf->span().first(RoundUpToBlock(n))));
    crc_old = Crc32c(buf->data(), n, crc_old);
    if (pos < new_length)
      crc_new = Crc32c(buf->data(), std::min<uint64_t>(n, new_length - pos), crc_new);
  }
  if (crc_old != base.checksum) {
    metrics_->checksum_failures->Inc();
    return MakeStatus(StatusCode::kDataCorruption,
                      "truncate: committed bytes have CRC32C {:08x}, record says {:08x}", crc_old,
                      base.checksum);
  }
  return VersionPart{version, new_length, crc_new, base.slot, false};
}

Result<VersionPart> ChunkEngine::CopyOnWrite(const VersionPart* base, uint64_t version,
                                             const Overlay& overlay, uint8_t chunk_log2,
                                             SlotAddress* reserved) {
  uint8_t old_class = base != nullptr ? base->slot.class_log2 : 0;
  uint8_t cls = ChooseSlotClass(overlay.new_length, chunk_log2, old_class);
  HF3FS_TRY_ASSIGN(*reserved, data_->Allocate(cls));
  const uint64_t base_len = base != nullptr ? std::min(base->length, overlay.new_length) : 0;
  const uint64_t end = RoundUpToBlock(overlay.new_length);
  const uint64_t data_begin = overlay.offset;
  const uint64_t data_end = overlay.offset + overlay.data.size();
  uint32_t crc_new = 0;
  uint32_t crc_old = 0;
  bool verify_old = base != nullptr && base->length > 0 && base->length <= overlay.new_length;
  auto buf = buffers_->Acquire();
  const uint64_t piece = buf->size();
  for (uint64_t pos = 0; pos < end; pos += piece) {
    uint64_t n = std::min(piece, end - pos);
    uint8_t* p = buf->data();
    std::memset(p, 0, n);
    if (pos < base_len) {
      uint64_t old_n = std::min(n, base_len - pos);
      if (data_begin <= pos && data_end >= pos + old_n) {
        verify_old = false;  // every old byte here is overwritten: skip reading it
      } else {
        HF3FS_TRY(data_->Read(base->slot, pos, buf->span().first(RoundUpToBlock(old_n))));
        std::memset(p + old_n, 0, n - old_n);  // stale bytes past the committed length
        crc_old = Crc32c(p, old_n, crc_old);
        metrics_->cow_copied_bytes->Inc(old_n);
      }
    }
    OverlayInto(p, pos, n, overlay.offset, overlay.data);
    uint64_t hi = std::min<uint64_t>(pos + n, overlay.new_length);
    crc_new = Crc32c(p, hi - pos, crc_new);
    HF3FS_TRY(data_->Write(*reserved, pos, std::span<const uint8_t>(p, n)));
    metrics_->write_bytes->Inc(n);
  }
  if (verify_old && crc_old != base->checksum) {
    metrics_->checksum_failures->Inc();
    return MakeStatus(StatusCode::kDataCorruption,
                      "copy-on-write: committed bytes have CRC32C {:08x}, record says {:08x}",
                      crc_old, base->checksum);
  }
  return VersionPart{version, overlay.new_length, crc_new, *reserved, false};
}

Status ChunkEngine::ReadBytes(const VersionPart& part, uint32_t offset, std::span<uint8_t> out) {
  if (out.empty()) return Status::Ok();
  HF3FS_CHECK(uint64_t{offset} + out.size() <= part.length);
  // Aligned caller buffers are read into directly, all but a partial last block.
  if (offset % kBlockBytes == 0 && reinterpret_cast<uintptr_t>(out.data()) % kBlockBytes == 0) {
    size_t whole = RoundDownToBlock(out.size());
    if (whole > 0) {
      HF3FS_TRY(data_->Read(part.slot, offset, out.first(whole)));
      offset += static_cast<uint32_t>(whole);
      out = out.subspan(whole);
      if (out.empty()) return Status::Ok();
    }
  }
  auto buf = buffers_->Acquire();
  const uint64_t piece = buf->size();
  uint64_t done = 0;
  while (done < out.size()) {
    uint64_t pos = offset + done;
    uint64_t aligned = RoundDownToBlock(pos);
    uint64_t want = std::min<uint64_t>(out.size() - done, piece - (pos - aligned));
    uint64_t len = RoundUpToBlock(pos - aligned + want);
    HF3FS_TRY(data_->Read(part.slot, aligned, buf->span().first(len)));
    std::memcpy(out.data() + done, buf->data() + (pos - aligned), want);
    done += want;
  }
  return Status::Ok();
}

}  // namespace hf3fs::chunk
