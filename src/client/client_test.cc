// Client library: file layouts and chunk ids, and the meta client's failover and idempotent
// retries against a real meta RPC service on loopback.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <thread>

#include "chunk/chunk_id.h"
#include "client/file_io.h"
#include "client/fs_client.h"
#include "client/meta_client.h"
#include "kv/memory/memory_engine.h"
#include "meta/ops/ops.h"
#include "meta/service/meta_service.h"
#include "net/async_mutex.h"
#include "net/rpc_server.h"

namespace hf3fs::client {
namespace {

std::shared_ptr<const mgmtd::RoutingInfo> InfoWithTable(uint32_t id, uint32_t version,
                                                        std::vector<uint32_t> chains) {
  auto info = std::make_shared<mgmtd::RoutingInfo>();
  info->set_version(1);
  auto* t = info->add_chain_tables();
  t->set_table_id(id);
  t->set_version(version);
  for (auto c : chains) t->add_chain_ids(c);
  // An older version with other chains: must not be picked.
  auto* old = info->add_chain_tables();
  old->set_table_id(id);
  old->set_version(version - 1);
  old->add_chain_ids(999);
  return info;
}

TEST(FileLayoutTest, ChunksFollowTheLayoutAndTableVersion) {
  RoutingView view(InfoWithTable(1, 2, {11, 12, 13, 14}));
  meta::Inode inode;
  inode.set_id(77);
  auto* l = inode.mutable_layout();
  l->set_chain_table_id(1);
  l->set_chain_table_version(2);
  l->set_chunk_size(1 << 20);
  l->set_stripe_size(4);
  l->set_first_chain(1);
  l->set_seed(42);
  auto layout = FileLayout::Make(inode, view);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->chunk_size(), 1u << 20);
  auto chains = layout->Chains();
  std::sort(chains.begin(), chains.end());
  EXPECT_EQ(chains, (std::vector<ChainId>{ChainId(11), ChainId(12), ChainId(13), ChainId(14)}));
  // Chunk i and chunk i + stripe share a chain; the placement is what meta's function says.
  std::vector<uint32_t> table = {11, 12, 13, 14};
  for (uint64_t i = 0; i < 16; ++i) {
    EXPECT_EQ(layout->ChainOf(i), layout->ChainOf(i + 4));
    EXPECT_EQ(layout->ChainOf(i).value(), *meta::ChainOfChunk(*l, table, i));
  }
}

TEST(FileLayoutTest, ExplicitChainsAndErrors) {
  RoutingView view(InfoWithTable(1, 2, {11}));
  meta::Inode inode;
  inode.set_id(5);
  EXPECT_EQ(FileLayout::Make(inode, view).status().code(), StatusCode::kInvalidArgument);
  auto* l = inode.mutable_layout();
  l->set_chain_table_id(1);  // explicit chains still name a table (meta: table 0 = no layout)
  l->set_chunk_size(64 << 10);
  l->set_stripe_size(2);
  l->add_chains(7);
  l->add_chains(8);
  auto layout = FileLayout::Make(inode, view);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->ChainOf(0), ChainId(7));
  EXPECT_EQ(layout->ChainOf(1), ChainId(8));
  EXPECT_EQ(layout->ChainOf(2), ChainId(7));
  meta::Inode unknown;
  unknown.set_id(6);
  unknown.mutable_layout()->set_chain_table_id(9);
  unknown.mutable_layout()->set_chunk_size(1 << 20);
  unknown.mutable_layout()->set_stripe_size(1);
  EXPECT_EQ(FileLayout::Make(unknown, view).status().code(), StatusCode::kInvalidArgument);
}

TEST(FileLayoutTest, ChunkIdsMatchTheStorageFormat) {
  for (uint64_t inode : {uint64_t{1}, uint64_t{4096}, ~uint64_t{0}}) {
    for (uint64_t index : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 40}) {
      EXPECT_EQ(FileChunkId(inode, index), chunk::MakeChunkId(InodeId(inode), index).bytes());
    }
  }
}

struct TestConfig : config::Section {
  TestConfig() : Section("test") {}
  net::RpcConfig rpc{this, "rpc"};
};

// A meta RPC service over a memory KV store on a loopback port.
class MetaServiceFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = kv::OpenMemoryEngine();
    inodes_ = std::make_unique<meta::InodeAllocator>(*engine_, kv::RetryOptions{});
    ctx_ = std::make_unique<meta::OpContext>(meta::OpContext{
        *engine_, kv::RetryOptions{}, *inodes_, chains_, {}, &meta::WallClockNs,
        &meta::RandomSessionId, {}});
    ASSERT_TRUE(meta::InitNamespace(*ctx_).ok());
    service_ = std::make_unique<meta::MetaService>(*ctx_, offload_);
    service_->Register(registry_);
    server_pool_.Start();
    client_pool_.Start();
    server_ = std::make_unique<net::RpcServer>(server_pool_, cfg_.rpc, registry_);
    ASSERT_TRUE(server_->Start(net::Address{"127.0.0.1", 0}).ok());
    rpc_ = std::make_unique<net::RpcClient>(client_pool_, cfg_.rpc);
  }
  void TearDown() override {
    rpc_->CloseAll();
    server_->Stop();
    server_pool_.Stop();
    client_pool_.Stop();
    offload_.Stop();
  }

  TestConfig cfg_;
  std::unique_ptr<kv::Engine> engine_;
  std::unique_ptr<meta::InodeAllocator> inodes_;
  meta::ChainAllocator chains_;
  std::unique_ptr<meta::OpContext> ctx_;
  net::OffloadPool offload_{2};
  std::unique_ptr<meta::MetaService> service_;
  net::ServiceRegistry registry_;
  net::IoContextPool server_pool_{1, "srv"};
  net::IoContextPool client_pool_{1, "cli"};
  std::unique_ptr<net::RpcServer> server_;
  std::unique_ptr<net::RpcClient> rpc_;
};

TEST_F(MetaServiceFixture, FailsOverFromADeadServerAndRetriesIdempotently) {
  // The first server listed accepts no connections.
  net::Address dead{"127.0.0.1", 1};
  MetaClientOptions o;
  o.retry_min = std::chrono::milliseconds(1);
  MetaClient client(*rpc_, nullptr, {dead, server_->address()}, 0x1234, o);
  for (int i = 0; i < 4; ++i) {  // whichever server it starts at, every call succeeds
    meta::MkdirReq req;
    req.mutable_path()->set_path("/d" + std::to_string(i));
    req.set_mode(0755);
    auto r = RunSync(client_pool_.Get(0), client.Call<meta::MkdirRsp>(meta::META_MKDIR, req));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // A retry with the ids of a request that succeeded gets the first reply, not EEXIST.
  meta::MkdirReq req;
  req.mutable_path()->set_path("/again");
  req.set_mode(0755);
  req.mutable_ids()->set_client_id(0x1234);
  req.mutable_ids()->set_request_id(777);
  auto first = RunSync(client_pool_.Get(0), client.Call<meta::MkdirRsp>(meta::META_MKDIR, req));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = RunSync(client_pool_.Get(0), client.Call<meta::MkdirRsp>(meta::META_MKDIR, req));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->inode().id(), second->inode().id());
  // Without ids a second mkdir is a new request: EEXIST.
  meta::MkdirReq plain;
  plain.mutable_path()->set_path("/again");
  plain.set_mode(0755);
  plain.mutable_ids()->set_client_id(0x1234);
  plain.mutable_ids()->set_request_id(778);
  auto third = RunSync(client_pool_.Get(0), client.Call<meta::MkdirRsp>(meta::META_MKDIR, plain));
  EXPECT_EQ(third.status().errno_value(), EEXIST);
}

TEST_F(MetaServiceFixture, GivesUpWithAClearErrorWhenNoServerAnswers) {
  MetaClientOptions o;
  o.timeout = std::chrono::milliseconds(300);
  o.retry_min = std::chrono::milliseconds(10);
  MetaClient client(*rpc_, nullptr, {net::Address{"127.0.0.1", 1}}, 0x99, o);
  meta::StatReq req;
  auto r = RunSync(client_pool_.Get(0), client.Call<meta::StatRsp>(meta::META_STAT, req));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().retryable()) << r.status();
  EXPECT_NE(r.status().ToString().find("gave up"), std::string::npos) << r.status();
}

TEST_F(MetaServiceFixture, ConcurrentFailoversOnOneThreadDoNotDeadlock) {
  // Two calls fail over at once on the single client thread; each refreshes routing (from a
  // mgmtd that is not there, which takes a while). A lock held across that wait once blocked the
  // thread for good: a mount hung after meta restarted.
  MgmtdClient mgmtd(*rpc_, {net::Address{"127.0.0.1", 3}});
  RoutingCache routing(mgmtd, client_pool_.Get(0), std::chrono::seconds(3600));
  MetaClientOptions o;
  o.timeout = std::chrono::milliseconds(800);
  o.retry_min = std::chrono::milliseconds(5);
  MetaClient client(*rpc_, &routing, {net::Address{"127.0.0.1", 1}, net::Address{"127.0.0.1", 2}},
                    0x77, o);
  std::atomic<int> done{0};
  for (int i = 0; i < 4; ++i) {
    boost::asio::co_spawn(
        client_pool_.Get(0),
        [&]() -> net::awaitable<void> {
          meta::StatReq req;
          auto r = co_await client.Call<meta::StatRsp>(meta::META_STAT, req);
          EXPECT_FALSE(r.ok());
          ++done;
        },
        boost::asio::detached);
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (done < 4 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (done < 4) {
    ADD_FAILURE() << "calls never returned: the client thread is deadlocked";
    std::_Exit(1);  // the blocked thread cannot be joined
  }
}

TEST(AsyncMutexTest, SerializesCoroutinesInFifoOrder) {
  net::IoContextPool pool(2, "mutex");
  pool.Start();
  net::AsyncMutex m;
  std::vector<int> order;
  std::mutex order_mu;
  std::atomic<int> inside{0}, max_inside{0}, done{0};
  for (int i = 0; i < 50; ++i) {
    boost::asio::co_spawn(
        pool.Get(i),
        [&, i]() -> net::awaitable<void> {
          auto g = co_await m.Scoped();
          int n = ++inside;
          max_inside = std::max(max_inside.load(), n);
          boost::asio::steady_timer t(co_await boost::asio::this_coro::executor,
                                      std::chrono::microseconds(200));
          co_await t.async_wait(boost::asio::use_awaitable);
          {
            std::lock_guard lock(order_mu);
            order.push_back(i);
          }
          --inside;
          ++done;
        },
        boost::asio::detached);
  }
  while (done < 50) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  pool.Stop();
  EXPECT_EQ(max_inside.load(), 1);
  EXPECT_EQ(order.size(), 50u);
}

}  // namespace
}  // namespace hf3fs::client
