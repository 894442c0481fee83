#include "net/frame.h"

#include <gtest/gtest.h>

#include "core.pb.h"

namespace hf3fs::net {
namespace {

constexpr uint64_t kMax = 1 << 20;

std::vector<uint8_t> MakeFrame(const std::string& text, uint64_t att_len = 0,
                               std::optional<uint32_t> crc = std::nullopt) {
  rpc::Envelope env;
  env.set_request_id(7);
  env.set_service_id(1);
  env.set_method_id(1);
  core::EchoReq req;
  req.set_text(text);
  std::vector<uint8_t> out;
  EXPECT_TRUE(AppendFrame(out, env, &req, att_len, crc, kMax).ok());
  return out;
}

TEST(Frame, RoundTripsEnvelopeBodyAndAttachment) {
  auto f = MakeFrame("hello", 3);
  f.insert(f.end(), {'a', 'b', 'c'});
  auto d = DecodeFrame(f, kMax);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->envelope.request_id(), 7u);
  core::EchoReq req;
  ASSERT_TRUE(req.ParseFromArray(d->body.data(), static_cast<int>(d->body.size())));
  EXPECT_EQ(req.text(), "hello");
  EXPECT_EQ(std::string(d->attachment.begin(), d->attachment.end()), "abc");
}

TEST(Frame, IncompleteInputAsksForMore) {
  auto f = MakeFrame("hello");
  for (size_t n : {size_t{0}, size_t{10}, f.size() - 1}) {
    auto d = DecodeFrame(std::span(f).first(n), kMax);
    EXPECT_EQ(d.status().code(), StatusCode::kUnavailable) << n;
  }
}

TEST(Frame, RejectsBadMagicVersionFlagsAndLengths) {
  auto f = MakeFrame("x");
  auto bad = f;
  bad[0] ^= 0xff;
  EXPECT_EQ(DecodeFrame(bad, kMax).status().code(), StatusCode::kRpcBadFrame);
  bad = f;
  bad[4] = 9;
  EXPECT_EQ(DecodeFrame(bad, kMax).status().code(), StatusCode::kRpcBadFrame);
  bad = f;
  bad[5] = 0x80;
  EXPECT_EQ(DecodeFrame(bad, kMax).status().code(), StatusCode::kRpcBadFrame);
  bad = f;
  bad[6] = 0xff;  // envelope longer than the message
  bad[7] = 0xff;
  EXPECT_EQ(DecodeFrame(bad, kMax).status().code(), StatusCode::kRpcBadFrame);
  bad = f;
  bad[15] = 0x7f;  // attachment of ~2 GiB
  EXPECT_EQ(DecodeFrame(bad, kMax).status().code(), StatusCode::kRpcFrameTooLarge);
}

TEST(Frame, RejectsCorruptMessageAndAttachment) {
  auto f = MakeFrame("checksummed");
  auto bad = f;
  bad.back() ^= 1;
  EXPECT_EQ(DecodeFrame(bad, kMax).status().code(), StatusCode::kRpcChecksumMismatch);
  auto g = MakeFrame("y", 2, 0x12345678);  // wrong attachment crc
  g.insert(g.end(), {1, 2});
  EXPECT_EQ(DecodeFrame(g, kMax).status().code(), StatusCode::kRpcChecksumMismatch);
}

TEST(Frame, SenderRefusesFramesOverTheLimit) {
  rpc::Envelope env;
  std::vector<uint8_t> out;
  EXPECT_EQ(AppendFrame(out, env, nullptr, kMax, std::nullopt, kMax).code(),
            StatusCode::kRpcFrameTooLarge);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace hf3fs::net
