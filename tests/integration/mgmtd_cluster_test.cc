// A real mgmtd process (embedded RocksDB store) driven by the admin CLI and by heartbeat clients in
// this process: bootstrap a cluster from generated placement files, watch chains follow node
// failures and returns, restart mgmtd with kill -9 and find the state intact.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "client/heartbeater.h"
#include "client/mgmtd_client.h"
#include "common/log_config.h"
#include "net/test_util.h"
#include "tests/integration/process.h"

namespace hf3fs::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kBin = HF3FS_BINARY;

class MgmtdCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("mgmtd_cluster_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    port_ = FreePort();
    addr_ = "127.0.0.1:" + std::to_string(port_);
    StartMgmtd();
    pool_.Start();
    rpc_ = std::make_unique<net::RpcClient>(pool_, cfg_.rpc);
    mgmtd_ = std::make_unique<client::MgmtdClient>(
        *rpc_, std::vector<net::Address>{*net::Address::Parse(addr_)});
  }

  void TearDown() override {
    StopHeartbeats();
    rpc_.reset();
    pool_.Stop();
    if (server_) {
      server_->Signal(SIGTERM);
      EXPECT_EQ(server_->Wait(10s), 0) << server_->Stderr();
    }
    std::filesystem::remove_all(dir_);
  }

  void StartMgmtd() {
    server_ = std::make_unique<Process>(
        std::vector<std::string>{
            kBin, "mgmtd", "--config.server.listen=" + addr_,
            "--config.server.http_listen=127.0.0.1:0",
            "--config.rpc.auth_required=false",  // not a security test: no key files
            "--config.kv.rocksdb.path=" + (dir_ / "kv").string(),
            "--config.mgmtd.heartbeat_timeout=1s", "--config.mgmtd.chain_update_interval=100ms",
            "--config.mgmtd.lease_renew_interval=200ms", "--config.mgmtd.lease_length=2s"},
        dir_.string());
    // Ready when GetPrimary answers that it is primary.
    for (int i = 0; i < 300; ++i) {
      auto r = Admin({"list-nodes"});
      if (r.exit_code == 0) return;
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "mgmtd did not start: " << server_->Stderr();
  }

  RunResult Admin(std::vector<std::string> args) {
    std::vector<std::string> argv = {kBin, "admin"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--mgmtd=" + addr_);
    return RunCommand(argv, dir_.string(), 30s);
  }

  json AdminJson(std::vector<std::string> args) {
    args.push_back("--json");
    auto r = Admin(args);
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    return json::parse(r.out, nullptr, false);
  }

  // Heartbeats for nodes 11..13 every 200 ms with the local state in states_[node]; a node whose
  // state is "stop" sends nothing.
  void StartHeartbeats() {
    hb_running_ = true;
    hb_thread_ = std::thread([this] {
      uint64_t version = 1;
      while (hb_running_) {
        for (uint32_t node : {11u, 12u, 13u}) {
          std::string s;
          {
            std::lock_guard l(mu_);
            s = states_[node];
          }
          if (s == "stop") continue;
          mgmtd::HeartbeatReq req;
          req.set_node_id(node);
          req.set_type(mgmtd::NODE_STORAGE);
          req.set_heartbeat_version(version++);
          req.set_sent_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
          req.set_address("127.0.0.1:" + std::to_string(20000 + node));
          for (auto& t : targets_[node]) {
            auto* th = req.add_targets();
            th->set_target_id(t);
            th->set_local_state(s == "online"    ? mgmtd::ONLINE
                                : s == "offline" ? mgmtd::LOCAL_OFFLINE
                                                 : mgmtd::UPTODATE);
          }
          net::testing::RunSync(pool_.Get(0), [&]() -> net::awaitable<int> {
            auto r = co_await mgmtd_->Call<mgmtd::HeartbeatRsp>(mgmtd::MGMTD_HEARTBEAT, req, 2s);
            co_return r.ok() ? 0 : 1;
          });
        }
        std::this_thread::sleep_for(200ms);
      }
    });
  }
  void StopHeartbeats() {
    hb_running_ = false;
    if (hb_thread_.joinable()) hb_thread_.join();
  }
  void SetState(uint32_t node, std::string s) {
    std::lock_guard l(mu_);
    states_[node] = std::move(s);
  }

  // The state string of the chain ("1100100:SERVING ..."), polled until `pred` holds or 10 s.
  std::string WaitChain(const std::function<bool(const std::string&)>& pred) {
    std::string last;
    for (int i = 0; i < 100; ++i) {
      auto j = AdminJson({"list-chains"});
      last.clear();
      for (auto& t : j["chains"][0]["targets"]) {
        last += t["target_id"].get<std::string>() + ":" + t["state"].get<std::string>() + " ";
      }
      if (pred(last)) return last;
      std::this_thread::sleep_for(100ms);
    }
    return "timeout; last: " + last;
  }

  std::filesystem::path dir_;
  int port_ = 0;
  std::string addr_;
  std::unique_ptr<Process> server_;
  struct Cfg : config::Section {
    net::RpcConfig rpc{this, "rpc"};
  } cfg_;
  net::IoContextPool pool_{1, "test"};
  std::unique_ptr<net::RpcClient> rpc_;
  std::unique_ptr<client::MgmtdClient> mgmtd_;
  std::mutex mu_;
  std::map<uint32_t, std::string> states_;
  std::map<uint32_t, std::vector<uint64_t>> targets_;
  std::atomic<bool> hb_running_{false};
  std::thread hb_thread_;
};

TEST_F(MgmtdCluster, BootstrapFollowFailuresAndSurviveRestart) {
  // Errors tell the operator what to run next.
  auto early = Admin({"register-node", "11", "storage"});
  EXPECT_NE(early.exit_code, 0);
  EXPECT_NE(early.err.find("hf3fs admin init-cluster"), std::string::npos) << early.err;

  ASSERT_EQ(Admin({"init-cluster", "itest"}).exit_code, 0);
  for (auto n : {"11", "12", "13"}) ASSERT_EQ(Admin({"register-node", n, "storage"}).exit_code, 0);
  auto gen = RunCommand({kBin, "admin", "gen-placement", "--nodes", "3", "--first-node-id", "11",
                         "--replicas", "3", "--out", (dir_ / "placement").string(), "--json"},
                        dir_.string());
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  auto g = json::parse(gen.out);
  EXPECT_EQ(g["chains"], 1);
  ASSERT_EQ(Admin({"create-targets", "--file", (dir_ / "placement/targets.csv").string()}).exit_code, 0);
  ASSERT_EQ(Admin({"upload-chains", (dir_ / "placement/chains.csv").string()}).exit_code, 0);
  auto table = AdminJson({"upload-chain-table", "1", (dir_ / "placement/chain_table.csv").string()});
  EXPECT_EQ(table["version"], 1);

  auto targets = AdminJson({"list-targets"});
  ASSERT_EQ(targets["targets"].size(), 3u);
  for (auto& t : targets["targets"]) {
    targets_[t["node_id"].get<uint32_t>()].push_back(std::stoull(t["target_id"].get<std::string>()));
  }
  for (uint32_t n : {11, 12, 13}) SetState(n, "uptodate");
  StartHeartbeats();
  auto nodes = AdminJson({"list-nodes"});
  std::this_thread::sleep_for(500ms);
  nodes = AdminJson({"list-nodes"});
  for (auto& n : nodes["nodes"]) EXPECT_EQ(n["status"], "NODE_HEARTBEAT_CONNECTED") << n.dump();

  std::string t11 = std::to_string(targets_[11][0]);
  // Node 11 goes silent: its target leaves SERVING (to the tail) after the heartbeat timeout.
  SetState(11, "stop");
  auto s = WaitChain([&](const std::string& c) { return c.find(t11 + ":OFFLINE") != std::string::npos; });
  EXPECT_NE(s.find(t11 + ":OFFLINE"), std::string::npos) << s;
  EXPECT_TRUE(s.substr(0, s.find(' ')).ends_with(":SERVING")) << s;  // the head still serves
  // It comes back (restart protocol: OFFLINE, then ONLINE) and resyncs, then serves again.
  SetState(11, "offline");
  std::this_thread::sleep_for(500ms);
  SetState(11, "online");
  s = WaitChain([&](const std::string& c) { return c.find(t11 + ":SYNCING") != std::string::npos; });
  EXPECT_NE(s.find(t11 + ":SYNCING"), std::string::npos) << s;
  SetState(11, "uptodate");
  s = WaitChain([&](const std::string& c) { return c.find("OFFLINE") == std::string::npos &&
                                                   c.find("SYNCING") == std::string::npos; });
  EXPECT_NE(s.find(t11 + ":SERVING"), std::string::npos) << s;

  // kill -9 mgmtd and restart it on the same store: everything durable is still there.
  StopHeartbeats();
  server_->Signal(SIGKILL);
  server_->Wait(5s);
  StartMgmtd();
  auto chains = AdminJson({"list-chains"});
  ASSERT_EQ(chains["chains"].size(), 1u);
  EXPECT_EQ(chains["chains"][0]["targets"].size(), 3u);
  EXPECT_EQ(AdminJson({"list-chain-tables"})["tables"].size(), 1u);
  EXPECT_EQ(AdminJson({"list-nodes"})["nodes"].size(), 3u);
}

TEST_F(MgmtdCluster, RoutingCacheRefreshesOnlyWhenChanged) {
  ASSERT_EQ(Admin({"init-cluster", "itest"}).exit_code, 0);
  client::RoutingCache cache(*mgmtd_, pool_.Get(0), 100ms);
  cache.Start();
  for (int i = 0; i < 100 && cache.version() == 0; ++i) std::this_thread::sleep_for(20ms);
  uint64_t v1 = cache.version();
  ASSERT_GT(v1, 0u);
  ASSERT_EQ(Admin({"register-node", "50", "meta"}).exit_code, 0);
  for (int i = 0; i < 100 && cache.version() == v1; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_GT(cache.version(), v1);
  EXPECT_EQ(cache.Get()->nodes_size(), 1);
  cache.Stop();
}

TEST_F(MgmtdCluster, HeartbeatRepliesDeliverConfigThatNodesHotApply) {
  ASSERT_EQ(Admin({"init-cluster", "itest"}).exit_code, 0);
  ASSERT_EQ(Admin({"register-node", "21", "storage"}).exit_code, 0);
  struct NodeConfig : config::Section {
    LogConfig log{this, "log"};
    config::Item<uint32_t> restart_only{this, "restart_only", 1, "needs a restart"};
  } node_cfg;
  client::Heartbeater hb(*mgmtd_, pool_.Get(0),
                         {21, mgmtd::NODE_STORAGE, "itest", "127.0.0.1:1", ""}, &node_cfg, 100ms);
  hb.Start();
  for (int i = 0; i < 100 && hb.routing_version() == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(hb.last_status().ok()) << hb.last_status();
  auto toml = dir_ / "storage.toml";
  std::ofstream(toml) << "[log]\nlevel = \"debug\"\n";
  ASSERT_EQ(Admin({"set-config", "storage", toml.string()}).exit_code, 0);
  for (int i = 0; i < 100 && hb.config_version() == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(hb.config_version(), 1u);
  EXPECT_EQ(node_cfg.log.level.Get(), "debug");
  // A config that changes a key needing a restart is refused as a whole.
  std::ofstream(toml) << "restart_only = 2\n[log]\nlevel = \"warn\"\n";
  ASSERT_EQ(Admin({"set-config", "storage", toml.string()}).exit_code, 0);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(hb.config_version(), 1u);
  EXPECT_EQ(node_cfg.log.level.Get(), "debug");
  EXPECT_EQ(node_cfg.restart_only.Get(), 1u);
  auto get = AdminJson({"get-config", "storage"});
  EXPECT_EQ(get["config"]["version"], "2");
  // Heartbeats that name another cluster are refused with a clear error.
  client::Heartbeater stranger(*mgmtd_, pool_.Get(0),
                               {21, mgmtd::NODE_STORAGE, "other", "127.0.0.1:1", ""}, nullptr,
                               100ms);
  stranger.Start();
  std::this_thread::sleep_for(300ms);
  stranger.Stop();
  EXPECT_NE(stranger.last_status().message().find("cluster 'other'"), std::string::npos)
      << stranger.last_status();
  hb.Stop();
  ASSERT_TRUE(logging::Init({}).ok());
}

}  // namespace
}  // namespace hf3fs::testing
