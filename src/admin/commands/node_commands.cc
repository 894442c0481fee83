// init-cluster, register-node, unregister-node, enable-node, disable-node, set-node-tags,
// list-nodes, who-is-primary, list-clients.
#include <iostream>

#include "admin/admin_command.h"

namespace hf3fs::admin {
namespace {

Result<mgmtd::NodeType> ParseNodeType(const std::string& s) {
  if (s == "mgmtd") return mgmtd::NODE_MGMTD;
  if (s == "meta") return mgmtd::NODE_META;
  if (s == "storage") return mgmtd::NODE_STORAGE;
  if (s == "client") return mgmtd::NODE_CLIENT;
  if (s == "fuse") return mgmtd::NODE_FUSE;
  return MakeStatus(StatusCode::kInvalidArgument,
                    "unknown node type '{}': use mgmtd, meta, storage, client or fuse", s);
}

void PrintOk(const nlohmann::json&) { std::cout << "ok\n"; }

struct Args {
  AdminOptions o;
  uint32_t node_id = 0;
  std::string text;
  std::vector<std::string> list;
  std::string mode = "replace";
};

}  // namespace

Result<mgmtd::NodeType> ParseNodeTypeName(const std::string& s) { return ParseNodeType(s); }

void AddNodeCommands(CLI::App& admin, CliContext& ctx) {
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("init-cluster", "initialize a new cluster's state in mgmtd");
    cmd->add_option("cluster_id", a->text, "a name for the cluster")->required();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      mgmtd::InitClusterReq req;
      req.set_cluster_id(a->text);
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::InitClusterRsp>(mgmtd::MGMTD_INIT_CLUSTER, req), PrintOk);
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("register-node", "register a node id with its type");
    cmd->add_option("node_id", a->node_id, "node id")->required();
    cmd->add_option("type", a->text, "mgmtd, meta, storage, client or fuse")
        ->required()
        ->check(CLI::IsMember(kNodeTypes));
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      auto type = ParseNodeType(a->text);  // validated by kNodeTypes
      mgmtd::RegisterNodeReq req;
      req.set_node_id(a->node_id);
      req.set_type(*type);
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::RegisterNodeRsp>(mgmtd::MGMTD_REGISTER_NODE, req), PrintOk);
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("unregister-node", "remove a node that has no targets");
    cmd->add_option("node_id", a->node_id, "node id")->required();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      mgmtd::UnregisterNodeReq req;
      req.set_node_id(a->node_id);
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::UnregisterNodeRsp>(mgmtd::MGMTD_UNREGISTER_NODE, req), PrintOk);
    });
  }
  for (bool enable : {true, false}) {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand(
        enable ? "enable-node" : "disable-node",
        enable ? "accept a node's heartbeats again"
               : "refuse a node's heartbeats (its targets leave their chains as if it failed)");
    cmd->add_option("node_id", a->node_id, "node id")->required();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, enable, &ctx] {
      mgmtd::SetNodeEnabledReq req;
      req.set_node_id(a->node_id);
      req.set_enabled(enable);
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::SetNodeEnabledRsp>(mgmtd::MGMTD_SET_NODE_ENABLED, req), PrintOk);
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("set-node-tags", "set a node's tags (key=value ...)");
    cmd->add_option("node_id", a->node_id, "node id")->required();
    cmd->add_option("tags", a->list, "key=value pairs (keys only for --mode remove)");
    cmd->add_option("--mode", a->mode, "replace, upsert or remove")
        ->check(CLI::IsMember({"replace", "upsert", "remove"}))
        ->capture_default_str();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      mgmtd::SetNodeTagsReq req;
      req.set_node_id(a->node_id);
      req.set_mode(a->mode == "upsert"   ? mgmtd::TAG_UPSERT
                   : a->mode == "remove" ? mgmtd::TAG_REMOVE
                                         : mgmtd::TAG_REPLACE);
      for (auto& kv : a->list) {
        auto eq = kv.find('=');
        auto* t = req.add_tags();
        t->set_key(kv.substr(0, eq));
        if (eq != std::string::npos) t->set_value(kv.substr(eq + 1));
      }
      ctx.exit_code =
          RunAdmin(a->o, CallFn<mgmtd::SetNodeTagsRsp>(mgmtd::MGMTD_SET_NODE_TAGS, req),
                   [](const nlohmann::json& j) { std::cout << j["tags"].dump() << "\n"; });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("list-nodes", "list nodes with their heartbeat status");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::ListNodesRsp>(mgmtd::MGMTD_LIST_NODES, mgmtd::ListNodesReq()),
          [](const nlohmann::json& j) {
            std::vector<std::vector<std::string>> rows;
            for (auto& n : j["nodes"]) {
              rows.push_back({std::to_string(n["node_id"].get<uint32_t>()),
                              n["type"].get<std::string>(), n["status"].get<std::string>(),
                              n["address"].get<std::string>()});
            }
            PrintTable({"NODE", "TYPE", "STATUS", "ADDRESS"}, rows);
          });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand(
        "who-is-primary", "ask the first --mgmtd address which mgmtd holds the primary lease");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::GetPrimaryRsp>(mgmtd::MGMTD_GET_PRIMARY, mgmtd::GetPrimaryReq()),
          [](const nlohmann::json& j) {
            std::cout << (j["is_primary"].get<bool>() ? "this mgmtd is the primary"
                                                      : "this mgmtd is a standby")
                      << "; primary: node " << j["primary_node_id"] << " at "
                      << j["primary_address"].get<std::string>() << "\n";
          });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("list-clients", "list live client sessions");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o,
          CallFn<mgmtd::ListClientSessionsRsp>(mgmtd::MGMTD_LIST_CLIENT_SESSIONS,
                                               mgmtd::ListClientSessionsReq()),
          [](const nlohmann::json& j) {
            std::vector<std::vector<std::string>> rows;
            for (auto& s : j["sessions"]) {
              rows.push_back({s["client_id"].get<std::string>(), s["hostname"].get<std::string>(),
                              s["description"].get<std::string>()});
            }
            PrintTable({"CLIENT", "HOST", "DESCRIPTION"}, rows);
          });
    });
  }
}

}  // namespace hf3fs::admin
