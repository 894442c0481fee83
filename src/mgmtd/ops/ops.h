// mgmtd operations as plain synchronous functions over the KV store and the soft state. The RPC
// service runs them on its offload pool; tests call them directly. Each is one KV transaction
// (retried by kv::RunTransaction) unless it says otherwise.
//
// Ops that change the cluster require the primary (kMgmtdNotPrimary otherwise, with the primary's
// address) and an initialized cluster (kMgmtdClusterNotInitialized with the command to run).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "kv/engine.h"
#include "kv/retry.h"
#include "mgmtd.pb.h"
#include "mgmtd/mgmtd_config.h"
#include "mgmtd/service/mgmtd_state.h"

namespace hf3fs::mgmtd {

struct OpContext {
  kv::Engine& engine;
  const MgmtdSection& config;
  MgmtdState& state;
  kv::RetryOptions retry;
  std::string self_address;  // this mgmtd's advertised RPC address
  std::function<uint64_t()> now_unix_ms;  // wall clock (injectable in tests)
};

uint64_t WallClockMs();

// Fails with kMgmtdNotPrimary unless this process holds the lease.
Status CheckPrimary(OpContext& ctx);
// With mgmtd.auth_required: kMgmtdAuthFailed unless `token` belongs to an admin user and has not
// expired. Always ok otherwise.
Status CheckAdmin(OpContext& ctx, const std::string& token);

// Cluster and nodes (ops/node_ops.cc).
Result<InitClusterRsp> InitCluster(OpContext& ctx, const InitClusterReq& req);
Result<RegisterNodeRsp> RegisterNode(OpContext& ctx, const RegisterNodeReq& req);
Result<UnregisterNodeRsp> UnregisterNode(OpContext& ctx, const UnregisterNodeReq& req);
Result<SetNodeEnabledRsp> SetNodeEnabled(OpContext& ctx, const SetNodeEnabledReq& req);
Result<SetNodeTagsRsp> SetNodeTags(OpContext& ctx, const SetNodeTagsReq& req);
Result<ListNodesRsp> ListNodes(OpContext& ctx, const ListNodesReq& req);

// Heartbeats (ops/heartbeat.cc).
Result<HeartbeatRsp> Heartbeat(OpContext& ctx, const HeartbeatReq& req);

// Routing info (ops/routing.cc). Any mgmtd may build it from the store; only the primary has
// heartbeats, so a standby reports every node as failed.
Result<std::shared_ptr<const RoutingInfo>> BuildRoutingInfo(OpContext& ctx);
Result<GetRoutingInfoRsp> GetRoutingInfo(OpContext& ctx, const GetRoutingInfoReq& req);
Result<GetPrimaryRsp> GetPrimary(OpContext& ctx, const GetPrimaryReq& req);

// Targets, chains, chain tables (ops/chain_ops.cc).
Result<CreateTargetsRsp> CreateTargets(OpContext& ctx, const CreateTargetsReq& req);
Result<ListTargetsRsp> ListTargets(OpContext& ctx, const ListTargetsReq& req);
Result<UploadChainsRsp> UploadChains(OpContext& ctx, const UploadChainsReq& req);
Result<UploadChainTableRsp> UploadChainTable(OpContext& ctx, const UploadChainTableReq& req);
Result<UpdateChainRsp> UpdateChain(OpContext& ctx, const UpdateChainReq& req);
Result<RotateLastSrvRsp> RotateLastSrvOp(OpContext& ctx, const RotateLastSrvReq& req);
Result<SetPreferredOrderRsp> SetPreferredOrder(OpContext& ctx, const SetPreferredOrderReq& req);
Result<ShutdownAllChainsRsp> ShutdownAllChains(OpContext& ctx, const ShutdownAllChainsReq& req);
Result<ListChainsRsp> ListChains(OpContext& ctx, const ListChainsReq& req);
Result<ListChainTablesRsp> ListChainTables(OpContext& ctx, const ListChainTablesReq& req);

// Config store (ops/config_ops.cc).
Result<SetConfigRsp> SetConfig(OpContext& ctx, const SetConfigReq& req);
Result<GetConfigRsp> GetConfig(OpContext& ctx, const GetConfigReq& req);

// Client sessions (ops/session_ops.cc).
Result<ExtendClientSessionRsp> ExtendClientSession(OpContext& ctx,
                                                   const ExtendClientSessionReq& req);
Result<ListClientSessionsRsp> ListClientSessions(OpContext& ctx,
                                                 const ListClientSessionsReq& req);
// Removes sessions not extended within the timeout; returns how many.
Result<uint32_t> ExpireClientSessions(OpContext& ctx);

// Users and tokens (ops/user_ops.cc).
Result<AddUserRsp> AddUser(OpContext& ctx, const AddUserReq& req);
Result<RemoveUserRsp> RemoveUser(OpContext& ctx, const RemoveUserReq& req);
Result<ListUsersRsp> ListUsers(OpContext& ctx, const ListUsersReq& req);
Result<SetUserTokenRsp> SetUserToken(OpContext& ctx, const SetUserTokenReq& req);

// Background steps (background/*.cc), run by the primary's loops.
// Recomputes every chain from heartbeats; writes changed chains and bumps the routing version.
// Returns how many chains changed. Does nothing while bootstrapping.
Result<uint32_t> UpdateChains(OpContext& ctx);
// Takes or renews the lease; updates ctx.state. Returns whether this mgmtd is primary.
Result<bool> RenewLease(OpContext& ctx, NodeId self, const std::string& release_version);

// Conversions between the state machine's types and records.
Chain ToChain(const ChainRecord& r);
ChainRecord ToRecord(const Chain& c, const ChainRecord& base);

}  // namespace hf3fs::mgmtd
