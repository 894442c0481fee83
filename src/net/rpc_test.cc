#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "core.pb.h"
#include "net/core_service.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"
#include "net/test_util.h"
#include "rpc.pb.h"

namespace hf3fs::net {
namespace {

using namespace std::chrono_literals;
using testing::RunSync;

constexpr uint32_t kTestService = 200;
enum TestMethod : uint32_t { kSleep = 1, kFail = 2, kThrow = 3, kBlob = 4 };

struct RootConfig : config::Section {
  RpcConfig rpc{this, "rpc"};
};

// A server with Core plus a test service, and a client, each on its own io pool.
class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core_ = std::make_unique<CoreService>(&cfg_, [](std::string) {}, [] { return ServerInfo{}; });
    core_->Register(registry_);
    RegisterTestService();
    server_pool_.Start();
    client_pool_.Start();
    StartServer(Address{"127.0.0.1", 0});
    client_ = std::make_unique<RpcClient>(client_pool_, cfg_.rpc, 42);
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop();
    server_pool_.Stop();
    client_pool_.Stop();
  }

  void StartServer(Address bind) {
    server_ = std::make_unique<RpcServer>(server_pool_, cfg_.rpc, registry_);
    auto st = server_->Start(bind);
    ASSERT_TRUE(st.ok()) << st;
    addr_ = server_->address();
  }

  void RegisterTestService() {
    registry_.RegisterMethod<core::EchoReq, core::EchoRsp>(
        kTestService, kSleep, "test", "sleep",
        [this](const core::EchoReq& req, core::EchoRsp& rsp, RequestContext&) -> awaitable<Status> {
          int now = ++running_;
          int prev = max_running_.load();
          while (now > prev && !max_running_.compare_exchange_weak(prev, now)) {
          }
          boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
          t.expires_after(std::chrono::milliseconds(std::stoi(req.text())));
          co_await t.async_wait(boost::asio::use_awaitable);
          --running_;
          rsp.set_text(req.text());
          co_return Status::Ok();
        });
    registry_.RegisterMethod<core::EchoReq, core::EchoRsp>(
        kTestService, kFail, "test", "fail",
        [](const core::EchoReq&, core::EchoRsp&, RequestContext&) -> awaitable<Status> {
          co_return Status(StatusCode::kNotFound, "nothing here");
        });
    registry_.RegisterMethod<core::EchoReq, core::EchoRsp>(
        kTestService, kThrow, "test", "throw",
        [](const core::EchoReq&, core::EchoRsp&, RequestContext&) -> awaitable<Status> {
          throw std::runtime_error("boom");
          co_return Status::Ok();
        });
    registry_.RegisterMethod<core::EchoReq, core::EchoRsp>(
        kTestService, kBlob, "test", "blob",
        [](const core::EchoReq& req, core::EchoRsp&, RequestContext& ctx) -> awaitable<Status> {
          size_t n = std::stoul(req.text());
          ctx.response_buffer.resize(n);
          for (size_t i = 0; i < n; ++i) ctx.response_buffer[i] = static_cast<uint8_t>(i * 7);
          ctx.response_attachment.emplace_back(ctx.response_buffer);
          co_return Status::Ok();
        });
  }

  Result<core::EchoRsp> Call(uint32_t service, uint32_t method, std::string text,
                             CallOptions opts = {}) {
    return RunSync(client_pool_.Get(0), [&]() -> awaitable<Result<core::EchoRsp>> {
      core::EchoReq req;
      req.set_text(text);
      co_return co_await client_->Call<core::EchoRsp>(addr_, service, method, req, opts);
    });
  }

  RootConfig cfg_;
  ServiceRegistry registry_;
  std::unique_ptr<CoreService> core_;
  IoContextPool server_pool_{2, "srv"};
  IoContextPool client_pool_{1, "cli"};
  std::unique_ptr<RpcServer> server_;
  std::unique_ptr<RpcClient> client_;
  Address addr_;
  std::atomic<int> running_{0};
  std::atomic<int> max_running_{0};
};

TEST_F(RpcTest, EchoRoundTrip) {
  auto r = Call(rpc::SERVICE_CORE, core::CORE_ECHO, "hello");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text(), "hello");
}

TEST_F(RpcTest, AttachmentsTravelBothWaysWithoutCopiesIntoTheCallerBuffer) {
  std::vector<uint8_t> a(700 << 10), b(400 << 10);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 3);
  std::vector<uint8_t> recv(2 << 20);
  size_t got = 0;
  CallOptions opts;
  opts.attachment = {a, b};
  opts.recv_buffer = recv;
  opts.attachment_bytes = &got;
  auto r = Call(rpc::SERVICE_CORE, core::CORE_ECHO, "data", opts);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(got, a.size() + b.size());
  EXPECT_TRUE(std::equal(a.begin(), a.end(), recv.begin()));
  EXPECT_TRUE(std::equal(b.begin(), b.end(), recv.begin() + a.size()));
}

TEST_F(RpcTest, AttachmentChecksumWhenEnabled) {
  ASSERT_TRUE(cfg_.rpc.attachment_checksum.Set(true).ok());
  std::vector<uint8_t> out;
  CallOptions opts;
  opts.attachment_out = &out;
  auto r = Call(kTestService, kBlob, "100000", opts);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(out.size(), 100000u);
  EXPECT_EQ(out[99999], static_cast<uint8_t>(99999 * 7));
}

TEST_F(RpcTest, TooSmallReceiveBufferIsAnErrorAndTheConnectionSurvives) {
  std::vector<uint8_t> small(10);
  CallOptions opts;
  opts.recv_buffer = small;
  auto r = Call(kTestService, kBlob, "5000", opts);
  EXPECT_EQ(r.status().code(), StatusCode::kRpcAttachmentTooLarge);
  EXPECT_TRUE(Call(rpc::SERVICE_CORE, core::CORE_ECHO, "still here").ok());
}

TEST_F(RpcTest, ManyPipelinedCallsOnOneConnection) {
  constexpr int kCalls = 2000;
  std::atomic<int> ok{0};
  auto done = RunSync(client_pool_.Get(0), [&]() -> awaitable<int> {
    auto ex = co_await boost::asio::this_coro::executor;
    for (int i = 0; i < kCalls; ++i) {
      boost::asio::co_spawn(
          ex,
          [&, i]() -> awaitable<void> {
            core::EchoReq req;
            req.set_text(std::to_string(i));
            auto r = co_await client_->Call<core::EchoRsp>(addr_, rpc::SERVICE_CORE,
                                                           core::CORE_ECHO, req);
            if (r.ok() && r->text() == std::to_string(i)) ++ok;
          },
          boost::asio::detached);
    }
    co_return kCalls;
  });
  for (int i = 0; i < 500 && ok < done; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(ok.load(), kCalls);
}

TEST_F(RpcTest, ResponsesCompleteOutOfOrder) {
  std::vector<std::string> order;
  std::mutex mu;
  auto slow = std::async(std::launch::async, [&] {
    auto r = Call(kTestService, kSleep, "300");
    std::lock_guard l(mu);
    order.push_back(r.ok() ? "slow" : "slow-failed");
  });
  std::this_thread::sleep_for(50ms);
  auto r = Call(kTestService, kSleep, "1");
  {
    std::lock_guard l(mu);
    order.push_back(r.ok() ? "fast" : "fast-failed");
  }
  slow.get();
  EXPECT_EQ(order, (std::vector<std::string>{"fast", "slow"}));
}

TEST_F(RpcTest, DeadlineFailsTheCallAndTheConnectionKeepsWorking) {
  CallOptions opts;
  opts.timeout = 50ms;
  auto start = std::chrono::steady_clock::now();
  auto r = Call(kTestService, kSleep, "1000", opts);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), StatusCode::kRpcTimeout);
  EXPECT_TRUE(r.status().retryable());
  EXPECT_LT(took, 500ms);
  EXPECT_TRUE(Call(rpc::SERVICE_CORE, core::CORE_ECHO, "after").ok());
}

TEST_F(RpcTest, UnknownServiceAndMethodAreErrorsNotDisconnects) {
  EXPECT_EQ(Call(999, 1, "x").status().code(), StatusCode::kRpcUnknownService);
  EXPECT_EQ(Call(rpc::SERVICE_CORE, 999, "x").status().code(), StatusCode::kRpcUnknownMethod);
  EXPECT_TRUE(Call(rpc::SERVICE_CORE, core::CORE_ECHO, "x").ok());
}

TEST_F(RpcTest, HandlerStatusAndExceptionsReachTheCaller) {
  auto r = Call(kTestService, kFail, "");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "nothing here");
  auto t = Call(kTestService, kThrow, "");
  EXPECT_EQ(t.status().code(), StatusCode::kInternal);
  EXPECT_NE(t.status().message().find("boom"), std::string::npos);
}

TEST_F(RpcTest, DisconnectFailsPendingCallsWithRetryableError) {
  auto pending = std::async(std::launch::async, [&] { return Call(kTestService, kSleep, "2000"); });
  std::this_thread::sleep_for(100ms);
  client_->Disconnect(addr_);
  auto r = pending.get();
  EXPECT_EQ(r.status().code(), StatusCode::kRpcConnectionLost);
  EXPECT_TRUE(r.status().retryable());
  EXPECT_TRUE(Call(rpc::SERVICE_CORE, core::CORE_ECHO, "reconnected").ok());
}

TEST_F(RpcTest, ConnectFailureBacksOffThenReconnects) {
  ASSERT_TRUE(cfg_.rpc.reconnect_backoff_min.Set(300ms).ok());
  auto port = addr_.port;
  server_->Stop();
  server_.reset();
  auto r1 = Call(rpc::SERVICE_CORE, core::CORE_ECHO, "x");
  EXPECT_EQ(r1.status().code(), StatusCode::kRpcConnectFailed) << r1.status();
  auto r2 = Call(rpc::SERVICE_CORE, core::CORE_ECHO, "x");
  EXPECT_EQ(r2.status().code(), StatusCode::kRpcConnectFailed);
  EXPECT_NE(r2.status().message().find("next attempt in"), std::string::npos) << r2.status();
  StartServer(Address{"127.0.0.1", port});
  std::this_thread::sleep_for(350ms);
  auto r3 = Call(rpc::SERVICE_CORE, core::CORE_ECHO, "back");
  ASSERT_TRUE(r3.ok()) << r3.status();
}

TEST_F(RpcTest, OversizedFramesAreRefusedOnBothSides) {
  std::vector<uint8_t> big(2 << 20);
  CallOptions opts;
  opts.attachment = {big};
  ASSERT_TRUE(cfg_.rpc.max_frame_bytes.Set(1 << 20).ok());
  // The sender refuses before sending.
  EXPECT_EQ(Call(rpc::SERVICE_CORE, core::CORE_ECHO, "x", opts).status().code(),
            StatusCode::kRpcFrameTooLarge);
  // A server with a smaller limit than its client closes the connection.
  RootConfig client_cfg;
  ASSERT_TRUE(client_cfg.rpc.max_frame_bytes.Set(8 << 20).ok());
  RpcClient big_client(client_pool_, client_cfg.rpc);
  auto r = RunSync(client_pool_.Get(0), [&]() -> awaitable<Result<core::EchoRsp>> {
    core::EchoReq req;
    co_return co_await big_client.Call<core::EchoRsp>(addr_, rpc::SERVICE_CORE, core::CORE_ECHO,
                                                      req, opts);
  });
  EXPECT_EQ(r.status().code(), StatusCode::kRpcConnectionLost) << r.status();
  EXPECT_TRUE(Call(rpc::SERVICE_CORE, core::CORE_ECHO, "fine").ok());
}

TEST_F(RpcTest, GracefulStopFinishesInFlightCalls) {
  auto pending = std::async(std::launch::async, [&] { return Call(kTestService, kSleep, "300"); });
  std::this_thread::sleep_for(100ms);
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  auto r = pending.get();
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(server_->connection_count(), 0u);
}

TEST_F(RpcTest, StopClosesCallsThatOutlastTheDrainTimeout) {
  ASSERT_TRUE(cfg_.rpc.drain_timeout.Set(100ms).ok());
  auto pending = std::async(std::launch::async, [&] { return Call(kTestService, kSleep, "3000"); });
  std::this_thread::sleep_for(100ms);
  server_->Stop();
  auto r = pending.get();
  EXPECT_EQ(r.status().code(), StatusCode::kRpcConnectionLost) << r.status();
}

TEST_F(RpcTest, InflightLimitPerConnectionIsEnforced) {
  ASSERT_TRUE(cfg_.rpc.max_inflight_per_connection.Set(2).ok());
  std::vector<std::future<Result<core::EchoRsp>>> futs;
  for (int i = 0; i < 8; ++i) {
    futs.push_back(std::async(std::launch::async, [&] { return Call(kTestService, kSleep, "50"); }));
  }
  for (auto& f : futs) EXPECT_TRUE(f.get().ok());
  EXPECT_EQ(max_running_.load(), 2);
}

TEST_F(RpcTest, InflightBytesPerConnectionAreBounded) {
  // 8 calls of 1 MiB each on one connection, 2.5 MiB allowed: at most 3 run at once (the reader
  // stops once the bytes held reach the bound), and all complete.
  ASSERT_TRUE(cfg_.rpc.max_inflight_bytes_per_connection.Set((5ull << 20) / 2).ok());
  std::vector<uint8_t> payload(1 << 20, 7);
  std::vector<std::future<Result<core::EchoRsp>>> futs;
  for (int i = 0; i < 8; ++i) {
    futs.push_back(std::async(std::launch::async, [&] {
      CallOptions o;
      o.attachment = {payload};
      return Call(kTestService, kSleep, "50", o);
    }));
  }
  for (auto& f : futs) EXPECT_TRUE(f.get().ok());
  EXPECT_GE(max_running_.load(), 1);
  EXPECT_LE(max_running_.load(), 3);
  // One request larger than the bound still runs (alone).
  std::vector<uint8_t> big(4 << 20, 1);
  CallOptions o;
  o.attachment = {big};
  EXPECT_TRUE(Call(kTestService, kSleep, "1", o).ok());
}

TEST_F(RpcTest, ConnectionsBeyondTheLimitAreClosedAndTheOthersServed) {
  ASSERT_TRUE(cfg_.rpc.max_connections.Set(2).ok());
  ASSERT_TRUE(Call(kTestService, kSleep, "1").ok());  // connection 1: the fixture's client
  boost::asio::io_context io;
  auto ep = *addr_.ToEndpoint();
  boost::asio::ip::tcp::socket second(io), third(io);
  second.connect(ep);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // accepted before the third
  third.connect(ep);
  uint8_t byte;
  boost::system::error_code ec;
  third.read_some(boost::asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec) << "the connection over the limit stayed open";
  EXPECT_TRUE(Call(kTestService, kSleep, "1").ok());
  EXPECT_EQ(server_->connection_count(), 2u);
}

}  // namespace
}  // namespace hf3fs::net
