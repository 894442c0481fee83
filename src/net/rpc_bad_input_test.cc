// Malformed input on the wire: each case gets a logged rejection (closed connection or error
// response) while the server keeps serving other connections.
#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <random>
#include <thread>

#include "common/crc32c.h"
#include "common/metrics.h"
#include "core.pb.h"
#include "net/core_service.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"
#include "net/test_util.h"
#include "rpc.pb.h"

namespace hf3fs::net {
namespace {

using namespace std::chrono_literals;
using boost::asio::ip::tcp;

struct RootConfig : config::Section {
  RpcConfig rpc{this, "rpc"};
};

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cfg_.rpc.max_frame_bytes.Set(1 << 20).ok());
    core_.Register(registry_);
    pool_.Start();
    ASSERT_TRUE(server_.Start(Address{"127.0.0.1", 0}).ok());
  }
  void TearDown() override {
    server_.Stop();
    pool_.Stop();
  }

  tcp::socket Connect() {
    tcp::socket s(io_);
    s.connect(*server_.address().ToEndpoint());
    return s;
  }

  static std::vector<uint8_t> EchoFrame(const std::string& text, uint32_t service = 1,
                                        uint32_t method = core::CORE_ECHO) {
    rpc::Envelope env;
    env.set_request_id(1);
    env.set_service_id(service);
    env.set_method_id(method);
    core::EchoReq req;
    req.set_text(text);
    std::vector<uint8_t> out;
    EXPECT_TRUE(AppendFrame(out, env, &req, 0, std::nullopt, 1 << 20).ok());
    return out;
  }

  // Reads one response frame; returns its envelope, or the read error status.
  static Result<rpc::Envelope> ReadResponse(tcp::socket& s) {
    std::array<uint8_t, kFrameHeaderSize> hdr;
    boost::system::error_code ec;
    boost::asio::read(s, boost::asio::buffer(hdr), ec);
    if (ec) return Status(StatusCode::kRpcConnectionLost, ec.message());
    auto h = DecodeFrameHeader(hdr, 1 << 20);
    if (!h.ok()) return h.status();
    std::vector<uint8_t> msg(h->message_length + h->attachment_length);
    boost::asio::read(s, boost::asio::buffer(msg), ec);
    if (ec) return Status(StatusCode::kRpcConnectionLost, ec.message());
    rpc::Envelope env;
    if (!env.ParseFromArray(msg.data(), h->envelope_length)) {
      return Status(StatusCode::kRpcBadMessage);
    }
    return env;
  }

  // True when the server has closed `s` (a read sees end of stream or a reset).
  static bool ClosedByServer(tcp::socket& s) {
    uint8_t b;
    boost::system::error_code ec;
    s.read_some(boost::asio::buffer(&b, 1), ec);
    return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
  }

  // A good client on its own connection still gets answers.
  void ExpectServerStillServes() {
    auto s = Connect();
    boost::asio::write(s, boost::asio::buffer(EchoFrame("alive")));
    auto env = ReadResponse(s);
    ASSERT_TRUE(env.ok()) << env.status();
    EXPECT_EQ(env->status_code(), 0u);
  }

  static uint64_t Rejected(const std::string& reason) {
    return metrics::Registry::Global()
        .GetCounter("hf3fs_rpc_frames_rejected_total", "", {{"reason", reason}})
        ->Value();
  }

  RootConfig cfg_;
  ServiceRegistry registry_;
  CoreService core_{&cfg_, [](std::string) {}, [] { return ServerInfo{}; }};
  IoContextPool pool_{2, "bad"};
  RpcServer server_{pool_, cfg_.rpc, registry_};
  boost::asio::io_context io_;
};

TEST_F(BadInputTest, BadMagicClosesOnlyThatConnection) {
  auto before = Rejected("bad_header");
  auto keep = Connect();  // an idle, healthy connection opened before the attack
  auto s = Connect();
  auto f = EchoFrame("x");
  f[0] = 'X';
  boost::asio::write(s, boost::asio::buffer(f));
  EXPECT_TRUE(ClosedByServer(s));
  EXPECT_EQ(Rejected("bad_header"), before + 1);
  boost::asio::write(keep, boost::asio::buffer(EchoFrame("still")));
  EXPECT_TRUE(ReadResponse(keep).ok());
  ExpectServerStillServes();
}

TEST_F(BadInputTest, BadChecksumClosesConnection) {
  auto before = Rejected("checksum");
  auto s = Connect();
  auto f = EchoFrame("checksummed text");
  f.back() ^= 0x55;
  boost::asio::write(s, boost::asio::buffer(f));
  EXPECT_TRUE(ClosedByServer(s));
  EXPECT_EQ(Rejected("checksum"), before + 1);
  ExpectServerStillServes();
}

TEST_F(BadInputTest, OversizedLengthIsRejectedBeforeAllocating) {
  auto before = Rejected("too_large");
  auto s = Connect();
  auto f = EchoFrame("x");
  f[8] = f[9] = f[10] = 0xff;  // message length ~16 MiB, over the 1 MiB limit
  f[11] = 0x00;
  boost::asio::write(s, boost::asio::buffer(f.data(), kFrameHeaderSize));
  EXPECT_TRUE(ClosedByServer(s));
  EXPECT_EQ(Rejected("too_large"), before + 1);
  ExpectServerStillServes();
}

TEST_F(BadInputTest, TruncatedFrameThenHangupIsHarmless) {
  for (size_t cut : {size_t{3}, kFrameHeaderSize, kFrameHeaderSize + 2}) {
    auto s = Connect();
    auto f = EchoFrame("truncated");
    boost::asio::write(s, boost::asio::buffer(f.data(), cut));
    s.close();
  }
  ExpectServerStillServes();
}

TEST_F(BadInputTest, GarbageEnvelopeClosesConnection) {
  auto s = Connect();
  // A frame whose checksum is right but whose envelope bytes are not a protobuf.
  rpc::Envelope empty;
  std::vector<uint8_t> f;
  ASSERT_TRUE(AppendFrame(f, empty, nullptr, 0, std::nullopt, 1 << 20).ok());
  std::vector<uint8_t> garbage = {0xff, 0xff, 0xff, 0xff, 0x0f};
  // Rebuild by hand: header says envelope = message = 5 garbage bytes.
  f.resize(kFrameHeaderSize);
  f[6] = 5;
  f[7] = 0;
  f[8] = 5;
  f[9] = f[10] = f[11] = 0;
  f.insert(f.end(), garbage.begin(), garbage.end());
  uint32_t crc = Crc32c(f.data(), 20);
  crc = Crc32c(garbage.data(), garbage.size(), crc);
  for (int i = 0; i < 4; ++i) f[20 + i] = static_cast<uint8_t>(crc >> (8 * i));
  boost::asio::write(s, boost::asio::buffer(f));
  EXPECT_TRUE(ClosedByServer(s));
  ExpectServerStillServes();
}

TEST_F(BadInputTest, GarbageBodyGetsAnErrorAndTheConnectionStaysOpen) {
  auto s = Connect();
  rpc::Envelope env;
  env.set_request_id(9);
  env.set_service_id(1);
  env.set_method_id(core::CORE_ECHO);
  core::EchoReq bogus;  // replaced by garbage below
  std::vector<uint8_t> f;
  ASSERT_TRUE(AppendFrame(f, env, &bogus, 0, std::nullopt, 1 << 20).ok());
  // Append an invalid protobuf body (a truncated length-delimited field) and fix the header.
  std::vector<uint8_t> body = {0x0a, 0x7f, 0x01};
  uint32_t env_len = f[6] | f[7] << 8;
  f.insert(f.end(), body.begin(), body.end());
  uint32_t msg_len = env_len + static_cast<uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) f[8 + i] = static_cast<uint8_t>(msg_len >> (8 * i));
  uint32_t crc = Crc32c(f.data(), 20);
  crc = Crc32c(f.data() + kFrameHeaderSize, msg_len, crc);
  for (int i = 0; i < 4; ++i) f[20 + i] = static_cast<uint8_t>(crc >> (8 * i));
  boost::asio::write(s, boost::asio::buffer(f));
  auto rsp = ReadResponse(s);
  ASSERT_TRUE(rsp.ok()) << rsp.status();
  EXPECT_EQ(rsp->request_id(), 9u);
  EXPECT_EQ(StatusCodeFromNumber(rsp->status_code()), StatusCode::kRpcBadMessage);
  // Same connection, next request works.
  boost::asio::write(s, boost::asio::buffer(EchoFrame("next")));
  auto next = ReadResponse(s);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->status_code(), 0u);
}

TEST_F(BadInputTest, UnknownServiceAndMethodGetErrorResponses) {
  auto s = Connect();
  boost::asio::write(s, boost::asio::buffer(EchoFrame("x", 77, 1)));
  auto a = ReadResponse(s);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(StatusCodeFromNumber(a->status_code()), StatusCode::kRpcUnknownService);
  boost::asio::write(s, boost::asio::buffer(EchoFrame("x", 1, 77)));
  auto b = ReadResponse(s);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(StatusCodeFromNumber(b->status_code()), StatusCode::kRpcUnknownMethod);
}

TEST_F(BadInputTest, ResponseFramesSentToAServerAreIgnoredOrRejected) {
  auto s = Connect();
  rpc::Envelope env;
  env.set_request_id(5);
  env.set_is_response(true);
  std::vector<uint8_t> f;
  ASSERT_TRUE(AppendFrame(f, env, nullptr, 0, std::nullopt, 1 << 20).ok());
  boost::asio::write(s, boost::asio::buffer(f));
  // Unknown response ids are dropped; the connection keeps working.
  boost::asio::write(s, boost::asio::buffer(EchoFrame("after")));
  auto r = ReadResponse(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status_code(), 0u);
}

TEST_F(BadInputTest, APeerThatNeverReadsItsAnswersMakesTheServerStopReadingIt) {
  // 200 echo requests of 512 KiB whose 512 KiB answers the peer never reads: once the answers the
  // server holds for the connection reach rpc.max_inflight_bytes_per_connection, it stops reading
  // the peer's requests (TCP back-pressure) instead of queueing answers without limit. Without
  // the bound it would read and answer all 200 (100 MiB queued).
  ASSERT_TRUE(cfg_.rpc.max_inflight_bytes_per_connection.Set(2ull << 20).ok());
  auto* echoes = metrics::Registry::Global().GetCounter(
      "hf3fs_rpc_server_requests_total", "",
      {{"service", "core"}, {"method", "echo"}, {"status", "Ok"}});
  const uint64_t before = echoes->Value();
  tcp::socket s(io_);
  s.open(tcp::v4());
  s.set_option(boost::asio::socket_base::receive_buffer_size(64 << 10));
  s.connect(*server_.address().ToEndpoint());
  auto frame = EchoFrame(std::string(512 << 10, 'a'));
  std::thread writer([&] {
    boost::system::error_code ec;
    for (int i = 0; i < 200 && !ec; ++i) boost::asio::write(s, boost::asio::buffer(frame), ec);
  });
  // Let the server take what it will, until the count stops moving.
  uint64_t last = 0;
  for (int stable = 0; stable < 10;) {
    std::this_thread::sleep_for(200ms);
    uint64_t now = echoes->Value() - before;
    stable = now == last ? stable + 1 : 0;
    last = now;
  }
  // Socket buffers on both sides plus the 2 MiB bound hold a few dozen answers at most.
  EXPECT_GT(last, 0u);
  EXPECT_LT(last, 100u) << "the server kept reading a peer that takes no answers";
  ExpectServerStillServes();
  boost::system::error_code ignored;
  s.shutdown(tcp::socket::shutdown_both, ignored);
  writer.join();
  s.close(ignored);
  ExpectServerStillServes();
}

TEST_F(BadInputTest, RandomBytesNeverCrashTheServer) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 50; ++i) {
    auto s = Connect();
    std::vector<uint8_t> junk(rng() % 200 + 1);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    if (i % 2) {  // sometimes a valid magic, to get past the first check
      junk.resize(std::max<size_t>(junk.size(), 8));
      junk[0] = 'H';
      junk[1] = '3';
      junk[2] = 'F';
      junk[3] = 'S';
      junk[4] = 1;
    }
    boost::system::error_code ec;
    boost::asio::write(s, boost::asio::buffer(junk), ec);
    s.close();
  }
  ExpectServerStillServes();
}

}  // namespace
}  // namespace hf3fs::net
