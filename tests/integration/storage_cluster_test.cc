// A real cluster on loopback: mgmtd + 3 storage processes, chains of 3 (LocalCluster). Writes,
// reads from every replica, exactly-once retries, chain-version fencing, kill -9 of each node
// during writes followed by restart and resync, and a per-chunk linearizability check of a
// history recorded under faults.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "chunk/chunk_id.h"
#include "client/mgmtd_client.h"
#include "client/storage_client.h"
#include "common/crc32c.h"
#include "local/local_cluster.h"
#include "net/io_context_pool.h"
#include "net/test_util.h"
#include "rpc.pb.h"
#include "tests/integration/process.h"

namespace hf3fs::testing {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using client::RoutingView;

constexpr uint32_t kChunkSize = 64 << 10;

std::string Cid(uint64_t inode, uint64_t index) {
  return chunk::MakeChunkId(InodeId(inode), index).bytes();
}

// Bytes of write number `n` to a chunk: a recognizable pattern.
std::vector<uint8_t> Pattern(uint64_t tag, size_t len) {
  std::vector<uint8_t> v(len);
  uint64_t x = tag * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[i] = static_cast<uint8_t>(x);
  }
  return v;
}

class StorageCluster : public ::testing::Test {
 protected:
  template <typename Make>
  auto Sync(Make make) {
    return net::testing::RunSync(pool_.Get(0), make);
  }

  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("storage_cluster_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    local::LocalClusterOptions o;
    o.dir = dir_.string();
    o.binary = HF3FS_BINARY;
    o.storage_nodes = 3;
    o.replicas = 3;
    o.targets_per_disk = 4;
    o.mgmtd_args = {"--config.mgmtd.heartbeat_timeout=1s",
                    "--config.mgmtd.chain_update_interval=100ms",
                    "--config.mgmtd.lease_renew_interval=200ms", "--config.mgmtd.lease_length=2s"};
    o.storage_args = {"--config.storage.heartbeat_interval=200ms",
                      "--config.storage.routing_refresh_interval=100ms",
                      "--config.storage.resync_interval=100ms",
                      "--config.chunk_engine.low_space_threshold_bytes=0",
                      "--config.chunk_engine.low_space_threshold_percent=0",
                      "--config.chunk_engine.group_bytes=4MiB"};
    auto c = local::LocalCluster::Open(o);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    auto st = cluster_->Up(90s);
    ASSERT_TRUE(st.ok()) << st << "\n" << Log("storage0");
    pool_.Start();
    rpc_ = std::make_unique<net::RpcClient>(pool_, cfg_.rpc, 777);
    // The local cluster requires authentication: this test acts as an administrator.
    auto key = net::Keyring::Load(cluster_->key_path("admin.key"));
    ASSERT_TRUE(key.ok()) << key.status();
    rpc_->SetKeyring(*key);
    mgmtd_ = std::make_unique<client::MgmtdClient>(
        *rpc_, std::vector<net::Address>{*net::Address::Parse(cluster_->mgmtd_address())});
    routing_ = std::make_unique<client::RoutingCache>(*mgmtd_, pool_.Get(0), 100ms);
    routing_->Start();
    client::StorageClientOptions copts;
    copts.timeout = 60s;
    storage_ = std::make_unique<client::StorageClient>(*rpc_, *routing_, 777, copts);
    Sync([&]() -> net::awaitable<int> {
      (void)co_await routing_->Refresh();
      co_return 0;
    });
    chains_ = ChainIds();
    ASSERT_EQ(chains_.size(), 4u);  // 3 nodes x 1 disk x 4 targets / 3 replicas
  }

  void TearDown() override {
    if (routing_) routing_->Stop();
    storage_.reset();
    routing_.reset();
    mgmtd_.reset();
    rpc_.reset();
    pool_.Stop();
    cluster_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  std::string Log(const std::string& role) {
    std::ifstream in(cluster_->log_path(role));
    std::stringstream ss;
    ss << in.rdbuf();
    auto s = ss.str();
    return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
  }

  std::vector<ChainId> ChainIds() {
    std::vector<ChainId> out;
    for (const auto& c : routing_->View()->info().chains()) out.emplace_back(c.chain_id());
    return out;
  }

  Result<storage::UpdateRsp> Write(ChainId chain, const std::string& id, uint32_t off,
                                   const std::vector<uint8_t>& data) {
    return Sync([&]() -> net::awaitable<Result<storage::UpdateRsp>> {
      co_return co_await storage_->Write(chain, id, kChunkSize, off, data);
    });
  }

  // Reads the committed chunk [0, len) from the replica on every SERVING target of the chain.
  std::vector<std::pair<TargetId, Result<std::vector<uint8_t>>>> ReadEveryReplica(
      ChainId chain, const std::string& id, uint32_t len) {
    Sync([&]() -> net::awaitable<int> {
      (void)co_await routing_->Refresh();
      co_return 0;
    });
    auto view = routing_->View();
    const auto* c = view->Chain(chain);
    std::vector<std::pair<TargetId, Result<std::vector<uint8_t>>>> out;
    for (TargetId t : RoutingView::Serving(*c)) {
      auto addr = *view->TargetAddress(t);
      storage::BatchReadReq req;
      auto* io = req.add_ios();
      io->set_chain_id(chain.value());
      io->set_chain_version(c->version());
      io->set_chunk_id(id);
      io->set_length(len);
      std::vector<uint8_t> buf;
      auto r = Sync([&]() -> net::awaitable<Result<std::vector<uint8_t>>> {
        net::CallOptions opts;
        opts.attachment_out = &buf;
        auto rsp = co_await rpc_->Call<storage::BatchReadRsp>(
            addr, rpc::SERVICE_STORAGE, storage::STORAGE_BATCH_READ, req, opts);
        if (!rsp.ok()) co_return rsp.status();
        const auto& res = rsp->results(0);
        if (res.status_code() != 0) {
          co_return Status(StatusCodeFromNumber(res.status_code()), res.status_message());
        }
        buf.resize(res.length());
        co_return buf;
      });
      out.emplace_back(t, std::move(r));
    }
    return out;
  }

  // Every target's chunk metadata (committed version, length, checksum) per chain, compared
  // across the chain's replicas.
  void ExpectReplicasIdentical() {
    auto view = routing_->View();
    for (const auto& c : view->info().chains()) {
      std::map<std::string, std::string> first;
      bool have_first = false;
      for (const auto& ct : c.targets()) {
        ASSERT_EQ(ct.state(), mgmtd::SERVING) << "chain " << c.chain_id();
        auto addr = *view->TargetAddress(TargetId(ct.target_id()));
        std::map<std::string, std::string> metas;
        std::string from;
        while (true) {
          storage::ListChunkMetaReq req;
          req.set_target_id(ct.target_id());
          req.set_begin(from);
          auto r = Sync([&]() -> net::awaitable<Result<storage::ListChunkMetaRsp>> {
            co_return co_await rpc_->Call<storage::ListChunkMetaRsp>(
                addr, rpc::SERVICE_STORAGE, storage::STORAGE_LIST_CHUNK_META, req);
          });
          ASSERT_TRUE(r.ok()) << r.status();
          for (const auto& m : r->metas()) {
            EXPECT_FALSE(m.has_pending()) << "target " << ct.target_id() << " has a pending part";
            metas[m.chunk_id()] = fmt::format("v{} len{} crc{}", m.committed().version(),
                                              m.committed().length(), m.committed().checksum());
          }
          if (!r->more()) break;
          from = r->next();
        }
        if (!have_first) {
          first = metas;
          have_first = true;
        } else {
          EXPECT_EQ(metas, first) << "chain " << c.chain_id() << " target " << ct.target_id();
        }
      }
    }
  }

  std::filesystem::path dir_;
  std::unique_ptr<local::LocalCluster> cluster_;
  struct Cfg : config::Section {
    net::RpcConfig rpc{this, "rpc"};
  } cfg_;
  net::IoContextPool pool_{2, "test"};
  std::unique_ptr<net::RpcClient> rpc_;
  std::unique_ptr<client::MgmtdClient> mgmtd_;
  std::unique_ptr<client::RoutingCache> routing_;
  std::unique_ptr<client::StorageClient> storage_;
  std::vector<ChainId> chains_;
};

TEST_F(StorageCluster, WritesReachEveryReplicaAndReadBack) {
  for (size_t i = 0; i < chains_.size(); ++i) {
    auto data = Pattern(i, 40000);
    auto w = Write(chains_[i], Cid(5, i), 0, data);
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(w->commit_version(), 1u);
    EXPECT_EQ(w->length(), 40000u);
    EXPECT_EQ(w->checksum(), Crc32c(data));
    // Append and overwrite in the middle: versions grow by one per update.
    auto tail = Pattern(100 + i, 1000);
    w = Write(chains_[i], Cid(5, i), 40000, tail);
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(w->commit_version(), 2u);
    data.insert(data.end(), tail.begin(), tail.end());
    auto mid = Pattern(200 + i, 5000);
    w = Write(chains_[i], Cid(5, i), 3000, mid);
    ASSERT_TRUE(w.ok()) << w.status();
    std::copy(mid.begin(), mid.end(), data.begin() + 3000);
    auto replicas = ReadEveryReplica(chains_[i], Cid(5, i), kChunkSize);
    ASSERT_EQ(replicas.size(), 3u);
    for (auto& [t, r] : replicas) {
      ASSERT_TRUE(r.ok()) << "target " << t << ": " << r.status();
      EXPECT_EQ(*r, data) << "target " << t;
    }
  }
  // The client read path (batched over chains and nodes), holes read as zeros.
  std::vector<std::vector<uint8_t>> bufs(chains_.size() + 1, std::vector<uint8_t>(kChunkSize));
  std::vector<client::ReadOp> ops(chains_.size() + 1);
  for (size_t i = 0; i < ops.size(); ++i) {
    ops[i].chain = chains_[i % chains_.size()];
    ops[i].chunk_id = Cid(5, i);  // the last one was never written
    ops[i].out = bufs[i];
  }
  auto st = Sync([&]() -> net::awaitable<Status> { co_return co_await storage_->Read(ops); });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(ops[0].bytes, 41000u);
  EXPECT_EQ(ops.back().bytes, 0u);
  EXPECT_EQ(bufs.back(), std::vector<uint8_t>(kChunkSize, 0));
  // Truncate and remove travel the chain too.
  auto t = Sync([&]() -> net::awaitable<Result<storage::UpdateRsp>> {
    co_return co_await storage_->Truncate(chains_[0], Cid(5, 0), kChunkSize, 100);
  });
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->length(), 100u);
  for (auto& [tg, r] : ReadEveryReplica(chains_[0], Cid(5, 0), kChunkSize)) {
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size(), 100u) << "target " << tg;
  }
  auto q = Sync([&]() -> net::awaitable<Result<storage::QueryLastChunkRsp>> {
    auto [b, e] = chunk::FileChunkRange(InodeId(5));
    co_return co_await storage_->QueryLastChunk(chains_[1], b.bytes(), e.bytes());
  });
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->chunks(), 1u);
  EXPECT_EQ(q->last().chunk_id(), Cid(5, 1));
  auto rm = Sync([&]() -> net::awaitable<Result<storage::RemoveChunksRsp>> {
    auto [b, e] = chunk::FileChunkRange(InodeId(5));
    co_return co_await storage_->RemoveChunks(chains_[1], b.bytes(), e.bytes());
  });
  ASSERT_TRUE(rm.ok()) << rm.status();
  EXPECT_EQ(rm->removed(), 1u);
  for (auto& [tg, r] : ReadEveryReplica(chains_[1], Cid(5, 1), 10)) {
    EXPECT_EQ(r.status().code(), StatusCode::kChunkNotFound) << "target " << tg;
  }
  ExpectReplicasIdentical();
}

TEST_F(StorageCluster, BatchReadPacksShortAndMissingChunksInOrder) {
  // Chunks of one chain go to one node in one request, whose reads run concurrently: results
  // must come back in request order with every short chunk's bytes packed at the right place.
  const uint32_t lens[] = {5000, 0, 60000, 1, 33333, 0, 12};
  constexpr size_t kN = sizeof(lens) / sizeof(lens[0]);
  for (size_t i = 0; i < kN; ++i) {
    if (lens[i] == 0) continue;  // never written: a hole
    auto w = Write(chains_[0], Cid(9, i), 0, Pattern(300 + i, lens[i]));
    ASSERT_TRUE(w.ok()) << w.status();
  }
  std::vector<std::vector<uint8_t>> bufs(kN, std::vector<uint8_t>(kChunkSize, 0xee));
  std::vector<client::ReadOp> ops(kN);
  for (size_t i = 0; i < kN; ++i) {
    ops[i].chain = chains_[0];
    ops[i].chunk_id = Cid(9, i);
    ops[i].out = bufs[i];
  }
  for (int round = 0; round < 3; ++round) {  // each replica in turn (round-robin selection)
    auto st = Sync([&]() -> net::awaitable<Status> { co_return co_await storage_->Read(ops); });
    ASSERT_TRUE(st.ok()) << st;
    for (size_t i = 0; i < kN; ++i) {
      EXPECT_EQ(ops[i].bytes, lens[i]) << i;
      auto want = Pattern(300 + i, lens[i]);
      want.resize(kChunkSize, 0);  // zeros past the chunk's end
      EXPECT_EQ(bufs[i], want) << i;
    }
  }
}

TEST_F(StorageCluster, RetriedUpdateIsAppliedOnceAndFencingRejectsStaleOrNonHead) {
  auto view = routing_->View();
  const auto* c = view->Chain(chains_[0]);
  TargetId head = RoutingView::Head(*c);
  auto serving = RoutingView::Serving(*c);
  auto data = Pattern(1, 4096);
  storage::UpdateReq req;
  req.set_chain_id(c->chain_id());
  req.set_chain_version(c->version());
  req.set_chunk_id(Cid(9, 0));
  req.set_chunk_size(kChunkSize);
  req.set_type(storage::UPDATE_WRITE);
  req.set_length(data.size());
  req.set_checksum(Crc32c(data));
  req.set_client_id(4242);
  req.set_channel(1);
  req.set_seq(1);
  auto send = [&](const storage::UpdateReq& r, TargetId to) {
    return Sync([&]() -> net::awaitable<Result<storage::UpdateRsp>> {
      co_return co_await storage_->SendUpdateOnce(*view->TargetAddress(to), r, data);
    });
  };
  auto first = send(req, head);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->duplicate());
  auto again = send(req, head);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate());
  EXPECT_EQ(again->commit_version(), first->commit_version());
  req.set_seq(2);
  auto next = send(req, head);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->commit_version(), first->commit_version() + 1);
  // An older sequence on the channel is refused.
  req.set_seq(1);
  EXPECT_EQ(send(req, head).status().code(), StatusCode::kStaleSequence);
  // Stale chain version.
  req.set_seq(3);
  req.set_chain_version(c->version() - 1);
  EXPECT_EQ(send(req, head).status().code(), StatusCode::kChainVersionMismatch);
  // A client write to a non-head replica.
  req.set_chain_version(c->version());
  req.set_seq(4);
  EXPECT_EQ(send(req, serving.back()).status().code(), StatusCode::kStorageNotHead);
  // Corrupt payload checksum.
  req.set_checksum(Crc32c(data) ^ 1);
  req.set_seq(5);
  EXPECT_EQ(send(req, head).status().code(), StatusCode::kChunkChecksumMismatch);
  // Malformed: attachment size differs from the declared length.
  req.set_checksum(Crc32c(data));
  req.set_length(100);
  req.set_seq(6);
  EXPECT_EQ(send(req, head).status().code(), StatusCode::kInvalidArgument);
  // The chunk holds exactly two updates on every replica.
  for (auto& [t, r] : ReadEveryReplica(chains_[0], Cid(9, 0), 8192)) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, data) << "target " << t;
  }
  ExpectReplicasIdentical();
  for (uint32_t i = 0; i < 3; ++i) EXPECT_TRUE(cluster_->StorageRunning(i));
}

// A client's write reaches every replica but its answer is lost with the head; another client
// then writes the same bytes' range at the new head; the first client's retry (same channel and
// sequence) must not be applied again over the newer write: the new head, a replica of the first
// write, answers it as a duplicate (design 0006, "Exactly-once").
TEST_F(StorageCluster, RetryAfterHeadFailoverIsNotAppliedAgainOverANewerWrite) {
  auto view = routing_->View();
  ChainId chain = chains_[1];
  const auto* c = view->Chain(chain);
  TargetId old_head = RoutingView::Head(*c);
  uint32_t victim = view->Target(old_head)->node_id() - cluster_->storage_node_id(0);
  auto first = Pattern(11, 4096);
  storage::UpdateReq req;
  req.set_chain_id(chain.value());
  req.set_chain_version(c->version());
  req.set_chunk_id(Cid(12, 0));
  req.set_chunk_size(kChunkSize);
  req.set_type(storage::UPDATE_WRITE);
  req.set_length(first.size());
  req.set_checksum(Crc32c(first));
  req.set_client_id(4343);
  req.set_channel(2);
  req.set_seq(1);
  auto send = [&](const storage::UpdateReq& r, const net::Address& to) {
    return Sync([&]() -> net::awaitable<Result<storage::UpdateRsp>> {
      co_return co_await storage_->SendUpdateOnce(to, r, first);
    });
  };
  auto applied = send(req, *view->TargetAddress(old_head));
  ASSERT_TRUE(applied.ok()) << applied.status();
  // The head dies (its answer counts as lost); mgmtd moves the next replica up.
  cluster_->SignalStorage(victim, SIGKILL);
  const mgmtd::ChainRecord* now = nullptr;
  std::shared_ptr<const client::RoutingView> nv;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(100ms);
    Sync([&]() -> net::awaitable<int> {
      (void)co_await routing_->Refresh();
      co_return 0;
    });
    nv = routing_->View();
    now = nv->Chain(chain);
    if (RoutingView::Head(*now) != old_head && RoutingView::Head(*now).valid()) break;
    now = nullptr;
  }
  ASSERT_NE(now, nullptr) << "no new head for chain " << chain;
  TargetId new_head = RoutingView::Head(*now);
  // Another client writes the same range at the new head and is answered.
  auto second = Pattern(12, 4096);
  auto newer = Write(chain, Cid(12, 0), 0, second);
  ASSERT_TRUE(newer.ok()) << newer.status();
  // The first client's retry of its (already applied) write.
  req.set_chain_version(now->version());
  auto retry = send(req, *nv->TargetAddress(new_head));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->duplicate()) << "the retry was applied a second time";
  for (auto& [t, r] : ReadEveryReplica(chain, Cid(12, 0), 4096)) {
    ASSERT_TRUE(r.ok()) << "target " << t << ": " << r.status();
    EXPECT_TRUE(*r == second) << "target " << t << " lost the newer write";
  }
  ASSERT_TRUE(cluster_->StartStorage(victim).ok());
  auto st = cluster_->WaitHealthy(60s);
  ASSERT_TRUE(st.ok()) << st << "\n" << Log("storage" + std::to_string(victim));
  for (auto& [t, r] : ReadEveryReplica(chain, Cid(12, 0), 4096)) {
    ASSERT_TRUE(r.ok()) << "target " << t << ": " << r.status();
    EXPECT_TRUE(*r == second) << "target " << t;
  }
}

TEST_F(StorageCluster, AdminCommandsAndLowSpaceRefusal) {
  using nlohmann::json;
  ChainId chain = chains_[0];
  ASSERT_TRUE(Write(chain, Cid(31, 0), 0, Pattern(3, 10000)).ok());
  auto admin = [&](std::vector<std::string> args) {
    args.push_back("--json");
    auto r = cluster_->Admin(args);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return json::parse(r.out, nullptr, false);
  };
  auto ti = admin({"target-info", "--node", "101"});
  ASSERT_EQ(ti["targets"].size(), 4u) << ti.dump();
  for (auto& t : ti["targets"]) {
    EXPECT_EQ(t["public_state"], "SERVING");
    EXPECT_EQ(t["local_state"], "UPTODATE");
  }
  // Heartbeats carry each target's disk space into routing info.
  auto lt = admin({"list-targets"});
  ASSERT_EQ(lt["targets"].size(), 12u);
  for (auto& t : lt["targets"]) {
    EXPECT_GT(std::stoull(t["free_bytes"].get<std::string>()), 0u) << t.dump();
  }
  auto si = admin({"space-info", "--node", "102"});
  ASSERT_EQ(si["disks"].size(), 1u);
  EXPECT_GT(std::stoull(si["disks"][0]["capacity_bytes"].get<std::string>()), 0u);
  EXPECT_EQ(si["disks"][0]["targets"].size(), 4u);
  std::string head = std::to_string(RoutingView::Head(*routing_->View()->Chain(chain)).value());
  auto cm = admin({"chunk-meta", "--target", head, "--chunk", "31:0"});
  EXPECT_EQ(cm["meta"]["committed"]["version"], "1") << cm.dump();
  EXPECT_EQ(cm["meta"]["committed"]["length"], 10000);
  auto dump = admin({"dump-chunk-meta", "--target", head});
  EXPECT_GE(std::stoull(dump["chunks"].dump()), 1u);
  auto q = admin({"query-last-chunk", "--chain", std::to_string(chain.value()), "--inode", "31"});
  EXPECT_EQ(q["chunks"], "1") << q.dump();
  EXPECT_EQ(q["last_chunk"], "31:0");
  // Errors name the problem and exit non-zero.
  auto bad = cluster_->Admin({"target-info", "--node", "999"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("999"), std::string::npos) << bad.out;

  // Low space, pushed as a hot config through mgmtd: new chunks are refused with ENOSPC,
  // existing chunks still take writes.
  auto cfg = dir_ / "low_space.toml";
  std::ofstream(cfg) << "[chunk_engine]\nlow_space_threshold_percent = 100.0\n";
  auto set = cluster_->Admin({"set-config", "storage", cfg.string()});
  ASSERT_EQ(set.exit_code, 0) << set.out;
  Status refused;
  for (int i = 0; i < 100 && refused.ok(); ++i) {
    auto w = Write(chain, Cid(31, 100 + i), 0, Pattern(4, 100));
    refused = w.status();
    if (refused.ok()) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(refused.code(), StatusCode::kNoSpace) << refused;
  EXPECT_EQ(GetStatusCodeInfo(refused.code()).errno_value, ENOSPC);
  auto existing = Write(chain, Cid(31, 0), 10000, Pattern(5, 100));
  EXPECT_TRUE(existing.ok()) << existing.status();

  auto rm = admin({"remove-chunks", "--chain", std::to_string(chain.value()), "--inode", "31"});
  EXPECT_GE(rm["removed"].get<uint64_t>(), 1u) << rm.dump();
  q = admin({"query-last-chunk", "--chain", std::to_string(chain.value()), "--inode", "31"});
  EXPECT_EQ(q["chunks"], "0") << q.dump();
}

TEST_F(StorageCluster, DivergentReplicaIsCaughtByNeighbourChecksums) {
  auto view = routing_->View();
  const auto* c = view->Chain(chains_[1]);
  auto serving = RoutingView::Serving(*c);
  ASSERT_EQ(serving.size(), 3u);
  auto a = Pattern(1, 4096), b = Pattern(2, 4096);
  ASSERT_TRUE(Write(chains_[1], Cid(12, 0), 0, a).ok());
  // Forge the middle replica's copy: a "forward" from its predecessor replacing version 1.
  storage::UpdateReq forged;
  forged.set_chain_id(c->chain_id());
  forged.set_chain_version(c->version());
  forged.set_chunk_id(Cid(12, 0));
  forged.set_chunk_size(kChunkSize);
  forged.set_type(storage::UPDATE_REPLACE);
  forged.set_length(b.size());
  forged.set_checksum(Crc32c(b));
  forged.set_from_target(serving[0].value());
  forged.set_update_version(1);
  forged.set_commit(true);
  // Only a server may forward: the forger holds the server key (a buggy replica, not an outsider).
  auto server_key = net::Keyring::Load(cluster_->key_path("server.keyring"));
  ASSERT_TRUE(server_key.ok()) << server_key.status();
  rpc_->SetKeyring(*server_key);
  rpc_->Disconnect(*view->TargetAddress(serving[1]));
  Result<storage::UpdateRsp> f = Status(StatusCode::kInternal, "not sent");
  for (int i = 0; i < 5; ++i) {  // the old (admin) connection may still be closing
    f = Sync([&]() -> net::awaitable<Result<storage::UpdateRsp>> {
      co_return co_await storage_->SendUpdateOnce(*view->TargetAddress(serving[1]), forged, b);
    });
    if (f.ok() || f.status().code() != StatusCode::kRpcConnectionLost) break;
  }
  ASSERT_TRUE(f.ok()) << f.status();
  // The next update is applied to each replica's own bytes; the middle's result differs from the
  // tail's, so the chain refuses to acknowledge it.
  auto w = Write(chains_[1], Cid(12, 0), 100, Pattern(3, 100));
  EXPECT_EQ(w.status().code(), StatusCode::kDataCorruption) << w.status();
}

// Workers write distinct chunks (so each chunk's expected content is known) while storage node
// `victim` is killed with SIGKILL and later restarted.
struct Model {
  std::mutex mu;
  std::map<std::pair<uint32_t, std::string>, std::vector<uint8_t>> chunks;  // acknowledged
  std::atomic<uint64_t> acked{0}, failed{0};
  std::string first_error;
};

net::awaitable<void> Writer(client::StorageClient& sc, std::vector<ChainId> chains, int worker,
                            std::atomic<bool>& stop, Model& model) {
  std::mt19937 rng(worker);
  uint64_t n = 0;
  while (!stop) {
    ChainId chain = chains[rng() % chains.size()];
    std::string id = Cid(1000 + worker, rng() % 8);
    uint32_t off = (rng() % 14) * 4096;  // off + len stays within the chunk
    uint32_t len = 512 + rng() % 8192;
    auto data = Pattern(worker * 1000003ull + ++n, len);
    auto r = co_await sc.Write(chain, id, kChunkSize, off, data);
    if (!r.ok()) {
      std::lock_guard lock(model.mu);
      if (model.failed++ == 0) model.first_error = r.status().ToString();
      continue;
    }
    std::lock_guard lock(model.mu);
    auto& v = model.chunks[{chain.value(), id}];
    if (v.size() < off + len) v.resize(off + len);
    std::copy(data.begin(), data.end(), v.begin() + off);
    model.acked++;
  }
}

// A chunk of the largest size a layout allows (64 MiB) travels whole in one frame when it is
// written in one piece, forwarded to a replica that is catching up, and resynced to a restarted
// node: the default frame limit has room for the chunk plus the header and message.
TEST_F(StorageCluster, WholeSixtyFourMiBChunksAreWrittenAndResyncedToARestartedNode) {
  constexpr uint32_t kBig = 64u << 20;
  auto write = [&](const std::string& id, uint64_t tag) {
    auto data = Pattern(tag, kBig);
    auto r = Sync([&]() -> net::awaitable<Result<storage::UpdateRsp>> {
      co_return co_await storage_->Write(chains_[0], id, kBig, 0, data);
    });
    EXPECT_TRUE(r.ok()) << r.status();
    return data;
  };
  auto first = write(Cid(64, 0), 1);
  // Written while a replica is down: the restarted node gets the whole chunk by resync.
  cluster_->SignalStorage(1, SIGKILL);
  std::this_thread::sleep_for(2s);  // the chain drops the dead replica (heartbeat timeout 1 s)
  auto second = write(Cid(64, 1), 2);
  ASSERT_TRUE(cluster_->StartStorage(1).ok());
  auto st = cluster_->WaitHealthy(90s);
  ASSERT_TRUE(st.ok()) << st << "\n" << Log("storage1");
  for (auto& [t, r] : ReadEveryReplica(chains_[0], Cid(64, 0), kBig)) {
    ASSERT_TRUE(r.ok()) << "target " << t << ": " << r.status();
    EXPECT_TRUE(*r == first) << "target " << t;
  }
  for (auto& [t, r] : ReadEveryReplica(chains_[0], Cid(64, 1), kBig)) {
    ASSERT_TRUE(r.ok()) << "target " << t << ": " << r.status();
    EXPECT_TRUE(*r == second) << "target " << t;
  }
  ExpectReplicasIdentical();
  // Four whole-chunk reads in one call (as a USRBIO batch may ask): spread round-robin over the
  // three replicas, two land on one node, 128 MiB, more than one RPC frame holds, so the client
  // splits that node's batch by size.
  std::vector<std::vector<uint8_t>> bufs(4, std::vector<uint8_t>(kBig));
  std::vector<client::ReadOp> ops;
  for (int i = 0; i < 4; ++i) ops.push_back(client::ReadOp{chains_[0], Cid(64, i % 2), 0, bufs[i]});
  auto all = Sync([&]() -> net::awaitable<Status> { co_return co_await storage_->Read(ops); });
  ASSERT_TRUE(all.ok()) << all;
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(bufs[i] == (i % 2 == 0 ? first : second)) << i;
}

class StorageClusterKill : public StorageCluster, public ::testing::WithParamInterface<int> {};

TEST_P(StorageClusterKill, AcknowledgedWritesSurviveKill9DuringWritesAndNodeResyncs) {
  uint32_t victim = GetParam();
  Model model;
  std::atomic<bool> stop{false};
  constexpr int kWorkers = 6;
  std::vector<std::future<void>> done;
  for (int w = 0; w < kWorkers; ++w) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    asio::co_spawn(pool_.Get(w), Writer(*storage_, chains_, w, stop, model),
                   [p](std::exception_ptr) { p->set_value(); });
  }
  std::this_thread::sleep_for(1s);
  uint64_t before = model.acked;
  cluster_->SignalStorage(victim, SIGKILL);
  std::this_thread::sleep_for(3s);
  uint64_t during = model.acked;
  ASSERT_TRUE(cluster_->StartStorage(victim).ok());
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& f : done) f.wait();
  EXPECT_GT(before, 0u);
  EXPECT_GT(model.acked.load(), during) << "writes did not continue after the restart";
  EXPECT_EQ(model.failed.load(), 0u) << model.first_error;
  auto st = cluster_->WaitHealthy(60s);
  ASSERT_TRUE(st.ok()) << st << "\n" << Log("storage" + std::to_string(victim));
  // The restarted node's targets were recovered by their predecessors: chunks written while it
  // was down were copied to it (resync logs "storage.resync_done ... copied=N").
  uint64_t copied = 0;
  for (uint32_t i = 0; i < 3; ++i) {
    if (i == victim) continue;
    std::ifstream in(cluster_->log_path("storage" + std::to_string(i)));
    for (std::string line; std::getline(in, line);) {
      auto at = line.find("storage.resync_done");
      auto c = line.find(" copied=");
      if (at != std::string::npos && c != std::string::npos)
        copied += std::stoull(line.substr(c + 8));
    }
  }
  EXPECT_GT(copied, 0u) << "no resync copied chunks to the restarted node";
  // Every acknowledged write, from every replica (the restarted one included).
  for (auto& [key, bytes] : model.chunks) {
    for (auto& [t, r] : ReadEveryReplica(ChainId(key.first), key.second, kChunkSize)) {
      ASSERT_TRUE(r.ok()) << "target " << t << ": " << r.status();
      ASSERT_EQ(*r, bytes) << "target " << t << " chunk " << chunk::ChunkId(key.second).ToString();
    }
  }
  ExpectReplicasIdentical();
}

INSTANTIATE_TEST_SUITE_P(EachNode, StorageClusterKill, ::testing::Values(0, 1, 2));

// History checker: concurrent writers and readers on a few shared chunks while a node is killed
// and restarted. Every write replaces the first 4 KiB with a pattern naming its version's writer
// tag; reads return a version and bytes. Per chunk, each read must return (a) bytes equal to the
// write that produced that version and (b) a version at least that of every write acknowledged
// before the read started, and at most that of writes started before the read ended.
struct Event {
  bool write;
  std::chrono::steady_clock::time_point start, end;
  uint64_t version;
  uint64_t tag;  // write: its pattern tag; read: the tag recognized in the bytes (0: none)
};

TEST_F(StorageCluster, ReadsAreLinearizablePerChunkUnderFailures) {
  constexpr int kChunks = 3;
  std::mutex mu;
  std::map<int, std::vector<Event>> history;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> next_tag{1};
  std::vector<std::future<void>> done;
  auto spawn = [&](int ctx, auto fn) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    asio::co_spawn(pool_.Get(ctx), fn(), [p](std::exception_ptr) { p->set_value(); });
  };
  auto tag_of = [](const uint8_t* b) {
    uint64_t t;
    std::memcpy(&t, b, 8);
    return t;
  };
  for (int w = 0; w < 4; ++w) {
    spawn(w, [&, w]() -> net::awaitable<void> {
      std::mt19937 rng(w);
      while (!stop) {
        int c = rng() % kChunks;
        uint64_t tag = next_tag++;
        auto data = Pattern(tag, 4096);
        std::memcpy(data.data(), &tag, 8);
        Event e{true, std::chrono::steady_clock::now(), {}, 0, tag};
        auto r = co_await storage_->Write(chains_[c], Cid(77, c), kChunkSize, 0, data);
        e.end = std::chrono::steady_clock::now();
        if (!r.ok()) continue;  // unacknowledged: may or may not have happened
        e.version = r->commit_version();
        std::lock_guard lock(mu);
        history[c].push_back(e);
      }
    });
  }
  for (int rd = 0; rd < 4; ++rd) {
    spawn(rd, [&, rd]() -> net::awaitable<void> {
      std::mt19937 rng(100 + rd);
      std::vector<uint8_t> buf(4096);
      while (!stop) {
        int c = rng() % kChunks;
        client::ReadOp op;
        op.chain = chains_[c];
        op.chunk_id = Cid(77, c);
        op.out = buf;
        Event e{false, std::chrono::steady_clock::now(), {}, 0, 0};
        Status st = co_await storage_->Read(std::span<client::ReadOp>(&op, 1));
        e.end = std::chrono::steady_clock::now();
        if (!st.ok()) continue;
        e.version = op.version;
        e.tag = op.bytes >= 8 ? tag_of(buf.data()) : 0;
        if (op.bytes >= 8 && Pattern(e.tag, 4096).size() == 4096) {
          auto expect = Pattern(e.tag, 4096);
          std::memcpy(expect.data(), &e.tag, 8);
          if (expect != buf) e.tag = ~0ull;  // torn or foreign bytes
        }
        std::lock_guard lock(mu);
        history[c].push_back(e);
      }
    });
  }
  std::this_thread::sleep_for(1s);
  cluster_->SignalStorage(1, SIGKILL);
  std::this_thread::sleep_for(3s);
  ASSERT_TRUE(cluster_->StartStorage(1).ok());
  ASSERT_TRUE(cluster_->WaitHealthy(60s).ok());
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& f : done) f.wait();

  size_t reads = 0, writes = 0;
  for (auto& [c, events] : history) {
    std::map<uint64_t, const Event*> write_of_version;
    for (const auto& e : events) {
      if (!e.write) continue;
      ++writes;
      EXPECT_EQ(write_of_version.count(e.version), 0u)
          << "two acked writes got version " << e.version;
      write_of_version[e.version] = &e;
    }
    for (const auto& r : events) {
      if (r.write) continue;
      ++reads;
      ASSERT_NE(r.tag, ~0ull) << "chunk " << c << ": read returned bytes of no single write";
      uint64_t min_version = 0, max_version = 0;
      for (const auto& w : events) {
        if (!w.write) continue;
        if (w.end < r.start) min_version = std::max(min_version, w.version);
        if (w.start < r.end) max_version = std::max(max_version, w.version);
      }
      EXPECT_GE(r.version, min_version) << "chunk " << c << ": stale read";
      // Versions of unacknowledged writes may be read too; they are never acknowledged-later
      // writes' versions unless those had started.
      auto it = write_of_version.find(r.version);
      if (it != write_of_version.end()) {
        EXPECT_EQ(it->second->tag, r.tag) << "chunk " << c << " version " << r.version;
        EXPECT_LE(r.version, max_version) << "chunk " << c << ": read from the future";
      }
    }
  }
  EXPECT_GT(reads, 100u);
  EXPECT_GT(writes, 100u);
  ExpectReplicasIdentical();
}

}  // namespace
}  // namespace hf3fs::testing

namespace hf3fs::testing {
namespace {

// `hf3fs local up --detach`, status, down, up again: the data written in between survives.
TEST(LocalCli, UpStatusDownUpKeepsData) {
  using nlohmann::json;
  auto dir =
      std::filesystem::path(::testing::TempDir()) / ("local_cli_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto hf3fs = [&](std::vector<std::string> args) {
    args.insert(args.begin(), HF3FS_BINARY);
    return RunCommand(args, dir.string(), 120s);
  };
  auto cdir = (dir / "cluster").string();
  auto up = hf3fs({"local", "up", "--dir", cdir, "--detach", "--targets-per-disk", "1"});
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  EXPECT_NE(up.out.find("mgmtd:"), std::string::npos) << up.out;
  auto status = [&] {
    auto r = hf3fs({"local", "status", "--dir", cdir, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  };
  auto s = status();
  ASSERT_EQ(s["processes"].size(), 5u) << s.dump();  // mgmtd, 3 storage, meta
  for (auto& p : s["processes"]) EXPECT_EQ(p["state"], "running") << p.dump();
  EXPECT_EQ(s["processes"][0]["role"], "mgmtd");
  EXPECT_EQ(s["processes"][4]["role"], "meta");
  EXPECT_TRUE(s["mount"].is_null()) << s.dump();
  // A second up while it runs is refused with what to do.
  auto again = hf3fs({"local", "up", "--dir", cdir, "--detach"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("hf3fs local down"), std::string::npos) << again.err;

  std::ifstream in(std::filesystem::path(cdir) / "cluster.json");
  auto cj = json::parse(in);
  std::string mgmtd_addr = "127.0.0.1:" + std::to_string(cj["mgmtd_port"].get<int>());
  struct Cfg : config::Section {
    net::RpcConfig rpc{this, "rpc"};
  } cfg;
  net::IoContextPool pool(1, "test");
  pool.Start();
  auto data = Pattern(99, 5000);
  auto with_client = [&](auto fn) {
    net::RpcClient rpc(pool, cfg.rpc, 5);
    auto key = net::Keyring::Load((std::filesystem::path(cdir) / "keys" / "admin.key").string());
    if (key.ok()) rpc.SetKeyring(*key);
    client::MgmtdClient mgmtd(rpc, {*net::Address::Parse(mgmtd_addr)});
    client::RoutingCache routing(mgmtd, pool.Get(0), 1s);
    client::StorageClient sc(rpc, routing, 5);
    return net::testing::RunSync(pool.Get(0), [&]() -> net::awaitable<Status> {
      HF3FS_CO_TRY(co_await routing.Refresh());
      co_return co_await fn(sc, routing.View()->info().chains(0).chain_id());
    });
  };
  Status w = with_client([&](client::StorageClient& sc, uint32_t chain) -> net::awaitable<Status> {
    co_return (co_await sc.Write(ChainId(chain), Cid(1, 0), kChunkSize, 0, data)).status();
  });
  ASSERT_TRUE(w.ok()) << w;

  auto down = hf3fs({"local", "down", "--dir", cdir});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  for (auto& p : status()["processes"]) EXPECT_EQ(p["state"], "stopped") << p.dump();

  up = hf3fs({"local", "up", "--dir", cdir, "--detach"});
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  std::vector<uint8_t> buf(kChunkSize);
  Status r = with_client([&](client::StorageClient& sc, uint32_t chain) -> net::awaitable<Status> {
    client::ReadOp op{ChainId(chain), Cid(1, 0), 0, buf};
    HF3FS_CO_TRY(co_await sc.Read(std::span<client::ReadOp>(&op, 1)));
    co_return op.bytes == data.size()
        ? Status::Ok()
        : MakeStatus(StatusCode::kInternal, "read {} bytes", op.bytes);
  });
  EXPECT_TRUE(r.ok()) << r;
  EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
  EXPECT_EQ(hf3fs({"local", "down", "--dir", cdir}).exit_code, 0);
  pool.Stop();

  // In the foreground, SIGTERM (or Ctrl-C) stops the whole cluster and exits 0.
  Process fg({HF3FS_BINARY, "local", "up", "--dir", cdir}, dir.string());
  bool running = false;
  for (int i = 0; i < 300 && !running; ++i) {
    std::this_thread::sleep_for(100ms);
    running = fg.Stdout().find("press Ctrl-C") != std::string::npos;
  }
  ASSERT_TRUE(running) << fg.Stdout() << fg.Stderr();
  fg.Signal(SIGTERM);
  EXPECT_EQ(fg.Wait(30s), 0) << fg.Stderr();
  for (auto& p : status()["processes"]) EXPECT_EQ(p["state"], "stopped") << p.dump();
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hf3fs::testing
