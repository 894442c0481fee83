#include "mgmtd/service/mgmtd_service.h"

#include "rpc.pb.h"

namespace hf3fs::mgmtd {

template <typename Req, typename Rsp>
void MgmtdService::Add(net::ServiceRegistry& r, uint32_t method, std::string name,
                       Result<Rsp> (*op)(OpContext&, const Req&), bool admin, net::Access access) {
  r.RegisterMethod<Req, Rsp>(
      rpc::SERVICE_MGMTD, method, "mgmtd", std::move(name),
      [this, op, admin](const Req& req, Rsp& rsp,
                        net::RequestContext& rctx) -> net::awaitable<Status> {
        const std::string& token = rctx.token;
        auto result = co_await pool_.Run([&]() -> Result<Rsp> {
          if (admin) HF3FS_TRY(CheckAdmin(ctx_, token));
          return op(ctx_, req);
        });
        if (!result.ok()) co_return result.status();
        rsp = std::move(*result);
        co_return Status::Ok();
      },
      admin ? net::kAdminRole : access);
}

void MgmtdService::Register(net::ServiceRegistry& r) {
  constexpr bool kAdmin = true, kOpen = false;
  Add(r, MGMTD_GET_PRIMARY, "get_primary", &GetPrimary, kOpen);
  Add(r, MGMTD_INIT_CLUSTER, "init_cluster", &InitCluster, kAdmin);
  Add(r, MGMTD_REGISTER_NODE, "register_node", &RegisterNode, kAdmin);
  Add(r, MGMTD_UNREGISTER_NODE, "unregister_node", &UnregisterNode, kAdmin);
  Add(r, MGMTD_SET_NODE_ENABLED, "set_node_enabled", &SetNodeEnabled, kAdmin);
  Add(r, MGMTD_SET_NODE_TAGS, "set_node_tags", &SetNodeTags, kAdmin);
  Add(r, MGMTD_LIST_NODES, "list_nodes", &ListNodes, kOpen);
  // Only servers heartbeat (a forged heartbeat would fence a live node).
  Add(r, MGMTD_HEARTBEAT, "heartbeat", &Heartbeat, kOpen, net::kServersAndAdmins);
  Add(r, MGMTD_GET_ROUTING_INFO, "get_routing_info", &GetRoutingInfo, kOpen);
  Add(r, MGMTD_CREATE_TARGETS, "create_targets", &CreateTargets, kAdmin);
  Add(r, MGMTD_LIST_TARGETS, "list_targets", &ListTargets, kOpen);
  Add(r, MGMTD_UPLOAD_CHAINS, "upload_chains", &UploadChains, kAdmin);
  Add(r, MGMTD_UPLOAD_CHAIN_TABLE, "upload_chain_table", &UploadChainTable, kAdmin);
  Add(r, MGMTD_UPDATE_CHAIN, "update_chain", &UpdateChain, kAdmin);
  Add(r, MGMTD_ROTATE_LASTSRV, "rotate_lastsrv", &RotateLastSrvOp, kAdmin);
  Add(r, MGMTD_SET_PREFERRED_ORDER, "set_preferred_order", &SetPreferredOrder, kAdmin);
  Add(r, MGMTD_SHUTDOWN_ALL_CHAINS, "shutdown_all_chains", &ShutdownAllChains, kAdmin);
  Add(r, MGMTD_LIST_CHAINS, "list_chains", &ListChains, kOpen);
  Add(r, MGMTD_LIST_CHAIN_TABLES, "list_chain_tables", &ListChainTables, kOpen);
  Add(r, MGMTD_SET_CONFIG, "set_config", &SetConfig, kAdmin);
  Add(r, MGMTD_GET_CONFIG, "get_config", &GetConfig, kOpen);
  Add(r, MGMTD_EXTEND_CLIENT_SESSION, "extend_client_session", &ExtendClientSession, kOpen);
  Add(r, MGMTD_LIST_CLIENT_SESSIONS, "list_client_sessions", &ListClientSessions, kOpen);
  Add(r, MGMTD_ADD_USER, "add_user", &AddUser, kAdmin);
  Add(r, MGMTD_REMOVE_USER, "remove_user", &RemoveUser, kAdmin);
  Add(r, MGMTD_LIST_USERS, "list_users", &ListUsers, kAdmin);
  Add(r, MGMTD_SET_USER_TOKEN, "set_user_token", &SetUserToken, kAdmin);
}

}  // namespace hf3fs::mgmtd
