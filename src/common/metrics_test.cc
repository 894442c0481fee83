#include "common/metrics.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

namespace hf3fs::metrics {
namespace {

TEST(Metrics, CountersGaugesHistogramsRender) {
  Registry r;
  auto* c = r.GetCounter("hf3fs_test_ops_total", "Operations", {{"op", "read"}});
  EXPECT_EQ(c, r.GetCounter("hf3fs_test_ops_total", "Operations", {{"op", "read"}}));
  c->Inc(3);
  r.GetCounter("hf3fs_test_ops_total", "Operations", {{"op", "wr\"ite"}})->Inc();
  r.GetGauge("hf3fs_test_queue_depth", "Depth")->Set(2.5);
  auto* h = r.GetHistogram("hf3fs_test_latency_seconds", "Latency", {}, {0.1, 1});
  h->Observe(0.05);
  h->Observe(0.5);
  h->Observe(5);
  auto text = r.RenderPrometheus();
  EXPECT_NE(text.find("# TYPE hf3fs_test_ops_total counter"), std::string::npos) << text;
  EXPECT_NE(text.find("hf3fs_test_ops_total{op=\"read\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("hf3fs_test_ops_total{op=\"wr\\\"ite\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("hf3fs_test_queue_depth 2.5\n"), std::string::npos);
  EXPECT_NE(text.find("hf3fs_test_latency_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("hf3fs_test_latency_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("hf3fs_test_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("hf3fs_test_latency_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(text.find("hf3fs_test_latency_seconds_sum 5.55\n"), std::string::npos);
}

TEST(Metrics, CallbacksComputeAtScrapeAndUnregister) {
  Registry r;
  double v = 7;
  {
    auto handle = r.AddCallback("hf3fs_test_open_things", "Things", Type::kGauge, {},
                                [&] { return v; });
    EXPECT_NE(r.RenderPrometheus().find("hf3fs_test_open_things 7\n"), std::string::npos);
    v = 8;
    EXPECT_NE(r.RenderPrometheus().find("hf3fs_test_open_things 8\n"), std::string::npos);
  }
  EXPECT_EQ(r.RenderPrometheus().find("hf3fs_test_open_things"), std::string::npos);
}

TEST(Metrics, ConcurrentUpdatesAreExact) {
  Registry r;
  auto* c = r.GetCounter("hf3fs_test_hits_total", "Hits");
  auto* h = r.GetHistogram("hf3fs_test_size_bytes", "Sizes", {}, SizeBucketsBytes());
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        c->Inc();
        h->Observe(4096);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(c->Value(), 400000u);
  EXPECT_EQ(h->Take().count, 400000u);
}

TEST(MetricsDeathTest, NameUsedWithTwoTypesIsABug) {
  Registry r;
  r.GetCounter("hf3fs_test_x_total", "x");
  EXPECT_DEATH(r.GetGauge("hf3fs_test_x_total", "x"), "two types");
  EXPECT_DEATH(r.GetGauge("bad-name", "x"), "invalid metric name");
}

// The exposition must satisfy Prometheus's own linter.
TEST(Metrics, PromtoolAcceptsExposition) {
  Registry r;
  r.GetCounter("hf3fs_test_requests_total", "Requests handled", {{"method", "echo"}})->Inc();
  r.GetGauge("hf3fs_test_connections", "Open connections")->Set(3);
  r.GetHistogram("hf3fs_test_latency_seconds", "Latency")->Observe(0.002);
  auto path = testing::TempDir() + "/metrics.txt";
  std::ofstream(path) << r.RenderPrometheus();
  std::string cmd = "promtool check metrics < " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int rc = pclose(p);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << out;
}

}  // namespace
}  // namespace hf3fs::metrics
