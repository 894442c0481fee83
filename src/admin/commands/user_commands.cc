// user-add, user-remove, user-list, user-set-token.
#include <iostream>

#include "admin/admin_command.h"

namespace hf3fs::admin {
namespace {
struct Args {
  AdminOptions o;
  uint32_t uid = 0;
  std::string name;
  std::vector<uint32_t> gids;
  bool admin = false;
  double ttl_s = 0, old_ttl_s = 0;
};
void PrintToken(const nlohmann::json& j) { std::cout << j["token"].get<std::string>() << "\n"; }
}  // namespace

void AddUserCommands(CLI::App& admin, CliContext& ctx) {
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("user-add", "add a user; prints its token");
    cmd->add_option("uid", a->uid, "user id")->required();
    cmd->add_option("name", a->name, "user name")->required();
    cmd->add_option("--gids", a->gids, "supplementary group ids");
    cmd->add_flag("--admin", a->admin, "may run admin commands");
    cmd->add_option("--token-ttl", a->ttl_s, "token lifetime in seconds (0: never expires)");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      mgmtd::AddUserReq req;
      req.set_uid(a->uid);
      req.set_name(a->name);
      for (auto g : a->gids) req.add_gids(g);
      req.set_admin(a->admin);
      req.set_token_ttl_ms(static_cast<uint64_t>(a->ttl_s * 1000));
      ctx.exit_code =
          RunAdmin(a->o, CallFn<mgmtd::AddUserRsp>(mgmtd::MGMTD_ADD_USER, req), PrintToken);
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("user-remove", "remove a user and its tokens");
    cmd->add_option("uid", a->uid, "user id")->required();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      mgmtd::RemoveUserReq req;
      req.set_uid(a->uid);
      ctx.exit_code = RunAdmin(a->o, CallFn<mgmtd::RemoveUserRsp>(mgmtd::MGMTD_REMOVE_USER, req),
                               [](const nlohmann::json&) { std::cout << "ok\n"; });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("user-list", "list users (tokens are not shown)");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::ListUsersRsp>(mgmtd::MGMTD_LIST_USERS, mgmtd::ListUsersReq()),
          [](const nlohmann::json& j) {
            std::vector<std::vector<std::string>> rows;
            for (auto& u : j["users"]) {
              rows.push_back({u["uid"].dump(), u["name"].get<std::string>(),
                              u["admin"].get<bool>() ? "yes" : "no",
                              std::to_string(u["tokens"].size())});
            }
            PrintTable({"UID", "NAME", "ADMIN", "TOKENS"}, rows);
          });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand(
        "user-set-token", "issue a new token for a user; old tokens expire after --old-token-ttl");
    cmd->add_option("uid", a->uid, "user id")->required();
    cmd->add_option("--token-ttl", a->ttl_s, "new token lifetime in seconds (0: never expires)");
    cmd->add_option("--old-token-ttl", a->old_ttl_s,
                    "seconds the old tokens stay valid (0: they stop working now)");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      mgmtd::SetUserTokenReq req;
      req.set_uid(a->uid);
      req.set_token_ttl_ms(static_cast<uint64_t>(a->ttl_s * 1000));
      req.set_old_token_ttl_ms(static_cast<uint64_t>(a->old_ttl_s * 1000));
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::SetUserTokenRsp>(mgmtd::MGMTD_SET_USER_TOKEN, req), PrintToken);
    });
  }
}

}  // namespace hf3fs::admin
