// set-config, get-config: the versioned config store in mgmtd, per node type.
#include <fstream>
#include <iostream>
#include <sstream>

#include "admin/admin_command.h"

namespace hf3fs::admin {

Result<mgmtd::NodeType> ParseNodeTypeName(const std::string& s);

namespace {
struct Args {
  AdminOptions o;
  std::string type, file, description;
  uint64_t version = 0;
};
}  // namespace

void AddConfigCommands(CLI::App& admin, CliContext& ctx) {
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand(
        "set-config", "store a new config version for a node type; running nodes of that type "
                      "apply its hot-updatable keys on their next heartbeat");
    cmd->add_option("type", a->type, "mgmtd, meta, storage, client or fuse")
        ->required()
        ->check(CLI::IsMember(kNodeTypes));
    cmd->add_option("file", a->file, "TOML file")->required()->check(CLI::ExistingFile);
    cmd->add_option("--description", a->description, "why it changed");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      auto type = ParseNodeTypeName(a->type);  // validated by kNodeTypes
      std::ifstream in(a->file);
      std::stringstream ss;
      ss << in.rdbuf();
      mgmtd::SetConfigReq req;
      req.set_node_type(*type);
      req.set_toml(ss.str());
      req.set_description(a->description);
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::SetConfigRsp>(mgmtd::MGMTD_SET_CONFIG, req),
          [](const nlohmann::json& j) { std::cout << "version " << j["version"].get<std::string>() << "\n"; });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("get-config", "print a node type's stored config");
    cmd->add_option("type", a->type, "mgmtd, meta, storage, client or fuse")
        ->required()
        ->check(CLI::IsMember(kNodeTypes));
    cmd->add_option("--version", a->version, "a specific version (default: the latest)");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      auto type = ParseNodeTypeName(a->type);  // validated by kNodeTypes
      mgmtd::GetConfigReq req;
      req.set_node_type(*type);
      req.set_version(a->version);
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::GetConfigRsp>(mgmtd::MGMTD_GET_CONFIG, req),
          [](const nlohmann::json& j) {
            if (!j.contains("config") || j["config"].is_null()) {
              std::cout << "# no config stored for this node type\n";
              return;
            }
            std::cout << "# version " << j["config"]["version"].get<std::string>() << "\n"
                      << j["config"]["toml"].get<std::string>();
          });
    });
  }
}

}  // namespace hf3fs::admin
