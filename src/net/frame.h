// RPC frame codec (docs/formats/rpc.md): pure functions, no I/O, so the fuzzer can drive them.
#pragma once

#include <google/protobuf/message_lite.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/status.h"
#include "rpc.pb.h"

namespace hf3fs::net {

inline constexpr uint32_t kFrameMagic = 0x53463348;  // bytes "H3FS"
inline constexpr uint8_t kFrameVersion = 1;
inline constexpr size_t kFrameHeaderSize = 24;
inline constexpr uint8_t kFlagAttachmentCrc = 0x01;
inline constexpr uint64_t kMaxFrameBytesLimit = 512ull << 20;
inline constexpr size_t kMaxStatusMessageBytes = 4096;

struct FrameHeader {
  uint8_t flags = 0;
  uint16_t envelope_length = 0;
  uint32_t message_length = 0;
  uint32_t attachment_length = 0;
  uint32_t attachment_crc32c = 0;
  uint32_t header_crc32c = 0;

  bool has_attachment_crc() const { return flags & kFlagAttachmentCrc; }
  uint64_t total_bytes() const {
    return kFrameHeaderSize + uint64_t{message_length} + attachment_length;
  }
};

// Checks magic, version, flags and lengths (not the checksum, which needs the message).
// kRpcBadFrame or kRpcFrameTooLarge on failure.
Result<FrameHeader> DecodeFrameHeader(std::span<const uint8_t, kFrameHeaderSize> bytes,
                                      uint64_t max_frame_bytes);

// Verifies header_crc32c over the header's first 20 bytes and `message`; kRpcChecksumMismatch.
Status VerifyFrameChecksum(const FrameHeader& header,
                           std::span<const uint8_t, kFrameHeaderSize> header_bytes,
                           std::span<const uint8_t> message);

// Parses the envelope at the start of `message`; kRpcBadMessage if it does not parse.
Status ParseEnvelope(const FrameHeader& header, std::span<const uint8_t> message,
                     rpc::Envelope* envelope);

// Appends header + envelope + body to `out`. `attachment_crc` is set when the sender checksums
// the attachment. kRpcFrameTooLarge when the frame would exceed `max_frame_bytes`.
Status AppendFrame(std::vector<uint8_t>& out, const rpc::Envelope& envelope,
                   const google::protobuf::MessageLite* body, uint64_t attachment_length,
                   std::optional<uint32_t> attachment_crc, uint64_t max_frame_bytes);

// A whole frame decoded from contiguous bytes (tests and the fuzzer; connections stream instead).
struct DecodedFrame {
  FrameHeader header;
  rpc::Envelope envelope;
  std::span<const uint8_t> body;
  std::span<const uint8_t> attachment;
};
// Decodes the first frame of `data`. kUnavailable when `data` holds only part of a frame.
Result<DecodedFrame> DecodeFrame(std::span<const uint8_t> data, uint64_t max_frame_bytes);

}  // namespace hf3fs::net
