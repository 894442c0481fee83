// `hf3fs meta` with storage access, against a real cluster on loopback (mgmtd + 2 storage nodes,
// chains of 2): chunks written at a file's layout are cut by truncate (whole chunks past the
// length removed on every replica, the partial chunk cut, holes stay holes, a non-writer's
// truncate refused without touching storage), close/sync with query_length sets the exact
// length, the GC removes the chunks of unlinked files from every replica but not while a write
// session is open, and statfs reports the cluster's capacity.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "chunk/chunk_id.h"
#include "client/mgmtd_client.h"
#include "client/storage_client.h"
#include "local/local_cluster.h"
#include "meta.pb.h"
#include "meta/layout.h"
#include "meta/storage_ops.h"
#include "net/io_context_pool.h"
#include "net/test_util.h"
#include "rpc.pb.h"
#include "tests/integration/process.h"

namespace hf3fs::testing {
namespace {

using namespace std::chrono_literals;
namespace m = hf3fs::meta;
using client::RoutingView;

constexpr uint64_t kChunk = 64 << 10;

m::PathAt Path(std::string p) {
  m::PathAt a;
  a.set_path(std::move(p));
  return a;
}

class MetaStorage : public ::testing::Test {
 protected:
  template <typename Make>
  auto Sync(Make make) {
    return net::testing::RunSync(pool_.Get(0), make);
  }

  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("meta_storage_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    local::LocalClusterOptions o;
    o.dir = dir_.string();
    o.binary = HF3FS_BINARY;
    o.storage_nodes = 2;
    o.replicas = 2;
    o.targets_per_disk = 2;
    o.mgmtd_args = {"--config.mgmtd.heartbeat_timeout=2s",
                    "--config.mgmtd.chain_update_interval=100ms"};
    o.storage_args = {"--config.storage.heartbeat_interval=200ms",
                      "--config.storage.routing_refresh_interval=100ms",
                      "--config.chunk_engine.low_space_threshold_bytes=0",
                      "--config.chunk_engine.low_space_threshold_percent=0",
                      "--config.chunk_engine.group_bytes=4MiB"};
    auto c = local::LocalCluster::Open(o);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    auto st = cluster_->Up(90s);
    ASSERT_TRUE(st.ok()) << st;
    pool_.Start();
    rpc_ = std::make_unique<net::RpcClient>(pool_, cfg_.rpc, 888);
    // The local cluster requires authentication: this test acts as an administrator.
    auto key = net::Keyring::Load(cluster_->key_path("admin.key"));
    ASSERT_TRUE(key.ok()) << key.status();
    rpc_->SetKeyring(*key);
    mgmtd_ = std::make_unique<client::MgmtdClient>(
        *rpc_, std::vector<net::Address>{*net::Address::Parse(cluster_->mgmtd_address())});
    routing_ = std::make_unique<client::RoutingCache>(*mgmtd_, pool_.Get(0), 100ms);
    routing_->Start();
    storage_ = std::make_unique<client::StorageClient>(*rpc_, *routing_, 888);
    Refresh();

    meta_addr_ = "127.0.0.1:" + std::to_string(FreePort());
    meta_ = std::make_unique<Process>(
        std::vector<std::string>{
            HF3FS_BINARY, "meta", "--config.server.listen=" + meta_addr_,
            "--config.server.http_listen=127.0.0.1:0", "--config.kv.backend=memory",
            "--config.meta.mgmtd=" + cluster_->mgmtd_address(),
            "--config.meta.routing_refresh_interval=200ms", "--config.meta.root_chain_table=1",
            "--config.meta.root_chunk_size=64KiB", "--config.meta.root_stripe=2",
            "--config.meta.gc_delay=0s", "--config.meta.gc_interval=100ms",
            "--config.rpc.key_file=" + cluster_->key_path("server.keyring")},
        dir_.string());
    for (int i = 0; i < 500; ++i) {
      m::StatReq r;
      *r.mutable_path() = Path("/");
      if (Call<m::StatRsp>(m::META_STAT, r).ok()) return;
      ASSERT_TRUE(meta_->Running()) << meta_->Stderr();
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "meta did not start: " << meta_->Stderr();
  }

  void TearDown() override {
    if (meta_ && meta_->Running()) {
      meta_->Signal(SIGTERM);
      EXPECT_EQ(meta_->Wait(10s), 0) << meta_->Stderr();
    }
    if (routing_) routing_->Stop();
    storage_.reset();
    routing_.reset();
    mgmtd_.reset();
    rpc_.reset();
    pool_.Stop();
    cluster_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  void Refresh() {
    Sync([&]() -> net::awaitable<int> {
      (void)co_await routing_->Refresh();
      co_return 0;
    });
  }

  template <typename Rsp, typename Req>
  Result<Rsp> Call(uint32_t method, const Req& req) {
    auto peer = *net::Address::Parse(meta_addr_);
    return Sync([&]() -> net::awaitable<Result<Rsp>> {
      co_return co_await rpc_->Call<Rsp>(peer, rpc::SERVICE_META, method, req);
    });
  }

  Result<m::CreateRsp> CreateForWrite(std::string path) {
    m::CreateReq r;
    *r.mutable_path() = Path(std::move(path));
    r.set_flags(O_CREAT | O_RDWR);
    r.set_mode(0644);
    return Call<m::CreateRsp>(m::META_CREATE, r);
  }

  Result<m::Inode> Stat(std::string path) {
    m::StatReq r;
    *r.mutable_path() = Path(std::move(path));
    HF3FS_TRY_ASSIGN(auto rsp, Call<m::StatRsp>(m::META_STAT, r));
    return rsp.inode();
  }

  Result<m::Inode> Truncate(std::string path, uint64_t length, uint32_t uid = 0) {
    m::SetAttrReq r;
    r.mutable_user()->set_uid(uid);
    r.mutable_user()->set_gid(uid);
    *r.mutable_path() = Path(std::move(path));
    r.set_follow(true);
    r.set_length(length);
    HF3FS_TRY_ASSIGN(auto rsp, Call<m::SetAttrRsp>(m::META_SETATTR, r));
    return rsp.inode();
  }

  Result<m::Inode> Finish(const m::CreateRsp& c, uint32_t method, bool query) {
    m::CloseReq r;
    r.set_inode_id(c.inode().id());
    r.set_session_id(c.session_id());
    r.set_has_length_hint(true);
    r.set_length_hint(1);  // a wrong hint: query_length ignores it
    r.set_truncate_version(c.inode().truncate_version());
    r.set_query_length(query);
    HF3FS_TRY_ASSIGN(auto rsp, Call<m::CloseRsp>(method, r));
    return rsp.inode();
  }

  ChainId ChainOf(const m::Inode& inode, uint64_t index) {
    auto table = m::ChainTableOf(inode.layout(), *routing_->Get());
    HF3FS_CHECK(table.ok());
    return ChainId(*m::ChainOfChunk(inode.layout(), *table, index));
  }

  std::string Cid(const m::Inode& inode, uint64_t index) {
    return chunk::MakeChunkId(InodeId(inode.id()), index).bytes();
  }

  void WriteChunk(const m::Inode& inode, uint64_t index, uint32_t length, uint8_t fill) {
    std::vector<uint8_t> data(length, fill);
    auto r = Sync([&]() -> net::awaitable<Result<storage::UpdateRsp>> {
      co_return co_await storage_->Write(ChainOf(inode, index), Cid(inode, index), kChunk, 0,
                                         data);
    });
    ASSERT_TRUE(r.ok()) << r.status();
  }

  // Committed length of every replica's copy of chunk `index` (-1: missing on that replica).
  std::vector<int64_t> ReplicaLengths(const m::Inode& inode, uint64_t index) {
    Refresh();
    auto view = routing_->View();
    const auto* chain = view->Chain(ChainOf(inode, index));
    std::vector<int64_t> out;
    for (const auto& ct : chain->targets()) {
      storage::ListChunkMetaReq req;
      req.set_target_id(ct.target_id());
      req.set_begin(Cid(inode, index));
      req.set_end(Cid(inode, index + 1));
      auto addr = *view->TargetAddress(TargetId(ct.target_id()));
      auto r = Sync([&]() -> net::awaitable<Result<storage::ListChunkMetaRsp>> {
        co_return co_await rpc_->Call<storage::ListChunkMetaRsp>(
            addr, rpc::SERVICE_STORAGE, storage::STORAGE_LIST_CHUNK_META, req);
      });
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok() || r->metas_size() == 0) {
        out.push_back(-1);
      } else {
        out.push_back(r->metas(0).committed().length());
      }
    }
    return out;
  }

  // Chunks of the file on every replica of every chain of its layout.
  size_t ChunksOnReplicas(const m::Inode& inode) {
    size_t n = 0;
    for (uint64_t i = 0; i < 8; ++i) {
      for (int64_t len : ReplicaLengths(inode, i)) n += len >= 0;
    }
    return n;
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
  std::string meta_addr_;
  std::unique_ptr<Process> meta_;
};

TEST_F(MetaStorage, TruncateQueryLengthGcAndStatFs) {
  auto f = CreateForWrite("/f");
  ASSERT_TRUE(f.ok()) << f.status();
  const m::Inode& inode = f->inode();
  ASSERT_EQ(inode.layout().chunk_size(), kChunk);
  for (uint64_t i = 0; i < 4; ++i) WriteChunk(inode, i, kChunk, 0x10 + i);
  WriteChunk(inode, 4, 1000, 0x20);

  // (b) sync with query_length: the exact length from storage, whatever the hint says.
  auto synced = Finish(*f, m::META_SYNC, true);
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_EQ(synced->length(), 4 * kChunk + 1000);

  // (a) a non-writer's truncate is refused and changes nothing on storage.
  auto denied = Truncate("/f", 0, 1000);
  EXPECT_EQ(denied.status().errno_value(), EACCES) << denied.status();
  EXPECT_EQ(ReplicaLengths(inode, 4), (std::vector<int64_t>{1000, 1000}));
  // Truncate to one chunk and 100 bytes: chunk 0 whole, chunk 1 cut, chunks 2.. gone everywhere.
  auto cut = Truncate("/f", kChunk + 100);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_EQ(cut->length(), kChunk + 100);
  EXPECT_EQ(ReplicaLengths(inode, 0), (std::vector<int64_t>{kChunk, kChunk}));
  EXPECT_EQ(ReplicaLengths(inode, 1), (std::vector<int64_t>{100, 100}));
  for (uint64_t i = 2; i < 5; ++i) {
    EXPECT_EQ(ReplicaLengths(inode, i), (std::vector<int64_t>{-1, -1})) << "chunk " << i;
  }
  // Growing again exposes zeros, never the old bytes: the missing chunk 3 stays a hole.
  ASSERT_TRUE(Truncate("/f", 3 * kChunk + 10).ok());
  EXPECT_EQ(ReplicaLengths(inode, 3), (std::vector<int64_t>{-1, -1}));
  // Storage holds less than the (extended) length: query_length never lowers it.
  auto closed = Finish(*f, m::META_CLOSE, true);
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(closed->length(), 3 * kChunk + 10);

  // O_TRUNC on open cuts every chunk before the length becomes 0.
  m::OpenReq open;
  *open.mutable_path() = Path("/f");
  open.set_flags(O_WRONLY | O_TRUNC);
  auto opened = Call<m::OpenRsp>(m::META_OPEN, open);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->inode().length(), 0u);
  EXPECT_EQ(ChunksOnReplicas(inode), 0u);

  // (c) GC: an unlinked file's chunks go from every replica; an open writer keeps them.
  auto g = CreateForWrite("/g");
  auto h = CreateForWrite("/h");
  ASSERT_TRUE(g.ok() && h.ok());
  for (uint64_t i = 0; i < 3; ++i) {
    WriteChunk(g->inode(), i, 4096, 1);
    WriteChunk(h->inode(), i, 4096, 2);
  }
  ASSERT_TRUE(Finish(*g, m::META_CLOSE, true).ok());
  EXPECT_EQ(ChunksOnReplicas(g->inode()), 6u);
  for (const char* p : {"/g", "/h"}) {
    m::RemoveReq r;
    *r.mutable_path() = Path(p);
    ASSERT_TRUE(Call<m::RemoveRsp>(m::META_REMOVE, r).ok());
  }
  size_t left = 1;
  for (int i = 0; i < 100 && left > 0; ++i) {
    std::this_thread::sleep_for(100ms);
    left = ChunksOnReplicas(g->inode());
  }
  EXPECT_EQ(left, 0u);
  EXPECT_EQ(ChunksOnReplicas(h->inode()), 6u);  // its write session is still open
  ASSERT_TRUE(Finish(*h, m::META_CLOSE, false).ok());
  left = 1;
  for (int i = 0; i < 100 && left > 0; ++i) {
    std::this_thread::sleep_for(100ms);
    left = ChunksOnReplicas(h->inode());
  }
  EXPECT_EQ(left, 0u);

  // (d) statfs: the targets' space, after replication.
  auto fs = Call<m::StatFsRsp>(m::META_STATFS, m::StatFsReq());
  ASSERT_TRUE(fs.ok()) << fs.status();
  EXPECT_GT(fs->total_bytes(), 0u);
  EXPECT_GE(fs->total_bytes(), fs->free_bytes());
  auto admin = RunCommand({HF3FS_BINARY, "admin", "statfs", "--meta=" + meta_addr_, "--json",
                           "--key-file=" + cluster_->key_path("admin.key")},
                          dir_.string(), 30s);
  ASSERT_EQ(admin.exit_code, 0) << admin.err;
  auto j = nlohmann::json::parse(admin.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << admin.out;
  EXPECT_GT(j["total_bytes"].get<uint64_t>(), 0u);

  // (e) fsck with --mgmtd scans the chunks: clean now; chunks of an inode meta never had are
  // reported.
  auto fsck = [&] {
    auto r = RunCommand({HF3FS_BINARY, "admin", "fsck", "--meta=" + meta_addr_,
                         "--mgmtd=" + cluster_->mgmtd_address(), "--json",
                         "--key-file=" + cluster_->key_path("admin.key")},
                        dir_.string(), 60s);
    return std::make_pair(r.exit_code, nlohmann::json::parse(r.out, nullptr, false));
  };
  auto [clean_code, clean] = fsck();
  EXPECT_EQ(clean_code, 0) << clean.dump();
  EXPECT_TRUE(clean["problems"].empty()) << clean.dump();
  m::Inode ghost = f->inode();
  ghost.set_id(987654321);  // far beyond any id this test allocates
  WriteChunk(ghost, 0, 4096, 0x5a);
  auto [bad_code, bad] = fsck();
  EXPECT_EQ(bad_code, 2) << bad.dump();
  ASSERT_EQ(bad["orphan_chunks"].size(), 1u) << bad.dump();
  EXPECT_EQ(bad["orphan_chunks"][0]["inode"], "987654321") << bad.dump();
}

}  // namespace
}  // namespace hf3fs::testing
