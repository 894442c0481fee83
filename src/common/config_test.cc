#include "common/config.h"

#include <gtest/gtest.h>

#include <toml++/toml.h>

#include <atomic>
#include <fstream>
#include <thread>

namespace hf3fs::config {
namespace {

using namespace std::chrono_literals;

struct NetSection : Section {
  using Section::Section;
  Item<uint64_t> max_frame{this, "max_frame", 1 << 20, "largest frame",
                           {.min = 4096, .max = 64 << 20, .hot = true, .size = true}};
  Item<Duration> timeout{this, "timeout", 5s, "call timeout", {.min = Duration(1ms)}};
  Item<std::vector<std::string>> peers{this, "peers", {}, "peer addresses"};
};

struct TestConfig : Section {
  TestConfig() : Section("test root") {}
  Item<std::string> name{this, "name", "node", "node name"};
  Item<bool> verbose{this, "verbose", false, "chatty", {.hot = true}};
  Item<double> ratio{this, "ratio", 0.5, "a ratio", {.min = 0.0, .max = 1.0}};
  Item<int64_t> offset{this, "offset", -3, "signed"};
  Item<std::string> mode{this, "mode", "fast", "mode", {.one_of = {"fast", "safe"}}};
  NetSection net{this, "net", "network"};
};

TEST(Config, DefaultsApplyWithoutFile) {
  TestConfig c;
  EXPECT_EQ(c.name.Get(), "node");
  EXPECT_EQ(c.net.max_frame.Get(), 1u << 20);
  EXPECT_EQ(c.net.timeout.Get(), 5s);
  EXPECT_EQ(c.net.max_frame.Path(), "net.max_frame");
}

TEST(Config, LoadsTypedValuesWithUnits) {
  TestConfig c;
  auto st = c.LoadString(R"(
    name = "alpha"
    ratio = 1
    offset = -10
    [net]
    max_frame = "8MiB"
    timeout = "250ms"
    peers = ["a:1", "b:2"]
  )");
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(c.name.Get(), "alpha");
  EXPECT_EQ(c.ratio.Get(), 1.0);
  EXPECT_EQ(c.offset.Get(), -10);
  EXPECT_EQ(c.net.max_frame.Get(), 8u << 20);
  EXPECT_EQ(c.net.timeout.Get(), 250ms);
  EXPECT_EQ(c.net.peers.Get(), (std::vector<std::string>{"a:1", "b:2"}));
}

TEST(Config, UnknownKeyIsAnErrorWithItsPath) {
  TestConfig c;
  auto st = c.LoadString("[net]\nmax_fram = 5\n");
  EXPECT_EQ(st.code(), StatusCode::kConfigUnknownKey);
  EXPECT_NE(st.message().find("'net.max_fram'"), std::string::npos) << st;
  EXPECT_NE(st.message().find("max_frame"), std::string::npos) << st;  // lists the known keys
  EXPECT_EQ(c.LoadString("[nett]\n").code(), StatusCode::kConfigUnknownKey);
}

TEST(Config, RangeTypeAndChoiceErrorsLeaveEverythingUnchanged) {
  TestConfig c;
  // The valid name must not be applied, because a later value fails.
  auto st = c.LoadString("name = \"beta\"\n[net]\nmax_frame = \"1KiB\"\n");
  EXPECT_EQ(st.code(), StatusCode::kConfigInvalid);
  EXPECT_NE(st.message().find("below the minimum"), std::string::npos) << st;
  EXPECT_EQ(c.name.Get(), "node");
  EXPECT_EQ(c.LoadString("ratio = 1.5").code(), StatusCode::kConfigInvalid);
  EXPECT_EQ(c.LoadString("name = 3").code(), StatusCode::kConfigInvalid);
  EXPECT_EQ(c.LoadString("mode = \"reckless\"").code(), StatusCode::kConfigInvalid);
  EXPECT_EQ(c.LoadString("[net]\ntimeout = 5").code(), StatusCode::kConfigInvalid);
  EXPECT_EQ(c.LoadString("this is not toml").code(), StatusCode::kConfigInvalid);
}

TEST(Config, CommandLineOverridesAfterFile) {
  TestConfig c;
  ASSERT_TRUE(c.LoadString("name = \"file\"").ok());
  const char* argv[] = {"hf3fs", "--config.name=cli", "--other", "--config.net.timeout", "2s",
                        "--config.verbose=true"};
  auto split = SplitConfigOverrides(6, argv);
  EXPECT_EQ(split.rest, (std::vector<std::string>{"hf3fs", "--other"}));
  ASSERT_TRUE(c.ApplyOverrides(split.overrides).ok());
  EXPECT_EQ(c.name.Get(), "cli");
  EXPECT_EQ(c.net.timeout.Get(), 2s);
  EXPECT_TRUE(c.verbose.Get());
  EXPECT_EQ(c.ApplyOverrides({"net.nope=1"}).code(), StatusCode::kConfigUnknownKey);
  EXPECT_EQ(c.ApplyOverrides({"net.timeout"}).code(), StatusCode::kConfigInvalid);
}

TEST(Config, DumpDefaultIsLoadableAndDocumented) {
  TestConfig c;
  auto text = c.Render(true);
  EXPECT_NE(text.find("# largest frame (default \"1MiB\", min \"4KiB\", max \"64MiB\", "
                      "hot-updatable)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("[net]"), std::string::npos);
  TestConfig d;
  ASSERT_TRUE(d.LoadString(text).ok()) << d.LoadString(text);
  EXPECT_EQ(d.Render(false), c.Render(false));
}

TEST(Config, LoadFileReportsMissingFile) {
  TestConfig c;
  EXPECT_EQ(c.LoadFile("/nonexistent/hf3fs.toml").code(), StatusCode::kIoError);
  auto path = testing::TempDir() + "/cfg.toml";
  std::ofstream(path) << "name = \"from-file\"\n";
  ASSERT_TRUE(c.LoadFile(path).ok());
  EXPECT_EQ(c.name.Get(), "from-file");
}

TEST(Config, HotUpdateChangesOnlyHotItemsAndFiresCallbacks) {
  TestConfig c;
  std::atomic<uint64_t> seen{0};
  c.net.max_frame.OnChange([&](const uint64_t& v) { seen = v; });
  ASSERT_TRUE(c.HotUpdate("[net]\nmax_frame = \"2MiB\"\n").ok());
  EXPECT_EQ(c.net.max_frame.Get(), 2u << 20);
  EXPECT_EQ(seen.load(), 2u << 20);
  // Restating a frozen item's current value is fine; changing it is refused as a whole.
  EXPECT_TRUE(c.HotUpdate("name = \"node\"\nverbose = true\n").ok());
  EXPECT_TRUE(c.verbose.Get());
  auto st = c.HotUpdate("name = \"x\"\nverbose = false\n");
  EXPECT_EQ(st.code(), StatusCode::kConfigNotHotUpdatable);
  EXPECT_NE(st.message().find("name"), std::string::npos);
  EXPECT_TRUE(c.verbose.Get());
  EXPECT_EQ(c.HotUpdateKey("net.timeout", "1s").code(), StatusCode::kConfigNotHotUpdatable);
  EXPECT_TRUE(c.HotUpdateKey("net.max_frame", "4MiB").ok());
  EXPECT_EQ(c.net.max_frame.Get(), 4u << 20);
}

TEST(Config, ReadersSeeConsistentValuesDuringHotUpdates) {
  TestConfig c;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      auto v = c.net.max_frame.Get();
      ASSERT_TRUE(v == (1u << 20) || v == (2u << 20));
    }
  });
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(c.HotUpdateKey("net.max_frame", i % 2 ? "1MiB" : "2MiB").ok());
  }
  stop = true;
  reader.join();
}

}  // namespace
}  // namespace hf3fs::config
