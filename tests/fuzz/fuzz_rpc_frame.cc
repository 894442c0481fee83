// libFuzzer target for the RPC frame and message decoders.
//
// The first input byte picks a mode:
//   0: the rest is a byte stream decoded frame after frame, as a connection does;
//   1: the rest is a frame whose header checksum is recomputed first, so that mutated lengths,
//      flags and envelopes get past the checksum and reach the later checks;
//   2: the rest is parsed as each message type a server accepts.
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "common/crc32c.h"
#include "core.pb.h"
#include "net/frame.h"
#include "rpc.pb.h"

namespace {

constexpr uint64_t kMaxFrame = 1 << 20;

void DecodeStream(std::span<const uint8_t> in) {
  while (!in.empty()) {
    auto f = hf3fs::net::DecodeFrame(in, kMaxFrame);
    if (!f.ok()) return;
    hf3fs::core::EchoReq req;
    (void)req.ParseFromArray(f->body.data(), static_cast<int>(f->body.size()));
    in = in.subspan(f->header.total_bytes());
  }
}

void DecodeWithFixedChecksum(std::span<const uint8_t> in) {
  if (in.size() < hf3fs::net::kFrameHeaderSize) return;
  std::vector<uint8_t> buf(in.begin(), in.end());
  uint32_t msg_len;
  std::memcpy(&msg_len, buf.data() + 8, 4);
  size_t avail = buf.size() - hf3fs::net::kFrameHeaderSize;
  size_t n = std::min<size_t>(msg_len, avail);
  uint32_t crc = hf3fs::Crc32c(buf.data(), 20);
  crc = hf3fs::Crc32c(buf.data() + hf3fs::net::kFrameHeaderSize, n, crc);
  std::memcpy(buf.data() + 20, &crc, 4);
  DecodeStream(buf);
}

template <typename M>
void Parse(std::span<const uint8_t> in) {
  M m;
  if (m.ParseFromArray(in.data(), static_cast<int>(in.size()))) {
    std::string again;
    (void)m.SerializeToString(&again);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::span<const uint8_t> in(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      DecodeStream(in);
      break;
    case 1:
      DecodeWithFixedChecksum(in);
      break;
    default:
      Parse<hf3fs::rpc::Envelope>(in);
      Parse<hf3fs::core::EchoReq>(in);
      Parse<hf3fs::core::HotUpdateConfigReq>(in);
      Parse<hf3fs::core::SetLogLevelReq>(in);
      break;
  }
  return 0;
}
