#include "storage/target/target_map.h"

#include <gtest/gtest.h>

#include "chunk/chunk_test_util.h"
#include "chunk/fault_file_layer.h"

namespace hf3fs::storage {
namespace {

using chunk::testing::SmallOptions;
using chunk::testing::TempDir;

// Node 1 holds target 11 (disk 0, chain 1) and 12 (disk 1, chain 2); node 2 the other replicas.
class TargetMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto posix = chunk::CreatePosixFileLayer(dir1_.path() + "/data", {});
    ASSERT_TRUE(posix.ok());
    fault_ = std::make_shared<chunk::FaultFileLayer>(
        std::shared_ptr<chunk::FileLayer>(std::move(*posix)));
    std::vector<std::unique_ptr<chunk::ChunkEngine>> engines;
    auto e0 = chunk::ChunkEngine::Open(dir0_.path(), SmallOptions(&registry_));
    ASSERT_TRUE(e0.ok()) << e0.status();
    auto o1 = SmallOptions(&registry_);
    o1.file_layer = fault_;
    auto e1 = chunk::ChunkEngine::Open(dir1_.path(), o1);
    ASSERT_TRUE(e1.ok()) << e1.status();
    engines.push_back(std::move(*e0));
    engines.push_back(std::move(*e1));
    map_ = std::make_unique<TargetMap>(NodeId(1), std::move(engines));
  }

  // Routing version `v`: chain 1 at `c1v` with target 11 in `s11`; chain 2 at `c2v` with 12 in
  // `s12`; the node-2 replicas SERVING.
  void Route(uint64_t v, uint32_t c1v, mgmtd::PublicTargetState s11, uint32_t c2v,
             mgmtd::PublicTargetState s12) {
    auto info = std::make_shared<mgmtd::RoutingInfo>();
    info->set_version(v);
    auto target = [&](uint64_t id, uint32_t node, uint32_t disk, uint32_t chain) {
      auto* t = info->add_targets();
      t->set_target_id(id);
      t->set_node_id(node);
      t->set_disk_index(disk);
      t->set_chain_id(chain);
    };
    target(11, 1, 0, 1);
    target(12, 1, 1, 2);
    target(21, 2, 0, 1);
    target(22, 2, 0, 2);
    auto chain = [&](uint32_t id, uint32_t version, uint64_t mine, mgmtd::PublicTargetState s,
                     uint64_t other) {
      auto* c = info->add_chains();
      c->set_chain_id(id);
      c->set_version(version);
      auto* o = c->add_targets();
      o->set_target_id(other);
      o->set_state(mgmtd::SERVING);
      auto* m = c->add_targets();
      m->set_target_id(mine);
      m->set_state(s);
    };
    chain(1, c1v, 11, s11, 21);
    chain(2, c2v, 12, s12, 22);
    map_->OnRouting(std::make_shared<const client::RoutingView>(info));
  }

  mgmtd::LocalTargetState Local(uint64_t target) {
    auto t = map_->ForTarget(TargetId(target));
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->local_state : mgmtd::LOCAL_STATE_UNSPECIFIED;
  }

  metrics::Registry registry_;
  TempDir dir0_, dir1_;
  std::shared_ptr<chunk::FaultFileLayer> fault_;
  std::unique_ptr<TargetMap> map_;
};

TEST_F(TargetMapTest, RestartedTargetStaysOfflineUntilRoutingTakesItOutOfServing) {
  Route(1, 1, mgmtd::SERVING, 1, mgmtd::SERVING);
  EXPECT_EQ(Local(11), mgmtd::LOCAL_OFFLINE);
  EXPECT_EQ(Local(12), mgmtd::LOCAL_OFFLINE);
  Route(2, 2, mgmtd::OFFLINE, 1, mgmtd::SERVING);
  EXPECT_EQ(Local(11), mgmtd::ONLINE);
  EXPECT_EQ(Local(12), mgmtd::LOCAL_OFFLINE);  // routing still shows it SERVING
  EXPECT_EQ(map_->ForTarget(TargetId(21)).status().code(), StatusCode::kTargetNotFound);
}

TEST_F(TargetMapTest, UpToDateOnlyAfterSyncDoneForTheCurrentChainVersion) {
  Route(1, 2, mgmtd::OFFLINE, 1, mgmtd::OFFLINE);
  Route(2, 3, mgmtd::SYNCING, 1, mgmtd::OFFLINE);
  EXPECT_EQ(Local(11), mgmtd::ONLINE);
  EXPECT_EQ(map_->SyncDone(TargetId(11), ChainVersion(2)).code(),
            StatusCode::kChainVersionMismatch);
  EXPECT_EQ(map_->SyncDone(TargetId(12), ChainVersion(1)).code(), StatusCode::kTargetNotServing);
  ASSERT_TRUE(map_->SyncDone(TargetId(11), ChainVersion(3)).ok());
  EXPECT_EQ(Local(11), mgmtd::UPTODATE);
  // The chain changed while it was syncing: it must be synced again under the new version.
  Route(3, 4, mgmtd::SYNCING, 1, mgmtd::OFFLINE);
  EXPECT_EQ(Local(11), mgmtd::ONLINE);
  Route(4, 5, mgmtd::SERVING, 1, mgmtd::OFFLINE);
  EXPECT_EQ(Local(11), mgmtd::UPTODATE);
  // Taken out of SERVING while alive (e.g. missed heartbeats): back to ONLINE, never UPTODATE.
  Route(5, 6, mgmtd::OFFLINE, 1, mgmtd::OFFLINE);
  EXPECT_EQ(Local(11), mgmtd::ONLINE);
  Route(6, 7, mgmtd::SYNCING, 1, mgmtd::OFFLINE);
  EXPECT_EQ(Local(11), mgmtd::ONLINE);
}

TEST_F(TargetMapTest, DiskErrorTakesTheDisksTargetsOffline) {
  Route(1, 2, mgmtd::OFFLINE, 2, mgmtd::OFFLINE);
  Route(2, 3, mgmtd::SERVING, 3, mgmtd::SERVING);
  EXPECT_EQ(Local(11), mgmtd::UPTODATE);
  EXPECT_EQ(Local(12), mgmtd::UPTODATE);
  fault_->InjectErrors(chunk::FaultFileLayer::kAllData);
  std::vector<uint8_t> data(4096, 7);
  chunk::UpdateOptions o;
  o.update_version = 1;
  auto w =
      map_->engine(1)->Write(TargetId(12), chunk::MakeChunkId(InodeId(1), 0), 1 << 20, 0, data, o);
  EXPECT_EQ(w.status().code(), StatusCode::kDiskError);
  EXPECT_EQ(Local(12), mgmtd::LOCAL_OFFLINE);
  EXPECT_EQ(Local(11), mgmtd::UPTODATE);  // another disk
}

}  // namespace
}  // namespace hf3fs::storage
