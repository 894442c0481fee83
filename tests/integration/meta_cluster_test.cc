// Real `hf3fs meta` processes on loopback: the namespace over RPC with errnos intact, heartbeats to
// mgmtd as a meta node, state that survives a restart; two meta servers on one PostgreSQL serving
// many clients in the same directories (the names present match the successful ops, fsck clean);
// kill -9 during a stream of ops, restart, every acknowledged op is there and fsck is clean.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "kv/postgres/pg_engine.h"
#include "kv/postgres/pg_test_server.h"
#include "kv/rocksdb/rocksdb_engine.h"
#include "meta.pb.h"
#include "meta/fsck.h"
#include "net/rpc_client.h"
#include "net/test_util.h"
#include "rpc.pb.h"
#include "tests/integration/process.h"

namespace hf3fs::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace m = hf3fs::meta;

const std::string kBin = HF3FS_BINARY;

m::PathAt Path(std::string p) {
  m::PathAt a;
  a.set_path(std::move(p));
  return a;
}

class MetaCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::path(::testing::TempDir()) / ("meta_cluster_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    pool_.Start();
    rpc_ = std::make_unique<net::RpcClient>(pool_, cfg_.rpc, 4242);
  }
  void TearDown() override {
    rpc_.reset();
    pool_.Stop();
    for (auto& p : procs_) {
      if (p && p->Running()) {
        p->Signal(SIGTERM);
        EXPECT_EQ(p->Wait(10s), 0) << p->Stderr();
      }
    }
    procs_.clear();
    pg_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Starts a meta server with `extra` config overrides; returns its address once it answers.
  std::string StartMeta(std::vector<std::string> extra) {
    std::string addr = "127.0.0.1:" + std::to_string(FreePort());
    std::vector<std::string> argv = {
        kBin, "meta", "--config.server.listen=" + addr, "--config.server.http_listen=127.0.0.1:0",
        // Not a security test: run without key files.
        "--config.rpc.auth_required=false", "--config.meta.root_chain_table=1",
        "--config.meta.root_stripe=2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    procs_.push_back(std::make_unique<Process>(argv, dir_.string()));
    for (int i = 0; i < 500; ++i) {
      if (Call<m::StatRsp>(addr, m::META_STAT, StatReq("/")).ok()) return addr;
      if (!procs_.back()->Running()) break;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "meta did not start: " << procs_.back()->Stderr();
    return addr;
  }

  template <typename Rsp, typename Req>
  Result<Rsp> Call(const std::string& addr, uint32_t method, const Req& req) {
    auto peer = *net::Address::Parse(addr);
    return net::testing::RunSync(pool_.Get(0), [&]() -> net::awaitable<Result<Rsp>> {
      co_return co_await rpc_->Call<Rsp>(peer, rpc::SERVICE_META, method, req);
    });
  }

  static m::StatReq StatReq(std::string path) {
    m::StatReq r;
    *r.mutable_path() = Path(std::move(path));
    r.set_follow(true);
    return r;
  }
  Result<m::Inode> Stat(const std::string& addr, std::string path) {
    HF3FS_TRY_ASSIGN(auto rsp, Call<m::StatRsp>(addr, m::META_STAT, StatReq(std::move(path))));
    return rsp.inode();
  }
  Result<m::Inode> Create(const std::string& addr, std::string path, uint64_t request_id = 0) {
    m::CreateReq r;
    *r.mutable_path() = Path(std::move(path));
    r.set_flags(O_CREAT | O_EXCL | O_RDONLY);
    r.set_mode(0644);
    r.mutable_ids()->set_client_id(request_id ? 4242 : 0);
    r.mutable_ids()->set_request_id(request_id);
    HF3FS_TRY_ASSIGN(auto rsp, Call<m::CreateRsp>(addr, m::META_CREATE, r));
    return rsp.inode();
  }
  Status Mkdir(const std::string& addr, std::string path) {
    m::MkdirReq r;
    *r.mutable_path() = Path(std::move(path));
    r.set_mode(0755);
    return Call<m::MkdirRsp>(addr, m::META_MKDIR, r).status();
  }
  Status Rename(const std::string& addr, std::string a, std::string b, uint64_t request_id = 0) {
    m::RenameReq r;
    *r.mutable_src() = Path(std::move(a));
    *r.mutable_dst() = Path(std::move(b));
    r.set_no_replace(true);
    r.mutable_ids()->set_client_id(request_id ? 4242 : 0);
    r.mutable_ids()->set_request_id(request_id);
    return Call<m::RenameRsp>(addr, m::META_RENAME, r).status();
  }
  Status Unlink(const std::string& addr, std::string path) {
    m::RemoveReq r;
    *r.mutable_path() = Path(std::move(path));
    return Call<m::RemoveRsp>(addr, m::META_REMOVE, r).status();
  }
  Result<std::vector<std::string>> List(const std::string& addr, std::string path) {
    m::ReaddirReq r;
    *r.mutable_path() = Path(std::move(path));
    r.set_limit(50);
    std::vector<std::string> names;
    while (true) {
      HF3FS_TRY_ASSIGN(auto rsp, Call<m::ReaddirRsp>(addr, m::META_READDIR, r));
      for (const auto& e : rsp.entries()) names.push_back(e.name());
      if (!rsp.has_more()) return names;
      r.set_cursor(names.back());
    }
  }

  void StopAll() {
    for (auto& p : procs_) {
      p->Signal(SIGTERM);
      EXPECT_EQ(p->Wait(10s), 0) << p->Stderr();
    }
    procs_.clear();
  }

  std::filesystem::path dir_;
  net::IoContextPool pool_{1, "test"};
  struct Cfg : config::Section {
    Cfg() : Section("test") {}
    net::RpcConfig rpc{this, "rpc"};
  } cfg_;
  std::unique_ptr<net::RpcClient> rpc_;
  std::vector<std::unique_ptr<Process>> procs_;
  std::unique_ptr<kv::pg::PgTestServer> pg_;
};

TEST_F(MetaCluster, NamespaceOverRpcSurvivesRestart) {
  std::string db = "--config.kv.rocksdb.path=" + (dir_ / "kv").string();
  auto addr = StartMeta({db});
  ASSERT_TRUE(Mkdir(addr, "/d").ok());
  auto f = Create(addr, "/d/f");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->layout().stripe_size(), 2u);  // the configured root layout, inherited
  // Errors cross the wire with their code, so clients see the same errno.
  EXPECT_EQ(Create(addr, "/d/f").status().errno_value(), EEXIST);
  EXPECT_EQ(Stat(addr, "/nope").status().errno_value(), ENOENT);
  EXPECT_EQ(Unlink(addr, "/d").errno_value(), EISDIR);
  ASSERT_TRUE(Rename(addr, "/d/f", "/d/g").ok());
  EXPECT_EQ(*List(addr, "/d"), std::vector<std::string>{"g"});

  StopAll();
  addr = StartMeta({db, "--config.meta.gc_delay=0s", "--config.meta.gc_interval=50ms"});
  auto g = Stat(addr, "/d/g");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->id(), f->id());
  auto h = Create(addr, "/d/h");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_NE(h->id(), f->id());  // ids are never reused across restarts
  auto d = Stat(addr, "/d");
  EXPECT_NE(h->id(), d->id());

  // The background GC deletes the unlinked file's inode (by id it is readable until then).
  ASSERT_TRUE(Unlink(addr, "/d/h").ok());
  m::StatReq by_id;
  by_id.mutable_path()->set_parent(h->id());
  Status st;
  for (int i = 0; i < 100; ++i) {
    st = Call<m::StatRsp>(addr, m::META_STAT, by_id).status();
    if (!st.ok()) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(st.errno_value(), ENOENT) << st;
}

TEST_F(MetaCluster, HeartbeatsToMgmtdAsMetaNode) {
  std::string mgmtd = "127.0.0.1:" + std::to_string(FreePort());
  procs_.push_back(std::make_unique<Process>(
      std::vector<std::string>{kBin, "mgmtd", "--config.server.listen=" + mgmtd,
                               "--config.server.http_listen=127.0.0.1:0",
                               "--config.rpc.auth_required=false", "--config.kv.backend=memory",
                               "--config.mgmtd.lease_length=2s",
                               "--config.mgmtd.lease_renew_interval=100ms"},
      dir_.string()));
  auto admin = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {kBin, "admin"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--mgmtd=" + mgmtd);
    return RunCommand(argv, dir_.string(), 30s);
  };
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    ready = admin({"init-cluster", "c1"}).exit_code == 0;
    if (!ready) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(ready) << procs_[0]->Stderr();
  ASSERT_EQ(admin({"register-node", "50", "meta"}).exit_code, 0);
  auto addr = StartMeta({"--config.kv.backend=memory", "--config.meta.node_id=50",
                         "--config.meta.mgmtd=" + mgmtd, "--config.meta.cluster_id=c1",
                         "--config.meta.heartbeat_interval=100ms",
                         "--config.meta.session_prune_interval=200ms"});
  std::string status;
  for (int i = 0; i < 100; ++i) {
    auto r = admin({"list-nodes", "--json"});
    auto j = json::parse(r.out, nullptr, false);
    if (j.is_object()) {
      for (auto& n : j["nodes"]) {
        if (n["node_id"] == 50 && n["address"] == addr) status = n["status"];
      }
    }
    if (status == "NODE_HEARTBEAT_CONNECTED") break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, "NODE_HEARTBEAT_CONNECTED") << procs_.back()->Stderr();

  // Write sessions of a client with no mgmtd session are pruned; anonymous ones are kept.
  auto open_for_write = [&](std::string path, uint64_t client) {
    m::CreateReq r;
    *r.mutable_path() = Path(std::move(path));
    r.set_flags(O_CREAT | O_WRONLY);
    r.set_mode(0644);
    r.mutable_ids()->set_client_id(client);
    r.mutable_ids()->set_request_id(1);
    return Call<m::CreateRsp>(addr, m::META_CREATE, r);
  };
  auto dead = open_for_write("/dead", 777);
  auto anon = open_for_write("/anon", 0);
  ASSERT_TRUE(dead.ok() && anon.ok()) << dead.status() << anon.status();
  auto close = [&](const m::CreateRsp& c) {
    m::CloseReq r;
    r.set_inode_id(c.inode().id());
    r.set_session_id(c.session_id());
    return Call<m::CloseRsp>(addr, m::META_SYNC, r).status();
  };
  Status st;
  for (int i = 0; i < 100; ++i) {
    st = close(*dead);
    if (!st.ok()) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(st.errno_value(), EBADF) << st;
  EXPECT_TRUE(close(*anon).ok());
}

TEST_F(MetaCluster, AdminNamespaceCommands) {
  auto addr = StartMeta({"--config.kv.backend=memory"});
  auto admin = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {kBin, "admin"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--meta=" + addr);
    argv.push_back("--json");
    auto r = RunCommand(argv, dir_.string(), 30s);
    return std::make_pair(r.exit_code, json::parse(r.out, nullptr, false));
  };
  EXPECT_EQ(admin({"mkdir", "-p", "/a/b/c"}).first, 0);
  EXPECT_EQ(admin({"mkdir", "/a/x", "--mode", "0700"}).first, 0);
  auto [code, err] = admin({"mkdir", "/a/x"});
  EXPECT_EQ(code, 1);
  EXPECT_EQ(err["code"], "MetaExists");
  ASSERT_TRUE(Create(addr, "/a/f").ok());
  auto [ls_code, ls] = admin({"ls", "/a"});
  ASSERT_EQ(ls_code, 0);
  ASSERT_EQ(ls["entries"].size(), 3u);
  EXPECT_EQ(ls["entries"][0]["name"], "b");
  EXPECT_EQ(ls["entries"][2]["inode"]["mode"], 0700);
  EXPECT_EQ(admin({"mv", "/a/f", "/a/b/g"}).first, 0);
  auto [st_code, st] = admin({"stat", "/a/b/g"});
  ASSERT_EQ(st_code, 0);
  EXPECT_EQ(st["inode"]["type"], "INODE_FILE");
  EXPECT_EQ(
      admin({"set-layout", "/a", "--chain-table", "3", "--chunk-size", "4194304", "--stripe", "8"})
          .first,
      0);
  auto [gl_code, gl] = admin({"get-layout", "/a"});
  ASSERT_EQ(gl_code, 0);
  EXPECT_EQ(gl["layout"]["stripe_size"], 8);
  EXPECT_EQ(admin({"rm", "/a/b"}).first, 1);        // a directory needs -d or -r
  EXPECT_EQ(admin({"rm", "-d", "/a/b"}).first, 1);  // not empty
  EXPECT_EQ(admin({"mkdir", "/quota"}).first, 0);
  EXPECT_EQ(admin({"set-quota", "/quota", "--inodes", "1"}).first, 0);
  ASSERT_TRUE(Create(addr, "/quota/one").ok());
  EXPECT_EQ(Create(addr, "/quota/two").status().errno_value(), EDQUOT);
  auto [gq_code, gq] = admin({"get-quota", "/quota"});
  ASSERT_EQ(gq_code, 0);
  EXPECT_EQ(gq["used_inodes"], "1");
  EXPECT_EQ(gq["max_inodes"], "1");
  EXPECT_EQ(admin({"rm", "--trash", "/a/b/g"}).first, 0);
  auto [tl_code, tl] = admin({"trash-list"});
  ASSERT_EQ(tl_code, 0);
  ASSERT_EQ(tl["entries"].size(), 1u);
  EXPECT_EQ(tl["entries"][0]["original_name"], "g");
  EXPECT_EQ(admin({"trash-restore", tl["entries"][0]["inode_id"].get<std::string>()}).first, 0);
  EXPECT_EQ(admin({"stat", "/a/b/g"}).first, 0);
  EXPECT_EQ(admin({"rm", "-r", "/a"}).first, 0);
  EXPECT_EQ(admin({"gc-status"}).second["queued"], "1");  // the tree, as one entry
  auto [fsck_code, fsck] = admin({"fsck"});
  EXPECT_EQ(fsck_code, 0);
  EXPECT_TRUE(fsck["problems"].empty()) << fsck.dump();
}

TEST(MetaBench, RunsAndReportsRates) {
  auto r = RunCommand({kBin, "bench", "meta", "--json", "--seconds", "0.2", "--backends", "memory",
                       "rocksdb", "--clients", "1", "2"},
                      ::testing::TempDir(), 120s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["errors"], 0);
  ASSERT_EQ(j["results"].size(), 4u);
  for (const auto& run : j["results"]) {
    for (const char* k : {"create_per_s", "stat_per_s", "readdir_entries_per_s", "unlink_per_s"}) {
      EXPECT_GT(run[k].get<double>(), 0) << k << " " << run.dump();
    }
  }
}

// Clients spread over two meta servers on one PostgreSQL: exclusive creates, no-replace renames
// and unlinks over a few names in three shared directories.
TEST_F(MetaCluster, TwoMetaServersOnOnePostgres) {
  auto pg = kv::pg::PgTestServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  pg_ = std::move(*pg);
  std::vector<std::string> kv = {"--config.kv.backend=postgres",
                                 "--config.kv.postgres.conninfo=" + pg_->conninfo()};
  std::string a = StartMeta(kv), b = StartMeta(kv);
  for (int d = 0; d < 3; ++d) ASSERT_TRUE(Mkdir(d % 2 ? a : b, fmt::format("/c{}", d)).ok());
  std::atomic<int> creates{0}, unlinks{0}, renames{0}, unexpected{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(t);
      auto name = [&] { return fmt::format("/c{}/n{}", rng() % 3, rng() % 10); };
      for (int i = 0; i < 120; ++i) {
        const std::string& server = rng() % 2 ? a : b;
        Status st;
        switch (rng() % 3) {
          case 0:
            st = Create(server, name()).status();
            if (st.ok()) ++creates;
            break;
          case 1:
            st = Rename(server, name(), name());
            if (st.ok()) ++renames;
            break;
          default:
            st = Unlink(server, name());
            if (st.ok()) ++unlinks;
        }
        if (!st.ok() && st.errno_value() != EEXIST && st.errno_value() != ENOENT) {
          ++unexpected;
          ADD_FAILURE() << st;
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(unexpected, 0);
  EXPECT_GT(renames, 0);
  size_t present = 0;
  for (int d = 0; d < 3; ++d) {
    auto via_a = List(a, fmt::format("/c{}", d));
    ASSERT_TRUE(via_a.ok()) << via_a.status();
    EXPECT_EQ(*via_a, *List(b, fmt::format("/c{}", d)));  // both servers see one namespace
    present += via_a->size();
  }
  EXPECT_EQ(static_cast<int>(present), creates - unlinks);
  StopAll();
  kv::PostgresEngineOptions o;
  o.conninfo = pg_->conninfo();
  auto engine = kv::OpenPostgresEngine(o);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto report = m::Fsck(**engine);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
}

// kill -9 the meta server while a client streams creates and renames; after a restart every
// acknowledged op is visible and fsck finds the namespace consistent.
TEST_F(MetaCluster, KillDuringOpsThenRestartIsConsistent) {
  std::string db = "--config.kv.rocksdb.path=" + (dir_ / "kv").string();
  auto addr = StartMeta({db});
  ASSERT_TRUE(Mkdir(addr, "/k").ok());
  // Acknowledged creates: inode id -> the names it may have now. A rename whose reply was lost
  // (the server died after committing it) may or may not have happened.
  std::map<uint64_t, std::vector<std::string>> acked;
  std::atomic<bool> killed{false};
  std::thread killer([&] {
    std::this_thread::sleep_for(700ms);
    procs_.back()->Signal(SIGKILL);
    killed = true;
  });
  for (int i = 0; !killed || i < 5; ++i) {
    auto f = Create(addr, fmt::format("/k/f{}", i));
    if (!f.ok()) {
      if (killed) break;
      continue;
    }
    auto& names = acked[f->id()];
    names = {fmt::format("f{}", i)};
    if (i % 3 != 0) continue;
    Status st = Rename(addr, fmt::format("/k/f{}", i), fmt::format("/k/g{}", i));
    if (st.ok()) names = {fmt::format("g{}", i)};
    if (!st.ok()) names.push_back(fmt::format("g{}", i));
  }
  killer.join();
  procs_.back()->Wait(10s);
  procs_.clear();
  ASSERT_GT(acked.size(), 5u);
  addr = StartMeta({db});
  for (const auto& [id, names] : acked) {
    int found = 0;
    for (const auto& name : names) {
      auto st = Stat(addr, "/k/" + name);
      if (!st.ok()) continue;
      ++found;
      EXPECT_EQ(st->id(), id) << name;
    }
    EXPECT_EQ(found, 1) << "inode " << id << " (" << names[0] << ")";
  }
  StopAll();
  auto engine = kv::OpenRocksDbEngine(kv::RocksDbEngineOptions{.path = (dir_ / "kv").string()});
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto report = m::Fsck(**engine);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->clean()) << fmt::format("{}", fmt::join(report->problems, "\n"));
}

}  // namespace
}  // namespace hf3fs::testing
