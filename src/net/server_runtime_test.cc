#include "net/server_runtime.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <future>

#include "common/logging.h"
#include "core.pb.h"
#include "net/rpc_client.h"
#include "net/test_util.h"
#include "rpc.pb.h"

namespace hf3fs::net {
namespace {

using testing::HttpBody;
using testing::HttpExchange;
using testing::RunSync;

struct TestServerConfig : config::Section {
  TestServerConfig() : Section("test server") {}
  LogConfig log{this, "log", "logging"};
  RpcConfig rpc{this, "rpc", "rpc"};
  ServerSection server{this, "server", "127.0.0.1:0", "127.0.0.1:0"};
};

class ServerRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = runtime_.Start();
    ASSERT_TRUE(st.ok()) << st;
    client_pool_.Start();
  }
  void TearDown() override {
    client_.CloseAll();
    client_pool_.Stop();
    runtime_.Stop();
    ASSERT_TRUE(logging::Init({}).ok());
  }

  template <typename Rsp, typename Req>
  Result<Rsp> Core(uint32_t method, const Req& req) {
    return RunSync(client_pool_.Get(0), [&]() -> awaitable<Result<Rsp>> {
      co_return co_await client_.Call<Rsp>(runtime_.rpc_address(), rpc::SERVICE_CORE, method,
                                           req);
    });
  }

  TestServerConfig cfg_;
  ServerRuntime runtime_{"testrole", cfg_, cfg_.log, cfg_.rpc, cfg_.server};
  IoContextPool client_pool_{1, "cli"};
  RpcClient client_{client_pool_, cfg_.rpc};
};

TEST_F(ServerRuntimeTest, CoreServiceAnswersEchoInfoAndConfig) {
  core::EchoReq echo;
  echo.set_text("ping");
  EXPECT_EQ(Core<core::EchoRsp>(core::CORE_ECHO, echo)->text(), "ping");
  auto info = Core<core::GetInfoRsp>(core::CORE_GET_INFO, core::GetInfoReq());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->role(), "testrole");
  EXPECT_EQ(info->pid(), static_cast<uint32_t>(getpid()));
  EXPECT_EQ(info->rpc_address(), runtime_.rpc_address().ToString());
  auto conf = Core<core::GetConfigRsp>(core::CORE_GET_CONFIG, core::GetConfigReq());
  ASSERT_TRUE(conf.ok());
  EXPECT_NE(conf->toml().find("[rpc]"), std::string::npos);
  EXPECT_NE(conf->toml().find("max_frame_bytes = \"65MiB\""), std::string::npos) << conf->toml();
}

TEST_F(ServerRuntimeTest, HotUpdateChangesRunningConfigWithoutRestart) {
  core::HotUpdateConfigReq req;
  req.set_toml("[log]\nlevel = \"debug\"\n[rpc]\nmax_frame_bytes = \"16MiB\"\n");
  auto r = Core<core::HotUpdateConfigRsp>(core::CORE_HOT_UPDATE_CONFIG, req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(logging::GetLevel(), "debug");
  EXPECT_EQ(cfg_.rpc.max_frame_bytes.Get(), 16u << 20);
  EXPECT_NE(r->toml().find("max_frame_bytes = \"16MiB\""), std::string::npos);

  core::HotUpdateConfigReq frozen;
  frozen.set_key("server.listen");
  frozen.set_value("127.0.0.1:1");
  EXPECT_EQ(Core<core::HotUpdateConfigRsp>(core::CORE_HOT_UPDATE_CONFIG, frozen).status().code(),
            StatusCode::kConfigNotHotUpdatable);
  core::HotUpdateConfigReq unknown;
  unknown.set_key("rpc.no_such_key");
  unknown.set_value("1");
  EXPECT_EQ(Core<core::HotUpdateConfigRsp>(core::CORE_HOT_UPDATE_CONFIG, unknown).status().code(),
            StatusCode::kConfigUnknownKey);
}

TEST_F(ServerRuntimeTest, SetLogLevelAtRunTime) {
  core::SetLogLevelReq req;
  req.set_level("warn");
  auto r = Core<core::SetLogLevelRsp>(core::CORE_SET_LOG_LEVEL, req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(logging::GetLevel(), "warning");
  req.set_level("shouting");
  EXPECT_EQ(Core<core::SetLogLevelRsp>(core::CORE_SET_LOG_LEVEL, req).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ServerRuntimeTest, MetricsEndpointPassesPromtool) {
  core::EchoReq echo;
  ASSERT_TRUE(Core<core::EchoRsp>(core::CORE_ECHO, echo).ok());
  auto rsp = HttpExchange(runtime_.http_address(), "GET /metrics HTTP/1.1");
  auto body = HttpBody(rsp);
  EXPECT_NE(body.find("hf3fs_rpc_server_requests_total{service=\"core\",method=\"echo\","
                      "status=\"Ok\"}"),
            std::string::npos)
      << body;
  auto path = ::testing::TempDir() + "/server_metrics.txt";
  std::ofstream(path) << body;
  FILE* p = popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_EQ(HttpBody(HttpExchange(runtime_.http_address(), "GET /healthz HTTP/1.1")), "ok\n");
}

TEST_F(ServerRuntimeTest, ShutdownRpcRequestsAGracefulStop) {
  auto waiter = std::async(std::launch::async, [&] { return runtime_.WaitForStopRequest(); });
  core::ShutdownReq req;
  req.set_reason("test shutdown");
  ASSERT_TRUE(Core<core::ShutdownRsp>(core::CORE_SHUTDOWN, req).ok());
  EXPECT_EQ(waiter.get(), "test shutdown");
  // While stopping, /healthz reports unhealthy so load balancers move away.
  EXPECT_TRUE(
      HttpExchange(runtime_.http_address(), "GET /healthz HTTP/1.1").starts_with("HTTP/1.1 503"));
  runtime_.Stop();
}

TEST_F(ServerRuntimeTest, SigtermRequestsAGracefulStop) {
  auto waiter = std::async(std::launch::async, [&] { return runtime_.WaitForStopRequest(); });
  std::raise(SIGTERM);
  EXPECT_EQ(waiter.get(), "SIGTERM");
}

TEST(ServerRuntimeStart, AddressInUseIsAClearError) {
  TestServerConfig a, b;
  ServerRuntime first("a", a, a.log, a.rpc, a.server);
  ASSERT_TRUE(first.Start().ok());
  ASSERT_TRUE(b.server.listen.Set(first.rpc_address().ToString()).ok());
  ServerRuntime second("b", b, b.log, b.rpc, b.server);
  auto st = second.Start();
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_NE(st.message().find("cannot listen on"), std::string::npos) << st;
}

}  // namespace
}  // namespace hf3fs::net
