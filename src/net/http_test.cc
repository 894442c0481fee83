#include "net/http_server.h"

#include <gtest/gtest.h>

#include "common/metrics.h"
#include "net/io_context_pool.h"
#include "net/test_util.h"

namespace hf3fs::net {
namespace {

using testing::HttpBody;
using testing::HttpExchange;

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_.Start();
    server_ = std::make_unique<HttpServer>(pool_.Get(0));
    server_->AddDefaultRoutes([this] { return healthy_.load(); });
    server_->Route("/hello", [](const HttpRequest& r) {
      return HttpResponse{200, "text/plain", "hi " + r.query};
    });
    auto st = server_->Start(Address{"127.0.0.1", 0});
    ASSERT_TRUE(st.ok()) << st;
  }
  void TearDown() override {
    server_->Stop();
    pool_.Stop();
  }
  IoContextPool pool_{1, "http"};
  std::unique_ptr<HttpServer> server_;
  std::atomic<bool> healthy_{true};
};

TEST_F(HttpTest, ServesMetricsInPrometheusFormat) {
  metrics::Registry::Global().GetCounter("hf3fs_http_test_hits_total", "Test hits")->Inc(5);
  auto rsp = HttpExchange(server_->address(), "GET /metrics HTTP/1.1");
  EXPECT_TRUE(rsp.starts_with("HTTP/1.1 200")) << rsp;
  EXPECT_NE(rsp.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(HttpBody(rsp).find("hf3fs_http_test_hits_total 5\n"), std::string::npos);
}

TEST_F(HttpTest, HealthzFollowsTheHealthCallback) {
  EXPECT_EQ(HttpBody(HttpExchange(server_->address(), "GET /healthz HTTP/1.1")), "ok\n");
  healthy_ = false;
  EXPECT_TRUE(HttpExchange(server_->address(), "GET /healthz HTTP/1.1").starts_with("HTTP/1.1 503"));
}

TEST_F(HttpTest, RoutesQueriesAndErrors) {
  EXPECT_EQ(HttpBody(HttpExchange(server_->address(), "GET /hello?x=1 HTTP/1.1")), "hi x=1");
  EXPECT_TRUE(HttpExchange(server_->address(), "GET /nope HTTP/1.1").starts_with("HTTP/1.1 404"));
  EXPECT_TRUE(
      HttpExchange(server_->address(), "POST /hello HTTP/1.1", "Content-Length: 0\r\n")
          .starts_with("HTTP/1.1 405"));
  EXPECT_TRUE(HttpExchange(server_->address(), "NONSENSE").starts_with("HTTP/1.1 400"));
  // Still serving after the bad requests.
  EXPECT_EQ(HttpBody(HttpExchange(server_->address(), "GET /healthz HTTP/1.1")), "ok\n");
}

}  // namespace
}  // namespace hf3fs::net
