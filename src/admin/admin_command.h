// Shared plumbing of `hf3fs admin ...` commands: where mgmtd is, the token, --json, and running a
// coroutine against the primary mgmtd from the command line.
#pragma once

#include <CLI/CLI.hpp>
#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "client/mgmtd_client.h"
#include "common/cli.h"

namespace hf3fs::admin {

struct AdminOptions {
  std::string mgmtd;  // comma-separated host:port list
  std::string token;
  std::string key_file;  // the administrator's key (docs/design/0011-authentication.md)
  bool json = false;
};

// Adds --mgmtd (default $HF3FS_MGMTD or 127.0.0.1:8000), --token (default $HF3FS_TOKEN),
// --key-file (default $HF3FS_KEY_FILE) and --json to `cmd`.
void AddCommonOptions(CLI::App* cmd, AdminOptions& options);

using AdminFn = std::function<net::awaitable<Result<nlohmann::json>>(client::MgmtdClient&)>;
using PrintFn = std::function<void(const nlohmann::json&)>;

// Connects, runs `fn`, prints its JSON (--json) or `print(json)`, and returns the exit code.
// Failures print "hf3fs admin: <status>" on stderr (or {"error": ...} with --json).
int RunAdmin(const AdminOptions& options, const AdminFn& fn, const PrintFn& print);

// A protobuf message as JSON (field names as in the .proto).
nlohmann::json ToJson(const google::protobuf::Message& m);

// Calls one mgmtd method and returns its response as JSON.
template <typename Rsp, typename Req>
AdminFn CallFn(uint32_t method, Req req) {
  return [method, req](client::MgmtdClient& c) -> net::awaitable<Result<nlohmann::json>> {
    auto r = co_await c.Call<Rsp>(method, req);
    if (!r.ok()) co_return r.status();
    co_return ToJson(*r);
  };
}

// Node type names accepted on the command line (checked by CLI11 before a callback runs).
inline const std::vector<std::string> kNodeTypes = {"mgmtd", "meta", "storage", "client", "fuse"};

// Prints rows as an aligned table.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

void AddAdminCommands(CLI::App& app, CliContext& ctx);

// Per-area registration (commands/*.cc).
void AddNodeCommands(CLI::App& admin, CliContext& ctx);
void AddChainCommands(CLI::App& admin, CliContext& ctx);
void AddConfigCommands(CLI::App& admin, CliContext& ctx);
void AddUserCommands(CLI::App& admin, CliContext& ctx);
void AddPlacementCommand(CLI::App& admin, CliContext& ctx);
void AddStorageCommands(CLI::App& admin, CliContext& ctx);
void AddMetaCommands(CLI::App& admin, CliContext& ctx);  // namespace commands (meta server)

}  // namespace hf3fs::admin
