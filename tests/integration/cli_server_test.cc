// The hf3fs binary as a user runs it: help, config dump/load/overrides, a server process serving
// a client in another process, graceful stop on SIGTERM.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <thread>

#include "net/test_util.h"
#include "tests/integration/process.h"

namespace hf3fs::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBin = HF3FS_BINARY;

std::string Dir() { return ::testing::TempDir(); }

TEST(Cli, HelpListsCommandsAndEveryCommandHasHelp) {
  auto r = RunCommand({kBin, "--help"}, Dir());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("bench"), std::string::npos) << r.out;
  for (auto cmd : {std::vector<std::string>{kBin, "bench", "--help"},
                   {kBin, "bench", "rpc", "--help"},
                   {kBin, "bench", "rpc-server", "--help"}}) {
    auto h = RunCommand(cmd, Dir());
    EXPECT_EQ(h.exit_code, 0) << cmd[1];
    EXPECT_NE(h.out.find("Usage:"), std::string::npos);
  }
  auto bad = RunCommand({kBin, "no-such-command"}, Dir());
  EXPECT_NE(bad.exit_code, 0);
}

TEST(Cli, DumpedDefaultConfigLoadsBackAndBadKeysAreRefused) {
  auto dump = RunCommand({kBin, "bench", "rpc-server", "--dump-default-config"}, Dir());
  ASSERT_EQ(dump.exit_code, 0);
  EXPECT_NE(dump.out.find("[rpc]"), std::string::npos);
  auto path = Dir() + "/rpc-server.toml";
  std::ofstream(path) << dump.out;
  // A config with a typo fails fast with the key's path and exit code 2.
  auto typo = Dir() + "/typo.toml";
  std::ofstream(typo) << "[rpc]\nio_thread = 3\n";
  auto r = RunCommand({kBin, "bench", "rpc-server", "-c", typo}, Dir(), 10s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("rpc.io_thread"), std::string::npos) << r.err;
  auto o = RunCommand({kBin, "bench", "rpc-server", "-c", path, "--config.rpc.io_threads=0"},
                      Dir(), 10s);
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.err.find("below the minimum"), std::string::npos) << o.err;
}

TEST(Cli, ServerProcessServesClientsAndStopsOnSigterm) {
  int port = FreePort(), http = FreePort();
  Process server({kBin, "bench", "rpc-server",
                  "--config.server.listen=127.0.0.1:" + std::to_string(port),
                  "--config.server.http_listen=127.0.0.1:" + std::to_string(http)},
                 Dir());
  // Wait until it answers on HTTP.
  std::string health;
  for (int i = 0; i < 200 && health != "ok\n"; ++i) {
    std::this_thread::sleep_for(20ms);
    try {
      health = net::testing::HttpBody(net::testing::HttpExchange(
          net::Address{"127.0.0.1", static_cast<uint16_t>(http)}, "GET /healthz HTTP/1.1"));
    } catch (const std::exception&) {
    }
  }
  ASSERT_EQ(health, "ok\n") << server.Stderr();
  auto client = RunCommand({kBin, "bench", "rpc", "--json", "--seconds", "0.3", "--connect",
                            "127.0.0.1:" + std::to_string(port)},
                           Dir());
  ASSERT_EQ(client.exit_code, 0) << client.err;
  auto j = nlohmann::json::parse(client.out);
  EXPECT_EQ(j["errors"], 0);
  EXPECT_GT(j["small_rpc_per_s"].get<double>(), 100);
  EXPECT_GT(j["bulk_mib_s"].get<double>(), 10);
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(10s), 0) << server.Stderr();
  EXPECT_NE(server.Stderr().find("server.stopped"), std::string::npos);
}

TEST(Cli, ClientReportsAnUnreachableServerClearly) {
  int port = FreePort();
  auto r = RunCommand({kBin, "bench", "rpc", "--json", "--seconds", "0.2", "--connect",
                       "127.0.0.1:" + std::to_string(port)},
                      Dir());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("connect to 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace hf3fs::testing
