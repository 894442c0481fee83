// mgmtd operations over the memory KV backend: success and error paths of every call, the chain
// updater driven by heartbeats, leases.
#include "mgmtd/ops/ops.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "kv/memory/memory_engine.h"
#include "mgmtd/store/mgmtd_store.h"

namespace hf3fs::mgmtd {
namespace {

using namespace std::chrono_literals;

class MgmtdOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cfg_.mgmtd.heartbeat_timeout.Set(300ms).ok());
    ASSERT_TRUE(cfg_.mgmtd.lease_length.Set(2s).ok());
    ctx_ = std::make_unique<OpContext>(OpContext{*engine_, cfg_.mgmtd, state_, kv::RetryOptions{},
                                                 "127.0.0.1:9000",
                                                 [this] { return now_ms_.load(); }});
    ASSERT_TRUE(RenewLease(*ctx_, NodeId(1), "0.1.0").value());
    ASSERT_TRUE(InitCluster(*ctx_, Init("test-cluster")).ok());
  }

  static InitClusterReq Init(std::string id) {
    InitClusterReq r;
    r.set_cluster_id(id);
    return r;
  }

  void Register(uint32_t id, NodeType type) {
    RegisterNodeReq r;
    r.set_node_id(id);
    r.set_type(type);
    auto st = RegisterNode(*ctx_, r);
    ASSERT_TRUE(st.ok()) << st.status();
  }

  HeartbeatReq Hb(uint32_t node, std::vector<std::pair<uint64_t, LocalTargetState>> targets = {}) {
    HeartbeatReq r;
    r.set_node_id(node);
    r.set_type(NODE_STORAGE);
    r.set_heartbeat_version(++hb_version_);
    r.set_sent_unix_ms(now_ms_);
    r.set_address(fmt::format("127.0.0.1:{}", 7000 + node));
    for (auto [t, s] : targets) {
      auto* th = r.add_targets();
      th->set_target_id(t);
      th->set_local_state(s);
    }
    return r;
  }

  // Three storage nodes with one target each, one chain of three, a table of one chain.
  void MakeChain() {
    for (uint32_t n : {11, 12, 13}) Register(n, NODE_STORAGE);
    CreateTargetsReq ct;
    for (uint32_t n : {11, 12, 13}) {
      auto* t = ct.add_targets();
      t->set_target_id(n * 100);
      t->set_node_id(n);
    }
    ASSERT_TRUE(CreateTargets(*ctx_, ct).ok());
    UploadChainsReq uc;
    auto* c = uc.add_chains();
    c->set_chain_id(1);
    for (uint32_t n : {11, 12, 13}) c->add_targets()->set_target_id(n * 100);
    auto st = UploadChains(*ctx_, uc);
    ASSERT_TRUE(st.ok()) << st.status();
  }

  void HeartbeatAll(std::map<uint32_t, LocalTargetState> states) {
    for (auto [n, s] : states) {
      auto r = Heartbeat(*ctx_, Hb(n, {{n * 100, s}}));
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

  std::string ChainStates() {
    auto chains = ListChains(*ctx_, ListChainsReq());
    EXPECT_TRUE(chains.ok());
    return Describe(ToChain(chains->chains(0)));
  }

  MgmtdConfig cfg_;
  std::unique_ptr<kv::Engine> engine_ = kv::OpenMemoryEngine();
  MgmtdState state_;
  std::atomic<uint64_t> now_ms_{WallClockMs()};
  std::unique_ptr<OpContext> ctx_;
  uint64_t hb_version_ = 0;
};

TEST_F(MgmtdOpsTest, InitClusterIsIdempotentButRefusesAnotherId) {
  EXPECT_TRUE(InitCluster(*ctx_, Init("test-cluster")).ok());
  EXPECT_EQ(InitCluster(*ctx_, Init("other")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(InitCluster(*ctx_, Init("")).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(MgmtdOpsTest, NodeRegistrationEnableTagsAndErrorsThatSayWhatToDo) {
  Register(10, NODE_META);
  Register(10, NODE_META);  // idempotent
  RegisterNodeReq other;
  other.set_node_id(10);
  other.set_type(NODE_STORAGE);
  EXPECT_EQ(RegisterNode(*ctx_, other).status().code(), StatusCode::kMgmtdNodeExists);

  SetNodeEnabledReq en;
  en.set_node_id(99);
  auto missing = SetNodeEnabled(*ctx_, en);
  EXPECT_EQ(missing.status().code(), StatusCode::kMgmtdNodeNotFound);
  EXPECT_NE(missing.status().message().find("hf3fs admin register-node 99"), std::string::npos);

  SetNodeTagsReq tags;
  tags.set_node_id(10);
  tags.set_mode(TAG_UPSERT);
  auto* t = tags.add_tags();
  t->set_key("zone");
  t->set_value("a");
  ASSERT_EQ(SetNodeTags(*ctx_, tags)->tags_size(), 1);
  t->set_value("b");
  auto up = SetNodeTags(*ctx_, tags);
  ASSERT_EQ(up->tags_size(), 1);
  EXPECT_EQ(up->tags(0).value(), "b");
  tags.set_mode(TAG_REMOVE);
  EXPECT_EQ(SetNodeTags(*ctx_, tags)->tags_size(), 0);

  auto nodes = ListNodes(*ctx_, ListNodesReq());
  ASSERT_EQ(nodes->nodes_size(), 1);
  EXPECT_EQ(nodes->nodes(0).status(), NODE_HEARTBEAT_FAILED);

  UnregisterNodeReq un;
  un.set_node_id(10);
  EXPECT_TRUE(UnregisterNode(*ctx_, un).ok());
  EXPECT_EQ(ListNodes(*ctx_, ListNodesReq())->nodes_size(), 0);
}

TEST_F(MgmtdOpsTest, HeartbeatsAreValidated) {
  auto unknown = Heartbeat(*ctx_, Hb(5));
  EXPECT_EQ(unknown.status().code(), StatusCode::kMgmtdNodeNotFound);
  Register(5, NODE_STORAGE);
  auto hb = Hb(5);
  ASSERT_TRUE(Heartbeat(*ctx_, hb).ok());
  EXPECT_EQ(Heartbeat(*ctx_, hb).status().code(), StatusCode::kMgmtdStaleHeartbeat);
  auto skewed = Hb(5);
  skewed.set_sent_unix_ms(now_ms_ + 3600 * 1000);
  EXPECT_EQ(Heartbeat(*ctx_, skewed).status().code(), StatusCode::kMgmtdClockSkew);
  auto wrong_cluster = Hb(5);
  wrong_cluster.set_cluster_id("someone-else");
  auto wc = Heartbeat(*ctx_, wrong_cluster);
  EXPECT_EQ(wc.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wc.status().message().find("someone-else"), std::string::npos);
  auto wrong_type = Hb(5);
  wrong_type.set_type(NODE_META);
  EXPECT_EQ(Heartbeat(*ctx_, wrong_type).status().code(), StatusCode::kMgmtdWrongNodeType);
  SetNodeEnabledReq dis;
  dis.set_node_id(5);
  dis.set_enabled(false);
  ASSERT_TRUE(SetNodeEnabled(*ctx_, dis).ok());
  EXPECT_EQ(Heartbeat(*ctx_, Hb(5)).status().code(), StatusCode::kMgmtdNodeDisabled);
  // Auto-registration when configured.
  ASSERT_TRUE(cfg_.mgmtd.allow_auto_register.Set(true).ok());
  EXPECT_TRUE(Heartbeat(*ctx_, Hb(6)).ok());
}

TEST_F(MgmtdOpsTest, HeartbeatRepliesCarryNewerConfig) {
  Register(5, NODE_STORAGE);
  SetConfigReq sc;
  sc.set_node_type(NODE_STORAGE);
  sc.set_toml("[log]\nlevel = \"debug\"\n");
  ASSERT_EQ(SetConfig(*ctx_, sc)->version(), 1u);
  auto hb = Heartbeat(*ctx_, Hb(5));
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(hb->config().version(), 1u);
  auto current = Hb(5);
  current.set_config_version(1);
  EXPECT_FALSE(Heartbeat(*ctx_, current)->has_config());
  GetConfigReq gc;
  gc.set_node_type(NODE_STORAGE);
  EXPECT_EQ(GetConfig(*ctx_, gc)->config().toml(), "[log]\nlevel = \"debug\"\n");
  gc.set_version(7);
  EXPECT_EQ(GetConfig(*ctx_, gc).status().code(), StatusCode::kNotFound);
}

TEST_F(MgmtdOpsTest, RoutingInfoIsVersionedAndUnchangedWhenCurrent) {
  MakeChain();
  auto r1 = GetRoutingInfo(*ctx_, GetRoutingInfoReq());
  ASSERT_TRUE(r1.ok());
  EXPECT_FALSE(r1->unchanged());
  EXPECT_EQ(r1->info().cluster_id(), "test-cluster");
  EXPECT_EQ(r1->info().chains_size(), 1);
  EXPECT_EQ(r1->info().targets_size(), 3);
  GetRoutingInfoReq known;
  known.set_known_version(r1->info().version());
  EXPECT_TRUE(GetRoutingInfo(*ctx_, known)->unchanged());
  Register(20, NODE_META);
  auto r2 = GetRoutingInfo(*ctx_, known);
  EXPECT_FALSE(r2->unchanged());
  EXPECT_GT(r2->info().version(), r1->info().version());
}

TEST_F(MgmtdOpsTest, ChainsAndTablesAreValidated) {
  MakeChain();
  UploadChainsReq dup;
  auto* c = dup.add_chains();
  c->set_chain_id(2);
  c->add_targets()->set_target_id(1100);  // already in chain 1
  EXPECT_EQ(UploadChains(*ctx_, dup).status().code(), StatusCode::kMgmtdInvalidChain);
  c->mutable_targets(0)->set_target_id(999);
  EXPECT_EQ(UploadChains(*ctx_, dup).status().code(), StatusCode::kMgmtdTargetNotFound);

  UploadChainTableReq t;
  t.set_table_id(1);
  t.add_chain_ids(1);
  EXPECT_EQ(UploadChainTable(*ctx_, t)->version(), 1u);
  EXPECT_EQ(UploadChainTable(*ctx_, t)->version(), 1u);  // same list: same version
  t.add_chain_ids(1);
  EXPECT_EQ(UploadChainTable(*ctx_, t)->version(), 2u);  // tables are immutable: a new version
  t.add_chain_ids(42);
  EXPECT_EQ(UploadChainTable(*ctx_, t).status().code(), StatusCode::kMgmtdChainNotFound);
  EXPECT_EQ(ListChainTables(*ctx_, ListChainTablesReq())->tables_size(), 2);

  // A fourth target is an orphan until added to the chain.
  Register(14, NODE_STORAGE);
  CreateTargetsReq ct;
  auto* nt = ct.add_targets();
  nt->set_target_id(1400);
  nt->set_node_id(14);
  ASSERT_TRUE(CreateTargets(*ctx_, ct).ok());
  ListTargetsReq orphans;
  orphans.set_orphans_only(true);
  ASSERT_EQ(ListTargets(*ctx_, orphans)->targets_size(), 1);
  UpdateChainReq add;
  add.set_chain_id(1);
  add.set_target_id(1400);
  auto added = UpdateChain(*ctx_, add);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->chain().targets_size(), 4);
  EXPECT_EQ(ListTargets(*ctx_, orphans)->targets_size(), 0);
  add.set_mode(CHAIN_REMOVE_TARGET);
  EXPECT_TRUE(UpdateChain(*ctx_, add).ok());
  EXPECT_EQ(ListTargets(*ctx_, orphans)->targets_size(), 1);
}

TEST_F(MgmtdOpsTest, ChainUpdaterFollowsHeartbeats) {
  MakeChain();
  // The fresh primary is bootstrapping for one heartbeat timeout: no chain changes meanwhile.
  EXPECT_EQ(*UpdateChains(*ctx_), 0u);
  std::this_thread::sleep_for(350ms);
  ASSERT_TRUE(RenewLease(*ctx_, NodeId(1), "0.1.0").value());
  HeartbeatAll({{11, UPTODATE}, {12, UPTODATE}, {13, UPTODATE}});
  EXPECT_EQ(*UpdateChains(*ctx_), 0u);
  EXPECT_EQ(ChainStates(), "chain 1 v1 [1100:SERVING 1200:SERVING 1300:SERVING]");

  // Node 11 stops heartbeating: after the timeout its target leaves SERVING and goes to the tail.
  std::this_thread::sleep_for(200ms);
  HeartbeatAll({{12, UPTODATE}, {13, UPTODATE}});
  std::this_thread::sleep_for(150ms);
  HeartbeatAll({{12, UPTODATE}, {13, UPTODATE}});
  EXPECT_EQ(*UpdateChains(*ctx_), 1u);
  EXPECT_EQ(ChainStates(), "chain 1 v2 [1200:SERVING 1300:SERVING 1100:OFFLINE]");
  auto nodes = ListNodes(*ctx_, ListNodesReq());
  EXPECT_EQ(nodes->nodes(0).status(), NODE_HEARTBEAT_FAILED);

  // It restarts: reports OFFLINE first (restart protocol), then ONLINE -> SYNCING.
  HeartbeatAll({{11, LOCAL_OFFLINE}, {12, UPTODATE}, {13, UPTODATE}});
  EXPECT_EQ(*UpdateChains(*ctx_), 0u);
  HeartbeatAll({{11, ONLINE}, {12, UPTODATE}, {13, UPTODATE}});
  EXPECT_EQ(*UpdateChains(*ctx_), 1u);
  EXPECT_EQ(ChainStates(), "chain 1 v3 [1200:SERVING 1300:SERVING 1100:SYNCING]");
  // Resync finished: UPTODATE -> SERVING as the tail.
  HeartbeatAll({{11, UPTODATE}, {12, UPTODATE}, {13, UPTODATE}});
  EXPECT_EQ(*UpdateChains(*ctx_), 1u);
  EXPECT_EQ(ChainStates(), "chain 1 v4 [1200:SERVING 1300:SERVING 1100:SERVING]");

  // Disabling a node takes its targets out of service like a failure.
  SetNodeEnabledReq dis;
  dis.set_node_id(13);
  ASSERT_TRUE(SetNodeEnabled(*ctx_, dis).ok());
  EXPECT_EQ(*UpdateChains(*ctx_), 1u);
  EXPECT_EQ(ChainStates(), "chain 1 v5 [1200:SERVING 1100:SERVING 1300:OFFLINE]");
}

TEST_F(MgmtdOpsTest, LastServingReplicaAndRotateLastSrv) {
  MakeChain();
  std::this_thread::sleep_for(350ms);
  ASSERT_TRUE(RenewLease(*ctx_, NodeId(1), "0.1.0").value());
  // Nobody heartbeats: everyone fails, the head becomes LASTSRV.
  EXPECT_EQ(*UpdateChains(*ctx_), 1u);
  EXPECT_EQ(ChainStates(), "chain 1 v2 [1100:LASTSRV 1200:OFFLINE 1300:OFFLINE]");
  HeartbeatAll({{12, ONLINE}});
  EXPECT_EQ(*UpdateChains(*ctx_), 1u);
  EXPECT_EQ(ChainStates(), "chain 1 v3 [1100:LASTSRV 1200:WAITING 1300:OFFLINE]");
  RotateLastSrvReq rot;
  rot.set_chain_id(1);
  auto r = RotateLastSrvOp(*ctx_, rot);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ChainStates(), "chain 1 v4 [1200:SERVING 1300:OFFLINE 1100:OFFLINE]");
  EXPECT_EQ(RotateLastSrvOp(*ctx_, rot).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(MgmtdOpsTest, ShutdownAllChainsKeepsTheHeadAsLastServing) {
  MakeChain();
  auto r = ShutdownAllChains(*ctx_, ShutdownAllChainsReq());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->chains(), 1u);
  EXPECT_EQ(ChainStates(), "chain 1 v2 [1100:LASTSRV 1200:OFFLINE 1300:OFFLINE]");
  // Nodes return: the LASTSRV head serves again, then the others resync one at a time.
  std::this_thread::sleep_for(350ms);
  ASSERT_TRUE(RenewLease(*ctx_, NodeId(1), "0.1.0").value());
  HeartbeatAll({{11, ONLINE}, {12, ONLINE}, {13, ONLINE}});
  EXPECT_EQ(*UpdateChains(*ctx_), 1u);
  EXPECT_EQ(ChainStates(), "chain 1 v3 [1100:SERVING 1200:SYNCING 1300:WAITING]");
}

TEST_F(MgmtdOpsTest, StandbyRefusesChangesAndNamesThePrimary) {
  MgmtdState standby_state;
  OpContext standby{*engine_, cfg_.mgmtd, standby_state, kv::RetryOptions{}, "127.0.0.1:9001",
                    [this] { return now_ms_.load(); }};
  EXPECT_FALSE(RenewLease(standby, NodeId(2), "0.1.0").value());
  auto st = RegisterNode(standby, RegisterNodeReq());
  EXPECT_EQ(st.status().code(), StatusCode::kMgmtdNotPrimary);
  EXPECT_NE(st.status().message().find("127.0.0.1:9000"), std::string::npos) << st.status();
  auto p = GetPrimary(standby, GetPrimaryReq());
  EXPECT_FALSE(p->is_primary());
  EXPECT_EQ(p->primary_address(), "127.0.0.1:9000");
  // Node and target states live in the primary's memory (heartbeats): a standby does not make
  // them up, it names the primary.
  auto nodes = ListNodes(standby, ListNodesReq());
  EXPECT_EQ(nodes.status().code(), StatusCode::kMgmtdNotPrimary);
  EXPECT_NE(nodes.status().message().find("127.0.0.1:9000"), std::string::npos);
  EXPECT_EQ(ListTargets(standby, ListTargetsReq()).status().code(), StatusCode::kMgmtdNotPrimary);
  EXPECT_TRUE(ListNodes(*ctx_, ListNodesReq()).ok());
  // The lease expires (the primary stopped renewing): the standby takes over with a new term.
  now_ms_ += 3000;
  EXPECT_TRUE(RenewLease(standby, NodeId(2), "0.1.0").value());
  EXPECT_GT(GetPrimary(standby, GetPrimaryReq())->term(), p->term());
  // The old primary still believes it holds the lease (its own clock has not run out), but a chain
  // update is fenced by the lease record it reads in the same transaction.
  std::this_thread::sleep_for(350ms);  // past its bootstrapping window
  ASSERT_TRUE(state_.IsPrimary());
  EXPECT_EQ(UpdateChains(*ctx_).status().code(), StatusCode::kMgmtdNotPrimary);
  // An older release never takes over from a newer one.
  now_ms_ += 3000;
  MgmtdState old_state;
  OpContext old{*engine_, cfg_.mgmtd, old_state, kv::RetryOptions{}, "127.0.0.1:9002",
                [this] { return now_ms_.load(); }};
  EXPECT_FALSE(RenewLease(old, NodeId(3), "0.0.9").value());
}

TEST_F(MgmtdOpsTest, ClientSessionsExtendListAndExpire) {
  ExtendClientSessionReq ext;
  ext.set_client_id(77);
  ext.set_hostname("worker-1");
  ASSERT_TRUE(ExtendClientSession(*ctx_, ext).ok());
  EXPECT_EQ(ListClientSessions(*ctx_, ListClientSessionsReq())->sessions_size(), 1);
  now_ms_ += 61 * 1000;
  EXPECT_EQ(ListClientSessions(*ctx_, ListClientSessionsReq())->sessions_size(), 0);
  EXPECT_EQ(*ExpireClientSessions(*ctx_), 1u);
  EXPECT_EQ(*ExpireClientSessions(*ctx_), 0u);
}

TEST_F(MgmtdOpsTest, UsersTokensAndAuthentication) {
  AddUserReq add;
  add.set_uid(0);
  add.set_name("root");
  add.set_admin(true);
  auto root = AddUser(*ctx_, add);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->token().size(), 32u);
  EXPECT_EQ(AddUser(*ctx_, add).status().code(), StatusCode::kAlreadyExists);
  add.set_uid(1000);
  add.set_name("alice");
  add.set_admin(false);
  auto alice = AddUser(*ctx_, add);

  ASSERT_TRUE(cfg_.mgmtd.auth_required.Set(true).ok());
  EXPECT_TRUE(CheckAdmin(*ctx_, root->token()).ok());
  EXPECT_EQ(CheckAdmin(*ctx_, alice->token()).code(), StatusCode::kMgmtdAuthFailed);
  EXPECT_EQ(CheckAdmin(*ctx_, "").code(), StatusCode::kMgmtdAuthFailed);
  EXPECT_EQ(CheckAdmin(*ctx_, "0123").code(), StatusCode::kMgmtdAuthFailed);

  // Rotation: the new token works, the old one after its grace period does not.
  SetUserTokenReq rot;
  rot.set_uid(0);
  rot.set_old_token_ttl_ms(1000);
  auto fresh = SetUserToken(*ctx_, rot);
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(CheckAdmin(*ctx_, root->token()).ok());
  now_ms_ += 2000;
  EXPECT_EQ(CheckAdmin(*ctx_, root->token()).code(), StatusCode::kMgmtdAuthFailed);
  EXPECT_TRUE(CheckAdmin(*ctx_, fresh->token()).ok());
  auto users = ListUsers(*ctx_, ListUsersReq());
  ASSERT_EQ(users->users_size(), 2);
  EXPECT_EQ(users->users(0).tokens(0).token(), "<redacted>");
  RemoveUserReq rm;
  rm.set_uid(1000);
  EXPECT_TRUE(RemoveUser(*ctx_, rm).ok());
  EXPECT_EQ(RemoveUser(*ctx_, rm).status().code(), StatusCode::kMgmtdUserNotFound);
}

}  // namespace
}  // namespace hf3fs::mgmtd
