#include "net/frame.h"

#include <cstring>

#include "common/crc32c.h"

namespace hf3fs::net {
namespace {

uint16_t Load16(const uint8_t* p) { return uint16_t(p[0]) | uint16_t(p[1]) << 8; }
uint32_t Load32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
void Store16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}
void Store32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}

}  // namespace

Result<FrameHeader> DecodeFrameHeader(std::span<const uint8_t, kFrameHeaderSize> b,
                                      uint64_t max_frame_bytes) {
  const uint8_t* p = b.data();
  if (Load32(p) != kFrameMagic) {
    return MakeStatus(StatusCode::kRpcBadFrame, "bad magic 0x{:08x}", Load32(p));
  }
  if (p[4] != kFrameVersion) {
    return MakeStatus(StatusCode::kRpcBadFrame, "unsupported frame version {}", p[4]);
  }
  FrameHeader h;
  h.flags = p[5];
  if (h.flags & ~kFlagAttachmentCrc) {
    return MakeStatus(StatusCode::kRpcBadFrame, "reserved flag bits set (0x{:02x})", h.flags);
  }
  h.envelope_length = Load16(p + 6);
  h.message_length = Load32(p + 8);
  h.attachment_length = Load32(p + 12);
  h.attachment_crc32c = Load32(p + 16);
  h.header_crc32c = Load32(p + 20);
  if (h.envelope_length > h.message_length) {
    return MakeStatus(StatusCode::kRpcBadFrame, "envelope length {} exceeds message length {}",
                      h.envelope_length, h.message_length);
  }
  if (!h.has_attachment_crc() && h.attachment_crc32c != 0) {
    return MakeStatus(StatusCode::kRpcBadFrame, "attachment checksum set without its flag");
  }
  if (h.total_bytes() > max_frame_bytes) {
    return MakeStatus(StatusCode::kRpcFrameTooLarge,
                      "frame of {} bytes exceeds rpc.max_frame_bytes = {}", h.total_bytes(),
                      max_frame_bytes);
  }
  return h;
}

Status VerifyFrameChecksum(const FrameHeader& header,
                           std::span<const uint8_t, kFrameHeaderSize> header_bytes,
                           std::span<const uint8_t> message) {
  uint32_t crc = Crc32c(header_bytes.data(), 20);
  crc = Crc32c(message.data(), message.size(), crc);
  if (crc != header.header_crc32c) {
    return MakeStatus(StatusCode::kRpcChecksumMismatch,
                      "header checksum 0x{:08x} does not match computed 0x{:08x}",
                      header.header_crc32c, crc);
  }
  return Status::Ok();
}

Status ParseEnvelope(const FrameHeader& header, std::span<const uint8_t> message,
                     rpc::Envelope* envelope) {
  if (message.size() < header.envelope_length ||
      !envelope->ParseFromArray(message.data(), header.envelope_length)) {
    return Status(StatusCode::kRpcBadMessage, "envelope does not parse");
  }
  return Status::Ok();
}

Status AppendFrame(std::vector<uint8_t>& out, const rpc::Envelope& envelope,
                   const google::protobuf::MessageLite* body, uint64_t attachment_length,
                   std::optional<uint32_t> attachment_crc, uint64_t max_frame_bytes) {
  size_t env_len = envelope.ByteSizeLong();
  size_t body_len = body ? body->ByteSizeLong() : 0;
  if (env_len > 0xffff) {
    return Status(StatusCode::kRpcFrameTooLarge, "envelope larger than 64 KiB");
  }
  uint64_t total = kFrameHeaderSize + env_len + body_len + attachment_length;
  if (total > max_frame_bytes || attachment_length > 0xffffffffull) {
    return MakeStatus(StatusCode::kRpcFrameTooLarge,
                      "frame of {} bytes exceeds rpc.max_frame_bytes = {}", total,
                      max_frame_bytes);
  }
  size_t start = out.size();
  out.resize(start + kFrameHeaderSize + env_len + body_len);
  uint8_t* h = out.data() + start;
  uint8_t* msg = h + kFrameHeaderSize;
  envelope.SerializeWithCachedSizesToArray(msg);
  if (body) body->SerializeWithCachedSizesToArray(msg + env_len);
  Store32(h, kFrameMagic);
  h[4] = kFrameVersion;
  h[5] = attachment_crc ? kFlagAttachmentCrc : 0;
  Store16(h + 6, static_cast<uint16_t>(env_len));
  Store32(h + 8, static_cast<uint32_t>(env_len + body_len));
  Store32(h + 12, static_cast<uint32_t>(attachment_length));
  Store32(h + 16, attachment_crc.value_or(0));
  uint32_t crc = Crc32c(h, 20);
  crc = Crc32c(msg, env_len + body_len, crc);
  Store32(h + 20, crc);
  return Status::Ok();
}

Result<DecodedFrame> DecodeFrame(std::span<const uint8_t> data, uint64_t max_frame_bytes) {
  if (data.size() < kFrameHeaderSize) {
    return Status(StatusCode::kUnavailable, "incomplete frame header");
  }
  auto hb = data.first<kFrameHeaderSize>();
  HF3FS_TRY_ASSIGN(FrameHeader h, DecodeFrameHeader(hb, max_frame_bytes));
  if (data.size() < h.total_bytes()) return Status(StatusCode::kUnavailable, "incomplete frame");
  auto message = data.subspan(kFrameHeaderSize, h.message_length);
  HF3FS_TRY(VerifyFrameChecksum(h, hb, message));
  DecodedFrame f;
  f.header = h;
  HF3FS_TRY(ParseEnvelope(h, message, &f.envelope));
  f.body = message.subspan(h.envelope_length);
  f.attachment = data.subspan(kFrameHeaderSize + h.message_length, h.attachment_length);
  if (h.has_attachment_crc() && Crc32c(f.attachment) != h.attachment_crc32c) {
    return Status(StatusCode::kRpcChecksumMismatch, "attachment checksum mismatch");
  }
  return f;
}

}  // namespace hf3fs::net
