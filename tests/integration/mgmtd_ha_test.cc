// mgmtd high availability: two mgmtd processes on one throwaway PostgreSQL elect one primary
// through the lease record; kill -9 the primary and the other takes over within the lease time
// with routing info intact; the old one, restarted, stays standby.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <thread>

#include "kv/postgres/pg_test_server.h"
#include "tests/integration/process.h"

namespace hf3fs::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kBin = HF3FS_BINARY;

class MgmtdHa : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("mgmtd_ha_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto pg = kv::pg::PgTestServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
    for (int i = 0; i < 2; ++i) addrs_.push_back("127.0.0.1:" + std::to_string(FreePort()));
  }
  void TearDown() override {
    for (auto& p : procs_) {
      if (p && p->Running()) {
        p->Signal(SIGTERM);
        p->Wait(10s);
      }
    }
    procs_.clear();
    pg_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Start(int i) {
    procs_.resize(2);
    procs_[i] = std::make_unique<Process>(
        std::vector<std::string>{
            kBin, "mgmtd", "--config.server.listen=" + addrs_[i], "--config.server.http_listen=",
            "--config.rpc.auth_required=false",  // no key files here
            "--config.mgmtd.node_id=" + std::to_string(i + 1), "--config.kv.backend=postgres",
            "--config.kv.postgres.conninfo=" + pg_->conninfo(), "--config.mgmtd.lease_length=2s",
            "--config.mgmtd.lease_renew_interval=200ms", "--config.mgmtd.heartbeat_timeout=1s"},
        dir_.string());
  }

  RunResult Admin(std::vector<std::string> args, const std::string& mgmtd) {
    std::vector<std::string> argv = {kBin, "admin"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--mgmtd=" + mgmtd);
    argv.push_back("--json");
    return RunCommand(argv, dir_.string(), 30s);
  }

  // Which of the two answers GetPrimary as primary (-1: none yet).
  int Primary() {
    for (int i = 0; i < 2; ++i) {
      if (!procs_[i] || !procs_[i]->Running()) continue;
      auto r = RunCommand({kBin, "admin", "who-is-primary", "--mgmtd=" + addrs_[i], "--json"},
                          dir_.string(), 10s);
      if (r.exit_code != 0) continue;
      auto j = json::parse(r.out, nullptr, false);
      if (j.is_object() && j.value("is_primary", false)) return i;
    }
    return -1;
  }

  int WaitPrimary(std::chrono::milliseconds within) {
    auto end = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < end) {
      int p = Primary();
      if (p >= 0) return p;
      std::this_thread::sleep_for(100ms);
    }
    return -1;
  }

  std::filesystem::path dir_;
  std::unique_ptr<kv::pg::PgTestServer> pg_;
  std::vector<std::string> addrs_;
  std::vector<std::unique_ptr<Process>> procs_;
};

TEST_F(MgmtdHa, OnePrimaryFailoverAndStandbyAfterRestart) {
  Start(0);
  Start(1);
  int p = WaitPrimary(15s);
  ASSERT_GE(p, 0) << procs_[0]->Stderr() << procs_[1]->Stderr();
  int s = 1 - p;
  // Exactly one primary; the standby names it.
  auto who = RunCommand({kBin, "admin", "who-is-primary", "--mgmtd=" + addrs_[s], "--json"},
                        dir_.string());
  ASSERT_EQ(who.exit_code, 0) << who.err;
  auto j = json::parse(who.out);
  EXPECT_FALSE(j["is_primary"].get<bool>());
  EXPECT_EQ(j["primary_address"], addrs_[p]);

  // Changes made through either address land on the primary.
  std::string both = addrs_[s] + "," + addrs_[p];
  ASSERT_EQ(Admin({"init-cluster", "ha"}, both).exit_code, 0);
  ASSERT_EQ(Admin({"register-node", "11", "storage"}, both).exit_code, 0);

  // kill -9 the primary: the standby takes over within the lease length (2 s) plus a renewal.
  procs_[p]->Signal(SIGKILL);
  procs_[p]->Wait(5s);
  auto t0 = std::chrono::steady_clock::now();
  int np = WaitPrimary(10s);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(np, s) << procs_[s]->Stderr();
  EXPECT_LT(took, 5s);
  auto nodes = Admin({"list-nodes"}, both);
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  EXPECT_EQ(json::parse(nodes.out)["nodes"].size(), 1u);

  // The old primary comes back as a standby.
  Start(p);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(Primary(), s);
  // Asked only the standby, the CLI is pointed to the primary for node states.
  auto via_standby = Admin({"list-nodes"}, addrs_[p]);
  ASSERT_EQ(via_standby.exit_code, 0) << via_standby.err;
  EXPECT_EQ(json::parse(via_standby.out)["nodes"].size(), 1u);
  EXPECT_EQ(Admin({"register-node", "12", "storage"}, addrs_[p] + "," + addrs_[s]).exit_code, 0);
}

}  // namespace
}  // namespace hf3fs::testing
